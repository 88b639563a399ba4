/**
 * The SDK conformance scenario (`sdk/conformance/README.md`), its four steps, against a real
 * `agentry dev` started here with the scripted model.
 */
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { Client, InvalidArgumentError, NotFoundError, type ReconnectInfo, type TraceEvent } from "../src/index.js";
import { DevCluster, ScriptedModel, loadScenario, type Scenario } from "./harness.js";

/** How long one step may take (a run takes about 2 s; a restart a few). */
const STEP_TIMEOUT_MS = 120_000;
/** Faster reconnects than the default, as the Rust SDK's conformance test uses. */
const RECONNECT = { backoffStartMs: 50, backoffMaxMs: 500 };

describe("conformance scenario", () => {
  const scenario: Scenario = loadScenario();
  let model: ScriptedModel | undefined;
  let dev: DevCluster | undefined;
  let client: Client;
  let first: { agentId: string; runId: string; events: TraceEvent[] } | undefined;

  before(async () => {
    model = await ScriptedModel.start();
    dev = await DevCluster.start(model.baseUrl);
    client = new Client({ hub: dev.hubUrl });
  });

  after(async () => {
    client?.close();
    await dev?.teardown();
    await model?.stop();
  });

  /** Runs `body`, adding the cluster's output to a failure. */
  async function withLogs(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      if (error instanceof Error) error.message += `\n${dev?.log() ?? ""}`;
      throw error;
    }
  }

  async function spawnScenario(): Promise<{ agentId: string; runId: string }> {
    const spawned = await client.spawn(scenario.model, { tools: scenario.tools, input: scenario.input });
    assert.ok(spawned.agentId.length > 0, "an agent id");
    assert.ok(spawned.runId, "a run id");
    return { agentId: spawned.agentId, runId: spawned.runId };
  }

  /** Follows a run to its end, calling `onEvent` with each event as it arrives; returns the
   * events and the failures the follower reconnected after. */
  async function followRun(runId: string, onEvent: (event: TraceEvent) => Promise<void> = async () => {}) {
    const events: TraceEvent[] = [];
    const reconnects: ReconnectInfo[] = [];
    const onReconnect = (info: ReconnectInfo) => void reconnects.push(info);
    for await (const event of client.trace({ runId, reconnect: RECONNECT, onReconnect })) {
      await onEvent(event);
      events.push(event);
    }
    return { events, reconnects };
  }

  /** Reads an agent's persisted trace without following. */
  async function readTrace(agentId: string, afterSeq = 0): Promise<TraceEvent[]> {
    const events: TraceEvent[] = [];
    for await (const event of client.trace(agentId, { afterSeq, follow: false })) events.push(event);
    return events;
  }

  function checkRunTrace(events: TraceEvent[], spawned: { agentId: string; runId: string }): void {
    assert.ok(events.length > 0, "events");
    assert.deepEqual(
      events.map((event) => event.seq),
      events.map((_, index) => index + 1),
      "seqs 1, 2, 3, … without a gap",
    );
    assert.equal(events[0]?.type, "run_started");
    assert.equal(events.at(-1)?.type, "run_finished");
    const final = events.find((event) => event.type === "final");
    assert.ok(final, `a final event among ${events.map((event) => event.type).join(", ")}`);
    assert.deepEqual(final.data.content, scenario.answer);
    for (const event of events) {
      assert.equal(event.runId, spawned.runId, `event ${event.seq} has the run's id`);
      assert.equal(event.agentId, spawned.agentId, `event ${event.seq} has the agent's id`);
      assert.ok(event.ts instanceof Date && event.ts.getTime() > 0, `event ${event.seq} has a timestamp`);
    }
  }

  test("1. spawn and follow", { timeout: STEP_TIMEOUT_MS }, () =>
    withLogs(async () => {
      const spawned = await spawnScenario();
      const { events, reconnects } = await followRun(spawned.runId);
      assert.deepEqual(reconnects, [], "no reconnect without a restart");
      checkRunTrace(events, spawned);
      const run = await client.getRun(spawned.runId);
      assert.equal(run.status, "completed", JSON.stringify(run));
      assert.equal(run.runId, spawned.runId);
      first = { ...spawned, events };
    }),
  );

  test("2. trace after k", { timeout: STEP_TIMEOUT_MS }, () =>
    withLogs(async () => {
      assert.ok(first, "step 1 ran");
      const replayed = await readTrace(first.agentId, scenario.trace_after);
      assert.deepEqual(replayed, first.events.slice(scenario.trace_after));
      assert.equal(replayed[0]?.seq, scenario.trace_after + 1);
    }),
  );

  test("3. reconnect across a hub restart", { timeout: STEP_TIMEOUT_MS }, () =>
    withLogs(async () => {
      const cluster = dev!;
      const port = cluster.port;
      const spawned = await spawnScenario();
      let restarted = false;
      const { events: received, reconnects } = await followRun(spawned.runId, async (event) => {
        if (!restarted && event.type === scenario.restart_after_event) {
          await cluster.restart();
          restarted = true;
        }
      });
      assert.ok(restarted, `no ${scenario.restart_after_event} event to restart the hub on`);
      assert.equal(cluster.port, port, "restarted on the same port");
      // The stopping node handed the run back mid-run and the restarted one resumed it; the
      // follower reconnected after the hub went away, and only then.
      assert.ok(received.some((event) => event.type === "run_moved"), received.map((event) => event.type).join(" "));
      assert.ok(reconnects.length > 0, "the follower reconnected");
      for (const info of reconnects) assert.ok(info.error.code === "UNAVAILABLE" || !info.error.fromHub, info.error.message);
      checkRunTrace(received, spawned);
      const key = (event: TraceEvent) => ({ seq: event.seq, type: event.type, runId: event.runId, data: event.data });
      const persisted = await readTrace(spawned.agentId);
      assert.deepEqual(received.map(key), persisted.map(key), "the followed trace is the persisted one");
    }),
  );

  // Beyond the scenario: a stream that a restart surely breaks. An agent's trace does not end
  // with a run, so the follower must reconnect to see the run sent after the restart.
  test("extra: an agent's trace follower reconnects across a restart", { timeout: STEP_TIMEOUT_MS }, () =>
    withLogs(async () => {
      const cluster = dev!;
      const spawned = await spawnScenario();
      const events: TraceEvent[] = [];
      const reconnects: ReconnectInfo[] = [];
      const onReconnect = (info: ReconnectInfo) => void reconnects.push(info);
      let second: string | null = null;
      for await (const event of client.trace(spawned.agentId, { reconnect: RECONNECT, onReconnect })) {
        events.push(event);
        if (event.type === scenario.restart_after_event && events.filter((e) => e.type === event.type).length === 1) {
          await cluster.restart();
        }
        if (event.type === "run_finished" && event.runId === spawned.runId) {
          const sent = await client.send(spawned.agentId, scenario.input);
          assert.ok(sent.accepted && sent.runId, JSON.stringify(sent));
          second = sent.runId;
        }
        if (event.type === "run_finished" && event.runId === second) break;
      }
      assert.ok(reconnects.length > 0, "the follower reconnected");
      assert.deepEqual(
        events.map((event) => event.seq),
        events.map((_, index) => index + 1),
        "seqs 1, 2, 3, … across the restart, none missing or repeated",
      );
      assert.deepEqual(
        events.filter((event) => event.type === "run_finished").map((event) => event.runId),
        [spawned.runId, second],
      );
      const key = (event: TraceEvent) => ({ seq: event.seq, type: event.type, runId: event.runId, data: event.data });
      assert.deepEqual(events.map(key), (await readTrace(spawned.agentId)).map(key));
    }),
  );

  test("4. errors", { timeout: STEP_TIMEOUT_MS }, () =>
    withLogs(async () => {
      const unknown = randomUUID();
      const notFound = await client.getRun(unknown).then(
        () => assert.fail("getRun of an unknown run succeeded"),
        (error: unknown) => error,
      );
      assert.ok(notFound instanceof NotFoundError, String(notFound));
      assert.equal(notFound.code, "NOT_FOUND");
      assert.equal(notFound.grpcCode, 5);
      assert.ok(notFound.message.includes(unknown), `the message names the run: ${notFound.message}`);
      assert.ok(notFound.message.startsWith("NOT_FOUND: "), notFound.message);

      const blank = await client.spawn(scenario.model, { tools: scenario.tools, input: "   " }).then(
        () => assert.fail("a blank input was accepted"),
        (error: unknown) => error,
      );
      assert.ok(blank instanceof InvalidArgumentError, String(blank));
      assert.equal(blank.code, "INVALID_ARGUMENT");
      assert.equal(blank.grpcCode, 3);
      assert.match(blank.message, /input/, "the message says what is wrong");
    }),
  );
});
