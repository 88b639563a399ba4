/**
 * The pure state of a followed trace: {@link TraceCursor} (resume point, duplicates, end of the
 * watched run) and {@link Reconnect} (backoff and give-up window). No I/O and no clock of their
 * own: `trace.ts` drives them over the wire, the unit tests drive them by hand.
 *
 * @module
 */

/** Event types that end a run: a trace of that run ends after one of them. */
export const RUN_ENDING_TYPES: ReadonlySet<string> = new Set(["run_finished", "run_failed", "run_cancelled"]);

/** The event type of a paused run. */
export const RUN_PAUSED = "run_paused";

/** Returns whether an event of type `type` ends its run. */
export function endsRun(type: string): boolean {
  return RUN_ENDING_TYPES.has(type);
}

/** What the cursor makes of a received event. */
export type Seen =
  /** Already yielded (a replay overlapping what was received): drop it. */
  | "duplicate"
  /** Yield it. */
  | "new"
  /** Yield it and end the stream: it ends the watched run. */
  | "last";

/** The fields of an event the cursor looks at. */
export interface CursorEvent {
  seq: number;
  type: string;
  runId: string;
}

/**
 * Where a followed trace resumes, and whether the watched run has ended or paused.
 *
 * Persisted events have a per-agent seq from 1 without gaps; a reopened stream asks for
 * `seq > lastSeq`, and anything at or below it (a replay overlap) is dropped. Ephemeral events
 * (seq 0) are never replayed, so they always pass.
 */
export class TraceCursor {
  /** The highest seq yielded, or the request's `afterSeq`. */
  lastSeq: number;
  private readonly watchedRun: string | null;
  private readonly endOnPause: boolean;
  /** The last persisted event of the watched run was `run_paused`. */
  private paused = false;

  /**
   * @param afterSeq the request's `afterSeq`
   * @param runId the request's run id (its end ends the stream); empty or null for none
   * @param endOnPause end the stream at the watched run's `run_paused` too
   */
  constructor(afterSeq: number, runId: string | null | undefined, endOnPause = false) {
    this.lastSeq = afterSeq;
    this.watchedRun = runId ? runId : null;
    this.endOnPause = endOnPause;
  }

  /** Records a received event and says whether to yield it. */
  accept(event: CursorEvent): Seen {
    if (event.seq === 0) return "new";
    if (event.seq <= this.lastSeq) return "duplicate";
    this.lastSeq = event.seq;
    if (this.watchedRun === null || event.runId !== this.watchedRun) return "new";
    this.paused = event.type === RUN_PAUSED;
    return endsRun(event.type) || (this.paused && this.endOnPause) ? "last" : "new";
  }

  /** Returns whether the watched run was paused at its last event, once: a hub may end a
   * paused run's stream cleanly, which is expected once, not twice in a row. */
  takePause(): boolean {
    const paused = this.paused;
    this.paused = false;
    return paused;
  }
}

/** How a followed trace reconnects. All durations in milliseconds. */
export interface ReconnectPolicy {
  /** How long a broken trace is retried without progress before giving up with
   * `TraceInterruptedError`; 0 disables reconnecting. Progress is an event received, or a
   * reopened stream that stayed up for at least `backoffMaxMs`. Default 60000. */
  giveUpAfterMs?: number;
  /** First delay before reopening a broken trace; doubles up to `backoffMaxMs`. Default 200. */
  backoffStartMs?: number;
  /** Longest base delay between two attempts (jitter adds up to as much again). Default 4000. */
  backoffMaxMs?: number;
}

/** The defaults of {@link ReconnectPolicy}: give up after 60 s, backoff 200 ms doubling to 4 s. */
export const DEFAULT_RECONNECT: Required<ReconnectPolicy> = {
  giveUpAfterMs: 60_000,
  backoffStartMs: 200,
  backoffMaxMs: 4_000,
};

/**
 * Backoff between attempts to reopen a broken trace (exponential, with jitter: each delay is
 * its base plus up to one more base at random), and when to give up (the window restarts on
 * progress).
 */
export class Reconnect {
  readonly giveUpAfterMs: number;
  private readonly backoffStartMs: number;
  private readonly backoffMaxMs: number;
  /** When the current run of failures began; null after progress. */
  private failingSince: number | null = null;
  /** Base of the next delay. */
  private nextBaseMs: number;

  /**
   * @param policy the policy; missing fields take {@link DEFAULT_RECONNECT}'s values
   * @param random a source of numbers in [0, 1) for the jitter (tests pass a fixed one)
   */
  constructor(policy: ReconnectPolicy = {}, private readonly random: () => number = Math.random) {
    const merged = { ...DEFAULT_RECONNECT, ...definedOnly(policy) };
    this.giveUpAfterMs = Math.max(0, merged.giveUpAfterMs);
    this.backoffStartMs = Math.max(0, merged.backoffStartMs);
    this.backoffMaxMs = Math.max(this.backoffStartMs, merged.backoffMaxMs);
    this.nextBaseMs = this.backoffStartMs;
  }

  /** Records progress (an event received): the next break starts a new window and backoff. */
  progressed(): void {
    this.failingSince = null;
    this.nextBaseMs = this.backoffStartMs;
  }

  /**
   * Records a break at `nowMs` (a monotonic clock) of a stream that was up for
   * `connectedForMs` (null: the call failed before the hub answered) and returns how long to
   * wait before the next attempt, or null to give up. The last wait is cut to end with the
   * window, so the last attempt is made at its end.
   */
  broke(nowMs: number, connectedForMs: number | null): number | null {
    // A stream that stayed up a while was a recovery, even without events (an idle or paused
    // trace): this break is a new one. One that broke at once was not.
    if (connectedForMs !== null && connectedForMs >= this.backoffMaxMs) this.progressed();
    if (this.failingSince === null) this.failingSince = nowMs;
    const remaining = this.giveUpAfterMs - (nowMs - this.failingSince);
    if (remaining <= 0) return null;
    const base = this.nextBaseMs;
    this.nextBaseMs = Math.min(base * 2, this.backoffMaxMs);
    const delay = base + this.random() * base;
    return Math.min(delay, remaining);
  }
}

/** Returns `object` without its undefined fields (so they do not override defaults). */
function definedOnly<T extends object>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
}
