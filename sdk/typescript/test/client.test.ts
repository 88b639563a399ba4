/** Unit tests of the Client against a fake hub (a Connect gRPC server over HTTP/2 in this
 * process): the token on every call, trace reconnects included; typed results; errors. */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createSecureServer, createServer, type Http2Server, type SecureServerOptions } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

import { isDisconnect } from "../src/errors.js";
import { binary } from "./harness.js";
import { AgentryError, Client, NotFoundError, UnavailableError, hub as hubPb, types as pb } from "../src/index.js";

const TS = new Date("2026-01-02T03:04:05.678Z");

/** A fake hub recording the `authorization` header of every call. */
class FakeHub {
  readonly authorizations: (string | null)[] = [];
  private traceCalls = 0;
  private server: Http2Server | undefined;
  url = "";

  /** @param tls serve TLS with these options (else plaintext h2c) */
  constructor(private readonly tls?: SecureServerOptions) {}

  routes = (router: ConnectRouter) => {
    const self = this;
    router.service(hubPb.AgentHub, {
      spawn: (request, context) => {
        this.authorizations.push(context.requestHeader.get("authorization"));
        if (request.input?.trim() === "") throw new ConnectError("input: must not be blank", Code.InvalidArgument);
        return { agentId: "a1", runId: request.input === undefined ? "" : "r1" };
      },
      getRun: (request, context) => {
        this.authorizations.push(context.requestHeader.get("authorization"));
        if (request.runId !== "r1") throw new ConnectError(`run ${request.runId} not found`, Code.NotFound);
        const run = create(pb.RunSchema, { runId: "r1", agentId: "a1", status: pb.RunStatus.WAITING_APPROVAL, epoch: 3n });
        run.createdAt = timestampFromDate(TS);
        return { run };
      },
      async *trace(request, context) {
        self.authorizations.push(context.requestHeader.get("authorization"));
        self.traceCalls += 1;
        const event = (seq: number, type: string) =>
          create(pb.TraceEventSchema, { seq: BigInt(seq), type, runId: "r1", agentId: "a1", ts: timestampFromDate(TS), data: seq === 3 ? '{"content":"done"}' : "" });
        if (self.traceCalls === 1) {
          yield { event: event(1, "run_started") };
          yield { event: event(2, "tool_end") };
          throw new ConnectError("hub shutting down", Code.Unavailable);
        }
        for (let seq = Number(request.afterSeq) + 1; seq <= 4; seq++) {
          yield { event: event(seq, seq === 3 ? "final" : seq === 4 ? "run_finished" : "step_start") };
        }
      },
    });
  };

  async start(): Promise<void> {
    const handler = connectNodeAdapter({ routes: this.routes });
    this.server = this.tls ? createSecureServer(this.tls, handler) : createServer(handler);
    await new Promise<void>((done) => this.server!.listen(0, "127.0.0.1", done));
    const port = (this.server.address() as AddressInfo).port;
    this.url = `${this.tls ? "https" : "http"}://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    await new Promise((done) => this.server?.close(done));
  }
}

const hub = new FakeHub();

describe("Client against a fake hub", () => {
  before(() => hub.start());
  after(() => hub.stop());

  test("the token goes with every call, trace reconnects included", async () => {
    const client = new Client({ hub: hub.url, token: "s3cret" });
    try {
      hub.authorizations.length = 0;
      const spawned = await client.spawn("openai:scripted", { input: "hi", tools: ["echo"] });
      assert.deepEqual(spawned, { agentId: "a1", runId: "r1" });
      const events = [];
      const options = { runId: "r1", reconnect: { backoffStartMs: 1, backoffMaxMs: 2 } };
      for await (const event of client.trace(options)) events.push(event);
      assert.deepEqual(events.map((event) => [event.seq, event.type]), [
        [1, "run_started"],
        [2, "tool_end"],
        [3, "final"],
        [4, "run_finished"],
      ]);
      assert.deepEqual(hub.authorizations, ["Bearer s3cret", "Bearer s3cret", "Bearer s3cret"], "spawn, trace, trace again");
      const final = events[2]!;
      assert.deepEqual(final.data, { content: "done" });
      assert.deepEqual(events[0]!.data, {}, "empty data is {}");
      assert.ok(final.ts instanceof Date && final.ts.getTime() === TS.getTime());
      assert.equal(typeof final.seq, "number");
    } finally {
      client.close();
    }
  });

  test("without a token no authorization is sent; results are typed", async () => {
    const saved = process.env.AGENTRY_TOKEN;
    delete process.env.AGENTRY_TOKEN;
    const client = new Client({ hub: hub.url });
    try {
      hub.authorizations.length = 0;
      assert.deepEqual(await client.spawn("m"), { agentId: "a1", runId: null }, "no input: no run");
      const run = await client.getRun("r1");
      assert.equal(run.status, "waiting_approval");
      assert.equal(run.epoch, 3);
      assert.equal(run.createdAt?.getTime(), TS.getTime());
      assert.equal(run.updatedAt, null);
      assert.deepEqual(hub.authorizations, [null, null]);
      const raw = await client.raw.getRun({ runId: "r1" });
      assert.equal(raw.run?.status, pb.RunStatus.WAITING_APPROVAL, "the raw client shares the connection");
    } finally {
      client.close();
      if (saved !== undefined) process.env.AGENTRY_TOKEN = saved;
    }
  });

  test("hub statuses become typed errors; a closed client reconnects", async () => {
    const client = new Client({ hub: hub.url });
    try {
      const error = await client.getRun("nope").catch((caught: unknown) => caught);
      assert.ok(error instanceof NotFoundError, String(error));
      assert.equal(error.message, "NOT_FOUND: run nope not found");
      assert.ok(error.fromHub);
      client.close();
      assert.equal((await client.getRun("r1")).runId, "r1");
    } finally {
      client.close();
    }
  });

  test("an unreachable hub is UNAVAILABLE and named", async () => {
    const closed = new FakeHub();
    await closed.start();
    await closed.stop();
    const client = new Client({ hub: closed.url });
    try {
      const error = await client.getRun("r1").catch((caught: unknown) => caught);
      assert.ok(error instanceof UnavailableError, String(error));
      assert.equal(error.code, "UNAVAILABLE");
      assert.equal(error.grpcCode, 14);
      assert.match(error.message, new RegExp(`^UNAVAILABLE: hub unreachable at ${closed.url}: .*ECONNREFUSED`));
    } finally {
      client.close();
    }
  });

  test("TLS: the CA, client certificate and key from paths, PEM text or bytes", async (t) => {
    // A CA with hub and client certificates, made by `agentry certs dev`.
    const dir = mkdtempSync(join(tmpdir(), "agentry-ts-tls-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync(binary("AGENTRY_BIN", "agentry"), ["certs", "dev", "--dir", dir, "--client", "sdk"], { stdio: "pipe" });
    const fixture = (name: string) => join(dir, name);
    const secure = new FakeHub({
      cert: readFileSync(fixture("hub.pem")),
      key: readFileSync(fixture("hub-key.pem")),
      ca: readFileSync(fixture("ca.pem")),
      requestCert: true,
      rejectUnauthorized: true,
    });
    await secure.start();
    const tls = {
      ca: fixture("ca.pem"),
      cert: readFileSync(fixture("client-sdk.pem"), "utf8"),
      key: new Uint8Array(readFileSync(fixture("client-sdk-key.pem"))),
    };
    const client = new Client({ hub: secure.url, tls, token: "t" });
    const untrusting = new Client({ hub: secure.url });
    try {
      assert.equal((await client.getRun("r1")).status, "waiting_approval");
      assert.deepEqual(secure.authorizations, ["Bearer t"]);
      const error = await untrusting.getRun("r1").catch((caught: unknown) => caught);
      assert.ok(error instanceof AgentryError, String(error));
      assert.match(error.message, /TLS with the hub at https:\/\/127\.0\.0\.1:\d+ failed: .*certificate/);
      assert.ok(!isDisconnect(error), "a TLS failure needs a configuration change, not a reconnect");
    } finally {
      client.close();
      untrusting.close();
      await secure.stop();
    }
  });
});
