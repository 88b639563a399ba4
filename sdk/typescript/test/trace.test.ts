/** Unit tests of the trace follower over a fake wire: reconnects, dedupe, run end, give-up. */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

import { NotFoundError, TraceInterruptedError, UnavailableError, toAgentryError } from "../src/errors.js";
import { TraceEventSchema } from "../src/gen/agentry/v1/types_pb.js";
import { followTrace, type OpenTrace, type TraceCall, type TraceOptions } from "../src/trace.js";
import type { TraceEvent } from "../src/types.js";

/** One attempt of the fake wire: events to send, then an error or a clean end. */
interface Attempt {
  events: [number, string][];
  error?: ConnectError;
  /** Whether the hub accepts the call (response headers) before sending. Default true. */
  accepted?: boolean;
}

const unavailable = () => new ConnectError("hub shutting down", Code.Unavailable, new Headers({ "grpc-status": "14" }));
const notFound = () => new ConnectError("run r1 not found", Code.NotFound, new Headers({ "grpc-status": "5" }));

/** Runs a follower over `attempts` (the last one repeats) with a fake clock; returns what it
 * yielded, the error it threw, the calls made and the waits. */
async function run(attempts: Attempt[], options: TraceOptions = { runId: "r1" }, agentId = "") {
  const calls: TraceCall[] = [];
  const waits: number[] = [];
  let clock = 0;
  const open: OpenTrace = (call, { onHeader }) => {
    calls.push(call);
    const attempt = attempts[Math.min(calls.length - 1, attempts.length - 1)]!;
    return (async function* () {
      if (attempt.accepted ?? true) onHeader();
      for (const [seq, type] of attempt.events) {
        yield { event: create(TraceEventSchema, { seq: BigInt(seq), type, runId: "r1", data: `{"n":${seq}}` }) };
      }
      if (attempt.error) throw attempt.error;
    })();
  };
  const events: TraceEvent[] = [];
  let error: unknown = null;
  try {
    const deps = {
      toError: (e: unknown) => toAgentryError(e, "http://hub"),
      now: () => clock,
      sleep: async (ms: number) => void (waits.push(ms), (clock += ms)),
      random: () => 0,
    };
    for await (const event of followTrace(open, agentId, options, deps)) events.push(event);
  } catch (caught) {
    error = caught;
  }
  return { events, error, calls, waits, seqs: events.map((event) => event.seq) };
}

describe("followTrace", () => {
  test("a broken stream is reopened after the last seq, and replays are dropped", async () => {
    const result = await run([
      { events: [[1, "run_started"], [2, "step_start"]], error: unavailable() },
      { events: [[1, "run_started"], [2, "step_start"], [3, "final"], [4, "run_finished"], [5, "run_started"]] },
    ]);
    assert.equal(result.error, null);
    assert.deepEqual(result.seqs, [1, 2, 3, 4], "ends after the run's run_finished");
    assert.deepEqual(result.calls.map((call) => call.afterSeq), [0n, 2n]);
    assert.ok(result.calls.every((call) => call.runId === "r1" && call.follow));
    assert.deepEqual(result.waits, [200]);
    assert.deepEqual(result.events[2]?.data, { n: 3 });
  });

  test("a following stream that ends cleanly before the run's end is a disconnect", async () => {
    const result = await run([{ events: [[1, "run_started"]] }, { events: [[2, "run_failed"]] }]);
    assert.equal(result.error, null);
    assert.deepEqual(result.seqs, [1, 2]);
    assert.equal(result.calls.length, 2);
  });

  test("a paused run's stream may end once without a reconnect wait", async () => {
    const result = await run([{ events: [[1, "run_paused"]] }, { events: [[2, "run_resumed"], [3, "run_cancelled"]] }]);
    assert.deepEqual(result.seqs, [1, 2, 3]);
    assert.deepEqual(result.waits, []);
    const ending = await run([{ events: [[1, "run_paused"]] }], { runId: "r1", endOnPause: true });
    assert.deepEqual(ending.seqs, [1]);
    assert.equal(ending.calls.length, 1);
  });

  test("refusals are thrown at once", async () => {
    const result = await run([{ events: [], error: notFound(), accepted: false }]);
    assert.ok(result.error instanceof NotFoundError, String(result.error));
    assert.equal(result.calls.length, 1);
  });

  test("without follow: one replay, and a broken stream is an error", async () => {
    const clean = await run([{ events: [[4, "tool_end"], [5, "final"]] }], { afterSeq: 3, follow: false }, "a1");
    assert.deepEqual(clean.seqs, [4, 5]);
    assert.equal(clean.calls[0]?.agentId, "a1");
    assert.equal(clean.calls[0]?.afterSeq, 3n);
    assert.ok(!clean.calls[0]?.follow);
    const broken = await run([{ events: [[1, "run_started"]], error: unavailable() }], { runId: "r1", follow: false });
    assert.ok(broken.error instanceof UnavailableError);
    assert.equal(broken.calls.length, 1);
  });

  test("gives up after the window without progress, with the last seq", async () => {
    const policy = { giveUpAfterMs: 1_000, backoffStartMs: 100, backoffMaxMs: 400 };
    const result = await run(
      [{ events: [[1, "run_started"], [2, "step_start"]], error: unavailable() }, { events: [], error: unavailable() }],
      { runId: "r1", reconnect: policy },
    );
    assert.ok(result.error instanceof TraceInterruptedError, String(result.error));
    assert.equal(result.error.lastSeq, 2);
    assert.equal(result.error.code, "UNAVAILABLE");
    assert.deepEqual(result.waits, [100, 200, 400, 300], "the last wait ends with the window");
    assert.ok(result.calls.slice(1).every((call) => call.afterSeq === 2n));
  });

  test("reconnect: false never reconnects", async () => {
    const result = await run([{ events: [], error: unavailable() }], { runId: "r1", reconnect: false });
    assert.ok(result.error instanceof TraceInterruptedError);
    assert.equal(result.calls.length, 1);
  });

  test("breaking out of the iteration closes the stream", async () => {
    let aborted = false;
    const open: OpenTrace = (_call, { signal }) =>
      (async function* () {
        signal.addEventListener("abort", () => (aborted = true));
        for (let seq = 1; ; seq++) yield { event: create(TraceEventSchema, { seq: BigInt(seq), type: "token" }) };
      })();
    for await (const event of followTrace(open, "a1", {}, { toError: (e) => toAgentryError(e, "h") })) {
      if (event.seq === 3) break;
    }
    assert.ok(aborted, "the call's signal aborted");
  });

  test("an aborted signal stops the trace with its reason", async () => {
    const controller = new AbortController();
    const reason = new Error("stop");
    const open: OpenTrace = () =>
      (async function* () {
        yield { event: create(TraceEventSchema, { seq: 1n, type: "run_started" }) };
        controller.abort(reason);
        throw new ConnectError("aborted", Code.Canceled);
      })();
    const seen: number[] = [];
    await assert.rejects(async () => {
      const deps = { toError: (e: unknown) => toAgentryError(e, "h") };
      for await (const event of followTrace(open, "a1", { signal: controller.signal }, deps)) seen.push(event.seq);
    }, reason);
    assert.deepEqual(seen, [1]);
  });

  test("bad arguments are refused", async () => {
    const result = await run([{ events: [] }], {}, "");
    assert.ok(result.error instanceof TypeError);
    const negative = await run([{ events: [] }], { runId: "r1", afterSeq: -1 });
    assert.ok(negative.error instanceof TypeError);
  });
});
