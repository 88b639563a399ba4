/**
 * `Client.trace`: an async iterable of trace events that, when following, survives hub
 * restarts. A broken stream (UNAVAILABLE, a reset or closed connection, or a following stream
 * that ended without the watched run ending) is reopened with `afterSeq` = the last seq
 * yielded, after a backoff ({@link Reconnect}); replayed events at or below it are dropped
 * ({@link TraceCursor}), so nothing is skipped or yielded twice. Refusals are thrown at once.
 *
 * @module
 */
import { setTimeout as sleepMs } from "node:timers/promises";

import { Reconnect, TraceCursor, type ReconnectPolicy } from "./cursor.js";
import { AgentryError, TraceInterruptedError, UnavailableError, isDisconnect } from "./errors.js";
import type * as pb from "./gen/agentry/v1/types_pb.js";
import { toTraceEvent, type TraceEvent } from "./types.js";

/** What `Client.trace` reads. */
export interface TraceOptions {
  /** Only this run's events; the stream then ends after the run's `run_finished`,
   * `run_failed` or `run_cancelled` (the agent id may be omitted). */
  runId?: string;
  /** Only events with a greater seq (default 0: from the start). */
  afterSeq?: number;
  /** Keep the stream open for new events as they are committed (default true). Without it the
   * persisted events are replayed once, and a broken stream is an error. */
  follow?: boolean;
  /** Also yield ephemeral events (seq 0, e.g. `token`), never replayed (default false). */
  includeEphemeral?: boolean;
  /** How a followed trace reconnects (default: give up after 60 s without progress, backoff
   * 200 ms doubling to 4 s, with jitter); `false` never reconnects. */
  reconnect?: ReconnectPolicy | false;
  /** With `runId`: end after the run's `run_paused` too, instead of waiting for it to be
   * resumed and end (default false). */
  endOnPause?: boolean;
  /** Aborts the trace: the iteration then throws the signal's reason. */
  signal?: AbortSignal;
  /** Called when a followed trace broke and is about to be reopened (e.g. to log it). */
  onReconnect?: (info: ReconnectInfo) => void;
}

/** What {@link TraceOptions.onReconnect} is told. */
export interface ReconnectInfo {
  /** Why the stream broke. */
  error: AgentryError;
  /** The seq the trace resumes after. */
  lastSeq: number;
  /** How long it waits before reopening, in milliseconds. */
  delayMs: number;
}

/** The events of a trace: iterate with `for await`; `break` closes the stream. */
export type TraceStream = AsyncGenerator<TraceEvent, void, undefined>;

/** The fields of a `Trace` call. */
export interface TraceCall {
  agentId: string;
  runId: string;
  afterSeq: bigint;
  includeEphemeral: boolean;
  follow: boolean;
}

/** Makes one `Trace` call; `onHeader` is called when the hub accepted it (response headers). */
export type OpenTrace = (
  call: TraceCall,
  options: { signal: AbortSignal; onHeader: () => void },
) => AsyncIterable<{ event?: pb.TraceEvent }>;

/** What the follower uses besides the wire; tests replace them. */
export interface TraceDeps {
  /** Converts whatever a call threw. */
  toError: (error: unknown) => AgentryError;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
  /** Waits `ms` milliseconds, or rejects when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Numbers in [0, 1) for the backoff jitter. */
  random?: () => number;
}

/** Returns the events of `agentId`'s (or `options.runId`'s) trace; see {@link TraceOptions}. */
export async function* followTrace(
  open: OpenTrace,
  agentId: string,
  options: TraceOptions,
  deps: TraceDeps,
): TraceStream {
  const now = deps.now ?? (() => performance.now());
  const sleep = deps.sleep ?? ((ms: number, signal?: AbortSignal) => sleepMs(ms, undefined, { signal }));
  const follow = options.follow ?? true;
  const runId = options.runId ?? "";
  const afterSeq = options.afterSeq ?? 0;
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
    throw new TypeError(`afterSeq must be a non-negative integer, not ${afterSeq}`);
  }
  if (agentId === "" && runId === "") throw new TypeError("trace needs an agent id or a runId");
  const cursor = new TraceCursor(afterSeq, runId, options.endOnPause ?? false);
  const reconnect = new Reconnect(options.reconnect === false ? { giveUpAfterMs: 0 } : options.reconnect, deps.random);
  const signal = options.signal;

  for (;;) {
    signal?.throwIfAborted();
    const call: TraceCall = {
      agentId,
      runId,
      afterSeq: BigInt(cursor.lastSeq),
      includeEphemeral: options.includeEphemeral ?? false,
      follow,
    };
    const controller = new AbortController();
    const forward = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", forward, { once: true });
    let openedAt: number | null = null;
    let failure: AgentryError | null = null;
    try {
      const responses = open(call, { signal: controller.signal, onHeader: () => (openedAt ??= now()) });
      for await (const response of responses) {
        if (response.event === undefined) continue;
        const event = toTraceEvent(response.event);
        const seen = cursor.accept(event);
        if (seen === "duplicate") continue;
        reconnect.progressed();
        yield event;
        if (seen === "last") return;
      }
    } catch (error) {
      signal?.throwIfAborted();
      failure = deps.toError(error);
    } finally {
      signal?.removeEventListener("abort", forward);
      controller.abort();
    }
    const connectedFor = openedAt === null ? null : now() - openedAt;
    if (failure === null) {
      if (!follow) return;
      // A hub may end a run's stream at `run_paused`; the run goes on once resumed.
      if (cursor.takePause()) continue;
      failure = new UnavailableError({ grpcCode: 14, hubMessage: "the trace stream ended unexpectedly" });
    }
    if (!follow || !isDisconnect(failure)) throw failure;
    const delay = reconnect.broke(now(), connectedFor);
    if (delay === null) throw new TraceInterruptedError(cursor.lastSeq, reconnect.giveUpAfterMs, failure);
    options.onReconnect?.({ error: failure, lastSeq: cursor.lastSeq, delayMs: delay });
    await sleep(delay, signal);
  }
}
