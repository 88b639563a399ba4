/**
 * The plain objects the client returns (runs, agents, trace events, nodes), converted from the
 * generated protobuf messages: seqs and counters as numbers, timestamps as `Date`, statuses as
 * lowercase strings, event data parsed from JSON.
 *
 * @module
 */
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

import * as pb from "./gen/agentry/v1/types_pb.js";

/** A run's lifecycle state (`RunStatus` of the API, lowercase). */
export type RunStatusName =
  | "unspecified"
  | "queued"
  | "running"
  | "completed"
  | "failed"
  | "cancelled"
  | "paused"
  | "waiting_approval"
  | "waiting_children";

/** A node's membership state (`NodeState` of the API, lowercase). */
export type NodeStateName = "unspecified" | "ready" | "cordoned" | "draining" | "dead" | "left";

/** One unit of work on an agent. */
export interface Run {
  runId: string;
  agentId: string;
  status: RunStatusName;
  /** Ownership epoch; bumped each time the run is (re)assigned to a node. */
  epoch: number;
  /** The node that owns it; empty while unplaced. */
  nodeId: string;
  /** The user input that started it. */
  input: string;
  /** Why it failed (or was cancelled); empty otherwise. */
  error: string;
  createdAt: Date | null;
  updatedAt: Date | null;
  /** Why a queued run is not placed yet; empty otherwise. */
  waitReason: string;
  /** W3C `traceparent` of the run's distributed trace; empty when unknown. */
  traceparent: string;
}

/** A long-lived conversation. */
export interface Agent {
  agentId: string;
  /** Model reference, e.g. `openai:gpt-4o-mini`. */
  model: string;
  /** Tool names it may call. */
  tools: string[];
  /** System prompt. */
  system: string;
  labels: Record<string, string>;
  /** Its parent for a sub-agent; empty for a top-level agent. */
  parentId: string;
  createdAt: Date | null;
  /** Its most recent run; null when it has none. */
  latestRun: Run | null;
  /** Seq of its latest persisted trace event. */
  lastSeq: number;
  /** The tenant it belongs to (`default` without authentication). */
  tenant: string;
  /** For an imported, read-only agent: what it was imported from; empty otherwise. */
  importedFrom: string;
  /** For a fork: the agent it was forked from, and the seq it shares the conversation to. */
  forkedFrom: string;
  forkedAtSeq: number;
}

/** One event of an agent's trace. */
export interface TraceEvent {
  /** Per-agent sequence number from 1, without gaps; 0 for ephemeral events. */
  seq: number;
  /** agentry event name: `run_started`, `model_start`, `tool_end`, `final`, `run_finished`, … */
  type: string;
  agentId: string;
  runId: string;
  /** The parent agent's id for a sub-agent's event; empty otherwise. */
  parentAgentId: string;
  /** When it happened (UTC); the Unix epoch if the hub sent no time. */
  ts: Date;
  /** The payload, parsed from JSON: `{}` when empty; `{ content }` for `final`. A JSON value
   * that is not an object gives `{ value }`, unparsable text `{}` (the hub sends neither); the
   * text is in `rawData`. */
  data: Record<string, unknown>;
  /** The payload as the hub sent it (JSON text). */
  rawData: string;
  /** W3C trace id (32 hex digits) of the run's distributed trace; empty when unknown. */
  traceId: string;
  /** Id (16 hex digits) of the span that produced the event; empty when unknown. */
  spanId: string;
}

/** A worker process that runs agents. */
export interface Node {
  nodeId: string;
  name: string;
  state: NodeStateName;
  /** Maximum concurrent runs. */
  slots: number;
  /** Runs executing now, as last reported. */
  running: number;
  labels: Record<string, string>;
  lastHeartbeat: Date | null;
}

/** What `spawn` returns. */
export interface Spawned {
  agentId: string;
  /** The first run's id; null when the agent was created without input. */
  runId: string | null;
}

/** What `send` returns. */
export interface Sent {
  /** The new run's id (empty when not accepted). */
  runId: string;
  /** False when the agent was busy and `onBusy` said `"reject"`. */
  accepted: boolean;
}

/** One fork made by `fork`, and the run it continues with. */
export interface ForkedAgent {
  agentId: string;
  runId: string;
}

/** What `fork` returns. */
export interface Forked {
  forks: ForkedAgent[];
  /** How many messages each fork copied. */
  messageCount: number;
  /** The seq of the original agent's trace the forks branch at. */
  atSeq: number;
}

/** Who the hub takes the caller for. */
export interface WhoAmI {
  /** Token name or JWT subject; `anonymous` without authentication. */
  actor: string;
  /** `admin`, `operator`, `client` or `viewer`. */
  role: string;
  /** Empty for a cluster-wide admin. */
  tenant: string;
  /** How the caller was authenticated: `none`, `token` or `jwt`. */
  method: string;
}

/** Returns the lowercase name of an enum value (protobuf-es drops the enum's prefix:
 * `RunStatus.WAITING_APPROVAL` → `waiting_approval`); `unspecified` for an unknown value. */
function enumName(enumObject: Record<number, string>, value: number): string {
  const name = enumObject[value];
  return name === undefined ? "unspecified" : name.toLowerCase();
}

/** Returns the lowercase name of a run status. */
export function runStatusName(status: pb.RunStatus): RunStatusName {
  return enumName(pb.RunStatus, status) as RunStatusName;
}

/** Returns the enum value of a lowercase run status name. */
export function runStatusValue(name: RunStatusName): pb.RunStatus {
  const value = (pb.RunStatus as unknown as Record<string, number>)[name.toUpperCase()];
  if (value === undefined) throw new TypeError(`unknown run status ${JSON.stringify(name)}`);
  return value;
}

function date(timestamp: Timestamp | undefined): Date | null {
  return timestamp === undefined ? null : timestampDate(timestamp);
}

/** Converts a run. */
export function toRun(run: pb.Run): Run {
  return {
    runId: run.runId,
    agentId: run.agentId,
    status: runStatusName(run.status),
    epoch: Number(run.epoch),
    nodeId: run.nodeId,
    input: run.input,
    error: run.error,
    createdAt: date(run.createdAt),
    updatedAt: date(run.updatedAt),
    waitReason: run.waitReason,
    traceparent: run.traceparent,
  };
}

/** Converts an agent. */
export function toAgent(agent: pb.Agent): Agent {
  return {
    agentId: agent.agentId,
    model: agent.spec?.model ?? "",
    tools: [...(agent.spec?.tools ?? [])],
    system: agent.spec?.system ?? "",
    labels: { ...agent.labels },
    parentId: agent.parentId,
    createdAt: date(agent.createdAt),
    latestRun: agent.latestRun === undefined ? null : toRun(agent.latestRun),
    lastSeq: Number(agent.lastSeq),
    tenant: agent.tenant,
    importedFrom: agent.importedFrom,
    forkedFrom: agent.forkedFrom,
    forkedAtSeq: Number(agent.forkedAtSeq),
  };
}

/** Parses an event's JSON payload: `{}` for empty or unparsable text, `{ value }` for a JSON
 * value that is not an object. */
export function parseData(text: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : { value };
  } catch {
    return {};
  }
}

/** Converts a trace event. */
export function toTraceEvent(event: pb.TraceEvent): TraceEvent {
  return {
    seq: Number(event.seq),
    type: event.type,
    agentId: event.agentId,
    runId: event.runId,
    parentAgentId: event.parentAgentId,
    ts: date(event.ts) ?? new Date(0),
    data: parseData(event.data),
    rawData: event.data,
    traceId: event.traceId,
    spanId: event.spanId,
  };
}

/** Converts a node. */
export function toNode(node: pb.Node): Node {
  return {
    nodeId: node.nodeId,
    name: node.name,
    state: enumName(pb.NodeState, node.state) as NodeStateName,
    slots: node.slots,
    running: node.running,
    labels: { ...node.labels },
    lastHeartbeat: date(node.lastHeartbeat),
  };
}
