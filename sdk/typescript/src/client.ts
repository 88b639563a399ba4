/**
 * {@link Client}: the typed client of the hub's `AgentHub` API over gRPC (HTTP/2).
 *
 * @module
 */
import { createClient, type Client as ConnectClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import { AgentryError, toAgentryError } from "./errors.js";
import { AgentHub, OnBusy } from "./gen/agentry/v1/hub_pb.js";
import { MAX_MESSAGE_BYTES, resolveOptions, type ClientOptions } from "./options.js";
import { followTrace, type OpenTrace, type TraceOptions, type TraceStream } from "./trace.js";
import {
  runStatusValue,
  toAgent,
  toNode,
  toRun,
  type Agent,
  type Forked,
  type Node,
  type Run,
  type RunStatusName,
  type Sent,
  type Spawned,
  type WhoAmI,
} from "./types.js";

/** The generated Connect client of `AgentHub`, for calls the typed layer does not cover. */
export type RawClient = ConnectClient<typeof AgentHub>;

/** What `spawn` takes besides the model. */
export interface SpawnOptions {
  /** First user input: starts a run. Absent: an idle agent. Blank: INVALID_ARGUMENT. */
  input?: string;
  /** Builtin tool names the agent may call (`echo`, `bash`, …). */
  tools?: string[];
  /** System prompt. */
  system?: string;
  labels?: Record<string, string>;
  /** Maximum model calls per run (0 or absent: the hub default). */
  maxIterations?: number;
  /** Sampling temperature, 0–2 (absent: the model server's default). */
  temperature?: number;
  /** Role template to start from; the fields given here override it. */
  template?: string;
  /** Values of the template's `{{var}}` placeholders. */
  vars?: Record<string, string>;
  /** The parent agent, for a sub-agent. */
  parentId?: string;
  /** Retrying a spawn with the same key returns the first result. */
  idempotencyKey?: string;
  /** Token budget (input + output) of the agent's model calls; absent: unlimited. */
  maxTokens?: number;
  /** USD budget at the configured model prices; absent: unlimited. */
  maxCostUsd?: number;
  /** Labels a node must have to run the agent. */
  nodeSelector?: Record<string, string>;
  /** `auto` (default), `none`, `required` or one of the tools' names. */
  toolChoice?: string;
}

/** What `send` does when the agent already has an active run. */
export type OnBusyName = "enqueue" | "reject" | "interrupt";

/** What `fork` takes besides the agent. Give at most one of `atSeq` and `atMessageIndex`
 * (neither: after the agent's last commit). */
export interface ForkOptions {
  /** Branch after the commit that wrote this seq of the agent's trace. */
  atSeq?: number;
  /** Branch after the first this-many messages of the conversation. */
  atMessageIndex?: number;
  /** How many forks (default 1, at most 16). */
  count?: number;
  /** Model of the forks (default: the agent's). */
  model?: string;
  /** New user input the forks continue with (default: they continue the interrupted run). */
  input?: string;
  labels?: Record<string, string>;
}

const ON_BUSY: Record<OnBusyName, OnBusy> = {
  enqueue: OnBusy.ENQUEUE,
  reject: OnBusy.REJECT,
  interrupt: OnBusy.INTERRUPT,
};

/**
 * A connection to a hub. Calls are made over one HTTP/2 connection, opened on the first call
 * and reopened after it breaks; every call carries the token. Methods throw
 * {@link AgentryError} subclasses (`NotFoundError`, `InvalidArgumentError`, …).
 *
 * ```ts
 * const client = new Client({ hub: "http://127.0.0.1:7700" });
 * const { runId } = await client.spawn("openai:gpt-4o-mini", { input: "hello" });
 * for await (const ev of client.trace({ runId: runId! })) console.log(ev.seq, ev.type, ev.data);
 * client.close();
 * ```
 */
export class Client {
  /** The hub URL, with its scheme. */
  readonly hub: string;
  /** The generated client, sharing this client's connection and token. */
  readonly raw: RawClient;
  private readonly session: Http2SessionManager;

  /** @see {@link ClientOptions} for the defaults (`AGENTRY_HUB`, `AGENTRY_TOKEN`) and errors. */
  constructor(options: ClientOptions = {}) {
    const resolved = resolveOptions(options);
    this.hub = resolved.hub;
    this.session = new Http2SessionManager(resolved.hub, {}, resolved.nodeOptions);
    const interceptors: Interceptor[] = [];
    const token = resolved.token;
    if (token !== null) {
      interceptors.push((next) => (request) => {
        request.header.set("authorization", `Bearer ${token}`);
        return next(request);
      });
    }
    const transport = createGrpcTransport({
      baseUrl: resolved.hub,
      sessionManager: this.session,
      interceptors,
      readMaxBytes: MAX_MESSAGE_BYTES,
      writeMaxBytes: MAX_MESSAGE_BYTES,
    });
    this.raw = createClient(AgentHub, transport);
  }

  /** Creates an agent running `model` and, with `options.input`, its first run. */
  async spawn(model: string, options: SpawnOptions = {}): Promise<Spawned> {
    const response = await this.call(() =>
      this.raw.spawn({
        spec: {
          model,
          tools: options.tools ?? [],
          system: options.system ?? "",
          maxIterations: options.maxIterations ?? 0,
          temperature: options.temperature,
          nodeSelector: options.nodeSelector ?? {},
          toolChoice: options.toolChoice ?? "",
        },
        input: options.input,
        labels: options.labels ?? {},
        parentId: options.parentId ?? "",
        idempotencyKey: options.idempotencyKey ?? "",
        maxTokens: options.maxTokens === undefined ? undefined : BigInt(options.maxTokens),
        maxCostUsd: options.maxCostUsd,
        template: options.template ?? "",
        vars: options.vars ?? {},
      }),
    );
    return { agentId: response.agentId, runId: response.runId === "" ? null : response.runId };
  }

  /** Sends user input to an agent, creating a run; `accepted` is false when the agent was busy
   * and `onBusy` was `"reject"` (default: the hub's, which enqueues). */
  async send(
    agentId: string,
    input: string,
    options: { onBusy?: OnBusyName; idempotencyKey?: string } = {},
  ): Promise<Sent> {
    const onBusy = options.onBusy === undefined ? OnBusy.UNSPECIFIED : ON_BUSY[options.onBusy];
    const response = await this.call(() =>
      this.raw.sendMessage({ agentId, input, onBusy, idempotencyKey: options.idempotencyKey ?? "" }),
    );
    return { runId: response.runId, accepted: response.accepted };
  }

  /** Returns one agent with its latest run. NOT_FOUND for an unknown one. */
  async getAgent(agentId: string): Promise<Agent> {
    const response = await this.call(() => this.raw.getAgent({ agentId }));
    return toAgent(required(response.agent, "GetAgentResponse.agent"));
  }

  /** Lists agents with their latest runs, newest first: at most `limit` (default: the hub's
   * maximum, 1000), only those whose latest run has one of `statuses`, only those the search
   * `query` finds (an id prefix, a model or label value it contains, or `key=value`). */
  async listAgents(options: { limit?: number; statuses?: RunStatusName[]; query?: string } = {}): Promise<Agent[]> {
    const statuses = (options.statuses ?? []).map(runStatusValue);
    const response = await this.call(() =>
      this.raw.listAgents({ limit: options.limit ?? 0, statuses, query: options.query ?? "" }),
    );
    return response.agents.map(toAgent);
  }

  /** Returns one run. NOT_FOUND for an unknown one. */
  async getRun(runId: string): Promise<Run> {
    const response = await this.call(() => this.raw.getRun({ runId }));
    return toRun(required(response.run, "GetRunResponse.run"));
  }

  /** Cancels a queued, running or paused run for good; returns it, now cancelled.
   * FAILED_PRECONDITION for a run that already ended. */
  async cancel(runId: string, reason = ""): Promise<Run> {
    const response = await this.call(() => this.raw.cancelRun({ runId, reason }));
    return toRun(required(response.run, "CancelRunResponse.run"));
  }

  /** Pauses a queued or running run until `resume` or `cancel`; returns it, now paused. */
  async pause(runId: string, reason = ""): Promise<Run> {
    const response = await this.call(() => this.raw.pauseRun({ runId, reason }));
    return toRun(required(response.run, "PauseRunResponse.run"));
  }

  /** Queues a paused run again, optionally raising its agent's budget first by `addTokens`
   * tokens and `addCostUsd` USD; returns it, now queued. */
  async resume(runId: string, options: { addTokens?: number; addCostUsd?: number } = {}): Promise<Run> {
    const addTokens = BigInt(options.addTokens ?? 0);
    const response = await this.call(() => this.raw.resumeRun({ runId, addTokens, addCostUsd: options.addCostUsd ?? 0 }));
    return toRun(required(response.run, "ResumeRunResponse.run"));
  }

  /** Approves or denies the tool call a WAITING_APPROVAL run waits for; returns the run,
   * queued again. FAILED_PRECONDITION when the run does not wait for that call. */
  async approve(runId: string, toolCallId: string, approved: boolean, reason = ""): Promise<Run> {
    const response = await this.call(() => this.raw.approve({ runId, toolCallId, approved, reason }));
    return toRun(required(response.run, "ApproveResponse.run"));
  }

  /** Forks an agent: `count` new agents sharing its conversation up to a point, each with a
   * run continuing from there. INVALID_ARGUMENT for a point outside the conversation. */
  async fork(agentId: string, options: ForkOptions = {}): Promise<Forked> {
    if (options.atSeq !== undefined && options.atMessageIndex !== undefined) {
      throw new TypeError("fork takes atSeq or atMessageIndex, not both");
    }
    const point =
      options.atSeq !== undefined
        ? { case: "atSeq" as const, value: BigInt(options.atSeq) }
        : options.atMessageIndex !== undefined
          ? { case: "atMessageIndex" as const, value: BigInt(options.atMessageIndex) }
          : { case: undefined };
    const response = await this.call(() =>
      this.raw.fork({
        agentId,
        point,
        count: options.count ?? 0,
        model: options.model ?? "",
        input: options.input ?? "",
        labels: options.labels ?? {},
      }),
    );
    return {
      forks: response.forks.map((fork) => ({ agentId: fork.agentId, runId: fork.runId })),
      messageCount: Number(response.messageCount),
      atSeq: Number(response.atSeq),
    };
  }

  /** Lists the nodes known to the hub. */
  async listNodes(): Promise<Node[]> {
    const response = await this.call(() => this.raw.listNodes({}));
    return response.nodes.map(toNode);
  }

  /** Returns who the hub takes this client for. */
  async whoAmI(): Promise<WhoAmI> {
    const response = await this.call(() => this.raw.whoAmI({}));
    return { actor: response.actor, role: response.role, tenant: response.tenant, method: response.method };
  }

  /**
   * Returns an agent's trace events (or a run's, with `options.runId`) after
   * `options.afterSeq`; by default it follows new events, reconnects across hub restarts, and,
   * for a run, ends after the run's `run_finished`, `run_failed` or `run_cancelled`. Nothing is
   * called until the iteration starts; errors are thrown from it ({@link AgentryError}, or
   * `TraceInterruptedError` after the give-up window). See {@link TraceOptions}.
   *
   * `trace(agentId, options?)` or `trace({ runId, ... })`.
   */
  trace(agentIdOrOptions?: string | TraceOptions, options: TraceOptions = {}): TraceStream {
    const agentId = typeof agentIdOrOptions === "string" ? agentIdOrOptions : "";
    const traceOptions = typeof agentIdOrOptions === "object" ? agentIdOrOptions : options;
    const open: OpenTrace = (call, callOptions) => this.raw.trace(call, callOptions);
    return followTrace(open, agentId, traceOptions, { toError: (error) => toAgentryError(error, this.hub) });
  }

  /** Closes the connection (and any open trace stream). The client can still be used: the
   * next call connects again. */
  close(): void {
    this.session.abort();
  }

  /** Runs a unary call, converting its failure. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toAgentryError(error, this.hub);
    }
  }
}

/** Returns `value`, or throws INTERNAL for a reply that lacks a field the hub always sets. */
function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new AgentryError({ grpcCode: 13, hubMessage: `the hub's reply lacks ${field}` });
  return value;
}
