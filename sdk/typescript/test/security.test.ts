/**
 * The client against a real hub serving TLS (mutual TLS allowed) with token authentication
 * ({@link SecureHub}): tokens and roles, the CA and client certificate as paths, PEM text or
 * bytes, and the failures of a wrong setup — no CA, another CA, a plaintext URL — which must be
 * clear {@link TlsError}s, fast and not retried.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { after, afterEach, before, describe, test } from "node:test";

import {
  AgentryError,
  Client,
  PermissionDeniedError,
  TlsError,
  UnauthenticatedError,
  UnavailableError,
  type ClientOptions,
  type ReconnectInfo,
} from "../src/index.js";
import { SecureHub, binary, makeDevCerts, type DevCerts } from "./harness.js";

/** A test's own limit: a hang fails it instead of the whole run. */
const TEST_TIMEOUT_MS = 60_000;
/** How fast a failed handshake or a plaintext client must fail: not after the follower's 60 s
 * give-up window. */
const PROMPT_MS = 10_000;

describe("TLS and tokens against a real hub", { timeout: 180_000 }, () => {
  let hub: SecureHub | undefined;
  /** Certificates of another dev CA (same names, other keys). */
  let foreign: DevCerts;
  let foreignDir = "";
  const clients: Client[] = [];

  before(async () => {
    hub = await SecureHub.start();
    foreignDir = mkdtempSync(join(tmpdir(), "agentry-ts-foreign-ca-"));
    foreign = await makeDevCerts(binary("AGENTRY_BIN", "agentry"), foreignDir);
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });

  after(async () => {
    if (foreignDir !== "") rmSync(foreignDir, { recursive: true, force: true });
    await hub?.teardown();
  });

  /** The running hub (set by `before`). */
  function secure(): SecureHub {
    assert.ok(hub, "the hub started");
    return hub;
  }

  /** A client of the hub (its URL unless `options.hub` says otherwise), closed after the test. */
  function connect(options: ClientOptions = {}): Client {
    const client = new Client({ hub: secure().hubUrl, ...options });
    clients.push(client);
    return client;
  }

  /** `test` with a timeout, adding the hub's output to a failure. */
  function check(name: string, body: () => Promise<void>): void {
    test(name, { timeout: TEST_TIMEOUT_MS }, async () => {
      try {
        await body();
      } catch (error) {
        if (error instanceof Error) error.message += `\n${hub?.log() ?? ""}`;
        throw error;
      }
    });
  }

  /** Runs `call`, which must fail: returns its error and how long it took (ms). */
  async function failure(call: () => Promise<unknown>): Promise<{ error: unknown; elapsedMs: number }> {
    const start = performance.now();
    try {
      await call();
    } catch (error) {
      return { error, elapsedMs: performance.now() - start };
    }
    assert.fail("the call succeeded");
  }

  /** Follows an agent's trace with the default reconnect policy (60 s give-up), which must fail
   * at once: returns the error and the reconnects it made (none expected). */
  async function followFailure(client: Client) {
    const reconnects: ReconnectInfo[] = [];
    const onReconnect = (info: ReconnectInfo) => void reconnects.push(info);
    const failed = await failure(async () => {
      for await (const event of client.trace("01a23e4b-9071-77b0-a831-a4b24f1e30a0", { onReconnect })) {
        assert.fail(`unexpected event ${event.type}`);
      }
    });
    return { ...failed, reconnects };
  }

  /** Asserts a prompt TlsError (code UNAVAILABLE, made on this side) whose message matches. */
  function assertTlsError(failed: { error: unknown; elapsedMs: number }, url: string, reason: RegExp): void {
    const { error, elapsedMs } = failed;
    assert.ok(error instanceof TlsError, `a TlsError, not ${String(error)}`);
    assert.ok(error instanceof UnavailableError && error instanceof AgentryError);
    assert.equal(error.code, "UNAVAILABLE");
    assert.equal(error.grpcCode, 14);
    assert.equal(error.fromHub, false);
    assert.ok(error.message.startsWith(`UNAVAILABLE: TLS with the hub at ${url} failed: `), error.message);
    assert.match(error.message, reason);
    assert.ok(elapsedMs < PROMPT_MS, `failed after ${Math.round(elapsedMs)} ms`);
  }

  check("the admin token, the CA as a path: whoAmI", async () => {
    const client = connect({ token: secure().adminToken, tls: { ca: secure().certs.ca } });
    assert.deepEqual(await client.whoAmI(), { actor: "sdk-admin", role: "admin", tenant: "", method: "token" });
  });

  check("a bare Client takes the hub, token, CA and client certificate from the CLI's variables", async () => {
    const env: Record<string, string> = {
      AGENTRY_HUB: secure().hubUrl,
      AGENTRY_TOKEN: secure().adminToken,
      AGENTRY_CA: secure().certs.ca,
      AGENTRY_CLIENT_CERT: secure().certs.clientCert,
      AGENTRY_CLIENT_KEY: secure().certs.clientKey,
    };
    const saved = Object.keys(env).map((name) => [name, process.env[name]] as const);
    Object.assign(process.env, env);
    try {
      const client = new Client();
      clients.push(client);
      assert.deepEqual(await client.whoAmI(), { actor: "sdk-admin", role: "admin", tenant: "", method: "token" });
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  check("the admin spawns, lists, reads the queued run and its trace", async () => {
    const client = connect({ token: secure().adminToken, tls: { ca: secure().certs.ca } });
    const spawned = await client.spawn("openai:none", { input: "hi" });
    assert.match(spawned.agentId, /^[0-9a-f-]{36}$/);
    assert.ok(spawned.runId !== null && /^[0-9a-f-]{36}$/.test(spawned.runId), `a run id: ${spawned.runId}`);
    const agents = await client.listAgents();
    const listed = agents.find((agent) => agent.agentId === spawned.agentId);
    assert.ok(listed, "the agent is listed");
    assert.equal(listed.model, "openai:none");
    const run = await client.getRun(spawned.runId);
    assert.equal(run.runId, spawned.runId);
    assert.equal(run.agentId, spawned.agentId);
    assert.equal(run.status, "queued", "no node: the run stays queued");
    const events = [];
    for await (const event of client.trace(spawned.agentId, { follow: false })) events.push(event);
    assert.ok(events.every((event) => event.agentId === spawned.agentId), "only the agent's events");
  });

  check("the viewer token: whoAmI says viewer of acme; spawn is refused; other tenants are hidden", async () => {
    const viewer = connect({ token: secure().viewerToken, tls: { ca: secure().certs.ca } });
    assert.deepEqual(await viewer.whoAmI(), { actor: "sdk-viewer", role: "viewer", tenant: "acme", method: "token" });
    const { error } = await failure(() => viewer.spawn("openai:none", { input: "hi" }));
    assert.ok(error instanceof PermissionDeniedError, `PermissionDeniedError, not ${String(error)}`);
    assert.equal(error.code, "PERMISSION_DENIED");
    assert.equal(error.grpcCode, 7);
    assert.ok(error.fromHub);
    assert.equal(error.message, "PERMISSION_DENIED: role viewer may not call Spawn");

    const admin = connect({ token: secure().adminToken, tls: { ca: secure().certs.ca } });
    const { agentId } = await admin.spawn("openai:none");
    const seen = await viewer.listAgents();
    assert.ok(!seen.some((agent) => agent.agentId === agentId), "the admin's agent (no tenant) is not acme's");
  });

  check("no token or an unknown one: UNAUTHENTICATED, unary and streaming calls alike", async () => {
    const tls = { ca: secure().certs.ca };
    const none = await failure(() => connect({ tls }).listAgents());
    assert.ok(none.error instanceof UnauthenticatedError, `UnauthenticatedError, not ${String(none.error)}`);
    assert.equal(none.error.code, "UNAUTHENTICATED");
    assert.ok(none.error.fromHub);
    assert.match(none.error.message, /^UNAUTHENTICATED: this hub requires a token/);

    const token = "unknown-" + "x".repeat(40);
    const unknown = await failure(() => connect({ token, tls }).listAgents());
    assert.ok(unknown.error instanceof UnauthenticatedError, `UnauthenticatedError, not ${String(unknown.error)}`);
    assert.match(unknown.error.message, /^UNAUTHENTICATED: the bearer token is not one of the tokens/);
    assert.ok(!unknown.error.message.includes(token), "the message does not show the token");

    const trace = await followFailure(connect({ tls }));
    assert.ok(trace.error instanceof UnauthenticatedError, `UnauthenticatedError, not ${String(trace.error)}`);
    assert.deepEqual(trace.reconnects, [], "a refusal is not reconnected after");
  });

  check("the CA as PEM text or bytes; mutual TLS with the client certificate as paths or PEM", async () => {
    const { ca, clientCert, clientKey } = secure().certs;
    const token = secure().adminToken;
    const admin = { actor: "sdk-admin", role: "admin", tenant: "", method: "token" };
    const text = readFileSync(ca, "utf8");
    assert.deepEqual(await connect({ token, tls: { ca: text } }).whoAmI(), admin);
    assert.deepEqual(await connect({ token, tls: { ca: new Uint8Array(readFileSync(ca)) } }).whoAmI(), admin);
    assert.deepEqual(await connect({ token, tls: { ca, cert: clientCert, key: clientKey } }).whoAmI(), admin);
    const pem = { ca: text, cert: readFileSync(clientCert, "utf8"), key: readFileSync(clientKey) };
    assert.deepEqual(await connect({ token, tls: pem }).whoAmI(), admin);
  });

  check("no CA (Node's roots): a prompt TlsError that names the certificate, not retried", async () => {
    const url = secure().hubUrl;
    const client = connect({ token: secure().adminToken });
    const unary = await failure(() => client.whoAmI());
    assertTlsError(unary, url, /certificate is not signed by a CA this client trusts.*\(unable to verify/);

    const followed = await followFailure(client);
    assertTlsError(followed, url, /certificate is not signed by a CA this client trusts/);
    assert.deepEqual(followed.reconnects, [], "a failed handshake is not reconnected after");
  });

  check("another CA, another host name, a client certificate of another CA: TlsErrors", async () => {
    const url = secure().hubUrl;
    const token = secure().adminToken;
    const { ca } = secure().certs;
    const otherCa = await failure(() => connect({ token, tls: { ca: foreign.ca } }).whoAmI());
    assertTlsError(otherCa, url, /certificate is not signed by a CA this client trusts/);

    const name = await failure(() => connect({ token, tls: { ca, serverName: "example.com" } }).whoAmI());
    assertTlsError(name, url, /does not name the host of the URL.*example\.com/);

    const tls = { ca, cert: foreign.clientCert, key: foreign.clientKey };
    const refused = await failure(() => connect({ token, tls }).whoAmI());
    assertTlsError(refused, url, /the hub refused this client's certificate/);
  });

  check("a plaintext http:// URL of the TLS hub: a prompt TlsError saying to use https, not retried", async () => {
    const url = secure().plaintextUrl;
    const client = connect({ hub: url, token: secure().adminToken });
    const unary = await failure(() => client.whoAmI());
    assertTlsError(unary, url, /did not answer with plaintext HTTP\/2.*use an https:\/\/ URL/);

    const followed = await followFailure(client);
    assertTlsError(followed, url, /use an https:\/\/ URL/);
    assert.deepEqual(followed.reconnects, [], "a TLS hub is not reconnected to in plaintext");
  });
});
