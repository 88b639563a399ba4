/** Unit tests of the trace cursor (resume point, duplicates, run end) and the reconnect backoff. */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";

import { Reconnect, TraceCursor, endsRun, type ReconnectPolicy } from "../src/cursor.js";

function event(seq: number, type: string, runId: string) {
  return { seq, type, runId };
}

describe("TraceCursor", () => {
  test("replayed events are dropped and the resume point advances", () => {
    const cursor = new TraceCursor(2, "r1");
    assert.equal(cursor.accept(event(2, "step_start", "r1")), "duplicate", "at afterSeq");
    assert.equal(cursor.accept(event(3, "step_start", "r1")), "new");
    assert.equal(cursor.accept(event(4, "model_start", "r1")), "new");
    assert.equal(cursor.lastSeq, 4);
    // A hub replaying from an older point: only what was not yielded passes.
    assert.equal(cursor.accept(event(3, "step_start", "r1")), "duplicate");
    assert.equal(cursor.accept(event(4, "model_start", "r1")), "duplicate");
    assert.equal(cursor.accept(event(5, "usage", "r1")), "new");
    assert.equal(cursor.lastSeq, 5);
  });

  test("ephemeral events pass without moving the resume point", () => {
    const cursor = new TraceCursor(0, "r1");
    assert.equal(cursor.accept(event(1, "run_started", "r1")), "new");
    assert.equal(cursor.accept(event(0, "token", "r1")), "new");
    assert.equal(cursor.accept(event(0, "token", "r1")), "new");
    assert.equal(cursor.lastSeq, 1);
  });

  test("the watched run ends the trace when it finishes, fails or is cancelled", () => {
    for (const type of ["run_finished", "run_failed", "run_cancelled"]) {
      assert.ok(endsRun(type), type);
      const cursor = new TraceCursor(0, "r1");
      assert.equal(cursor.accept(event(1, type, "r2")), "new", `another run's ${type}`);
      assert.equal(cursor.accept(event(2, type, "r1")), "last", type);
    }
    const agentTrace = new TraceCursor(0, "");
    assert.equal(agentTrace.accept(event(1, "run_finished", "r1")), "new", "an agent's trace goes on");
    assert.ok(!endsRun("run_paused") && !endsRun("final"));
  });

  test("a paused run is followed until it ends, unless asked otherwise", () => {
    const cursor = new TraceCursor(0, "r1");
    assert.equal(cursor.accept(event(1, "run_paused", "r1")), "new");
    assert.ok(cursor.takePause(), "a clean end after run_paused is expected once");
    assert.ok(!cursor.takePause());
    assert.equal(cursor.accept(event(2, "run_resumed", "r1")), "new");
    assert.ok(!cursor.takePause());
    assert.equal(cursor.accept(event(3, "run_finished", "r1")), "last");

    const ending = new TraceCursor(0, "r1", true);
    assert.equal(ending.accept(event(1, "run_paused", "r1")), "last");
  });
});

describe("Reconnect", () => {
  const policy = (giveUpAfterMs: number, backoffStartMs: number, backoffMaxMs: number): ReconnectPolicy => ({
    giveUpAfterMs,
    backoffStartMs,
    backoffMaxMs,
  });
  /** Jitter at its extremes: none, and a full extra base. */
  const noJitter = () => 0;
  const fullJitter = () => 0.999999;

  test("backoff doubles up to the maximum, and the last wait ends with the window", () => {
    const reconnect = new Reconnect(policy(1_000, 100, 400), noJitter);
    assert.equal(reconnect.broke(0, null), 100);
    assert.equal(reconnect.broke(100, null), 200);
    assert.equal(reconnect.broke(300, null), 400);
    assert.equal(reconnect.broke(700, null), 300, "cut to the window (400 at most)");
    assert.equal(reconnect.broke(1_000, null), null, "gave up");
  });

  test("jitter adds at most one more base", () => {
    const reconnect = new Reconnect(policy(60_000, 100, 400), fullJitter);
    const delays = [0, 1, 2, 3].map((i) => reconnect.broke(i, null) ?? -1);
    const bases = [100, 200, 400, 400];
    delays.forEach((delay, i) => assert.ok(delay >= bases[i]! && delay < 2 * bases[i]!, `${delay} for ${bases[i]}`));
    const random = new Reconnect(policy(60_000, 200, 4_000));
    for (let i = 0; i < 20; i++) {
      const delay = random.broke(i, null) ?? -1;
      assert.ok(delay >= 200 && delay < 8_000, `${delay}`);
    }
  });

  test("the defaults: 200 ms doubling to 4 s, give up after 60 s", () => {
    const reconnect = new Reconnect({}, noJitter);
    const delays = Array.from({ length: 7 }, (_, i) => reconnect.broke(i, null));
    assert.deepEqual(delays, [200, 400, 800, 1_600, 3_200, 4_000, 4_000]);
    assert.equal(reconnect.giveUpAfterMs, 60_000);
    assert.ok(reconnect.broke(59_999, null) !== null);
    assert.equal(reconnect.broke(60_000, null), null);
  });

  test("progress restarts the window and the backoff", () => {
    const reconnect = new Reconnect(policy(1_000, 100, 400), noJitter);
    reconnect.broke(0, null);
    reconnect.broke(100, null);
    reconnect.progressed();
    assert.equal(reconnect.broke(5_000, null), 100);
    assert.ok(reconnect.broke(5_900, null) !== null, "the window restarted at 5 s");
  });

  test("only a stream that stayed up counts as a recovery", () => {
    const broken = new Reconnect(policy(1_000, 100, 400), noJitter);
    broken.broke(0, null);
    // Accepted, then broken at once (a hub shutting down): still failing since 0.
    assert.ok(broken.broke(600, 10) !== null);
    assert.equal(broken.broke(1_000, 10), null);

    const idle = new Reconnect(policy(1_000, 100, 400), noJitter);
    idle.broke(0, null);
    // Up for an hour without events (a paused run), then the hub restarted: a new break.
    assert.equal(idle.broke(3_600_000, 3_600_000), 100);
  });

  test("a zero window never reconnects", () => {
    assert.equal(new Reconnect({ giveUpAfterMs: 0 }).broke(0, null), null);
  });
});
