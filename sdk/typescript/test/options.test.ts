/** Unit tests of client options: hub URL and token from arguments or the environment, TLS
 * material from files, PEM text or bytes. */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { Client } from "../src/client.js";
import { DEFAULT_HUB, normalizeHub, readPem, resolveOptions } from "../src/options.js";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

describe("options", () => {
  const dir = mkdtempSync(join(tmpdir(), "agentry-ts-options-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the hub: argument, else AGENTRY_HUB, else the default", () => {
    assert.equal(resolveOptions({}, {}).hub, DEFAULT_HUB);
    assert.equal(DEFAULT_HUB, "http://127.0.0.1:7700");
    assert.equal(resolveOptions({}, { AGENTRY_HUB: "http://hub.example:7000" }).hub, "http://hub.example:7000");
    assert.equal(resolveOptions({ hub: "http://arg:1" }, { AGENTRY_HUB: "http://env:2" }).hub, "http://arg:1");
    assert.equal(resolveOptions({}, { AGENTRY_HUB: "  " }).hub, DEFAULT_HUB, "a blank variable is unset");
  });

  test("the Client honours AGENTRY_HUB", () => {
    const saved = process.env.AGENTRY_HUB;
    process.env.AGENTRY_HUB = "https://from-env.example:7443/";
    try {
      const client = new Client();
      assert.equal(client.hub, "https://from-env.example:7443");
      assert.equal(new Client({ hub: "127.0.0.1:9" }).hub, "http://127.0.0.1:9");
    } finally {
      if (saved === undefined) delete process.env.AGENTRY_HUB;
      else process.env.AGENTRY_HUB = saved;
    }
  });

  test("URLs: http is plaintext, https is TLS, a bare host:port is http", () => {
    assert.equal(normalizeHub("127.0.0.1:7700"), "http://127.0.0.1:7700");
    assert.equal(normalizeHub("http://h:1/"), "http://h:1");
    assert.ok(!resolveOptions({ hub: "http://h:1" }, {}).secure);
    assert.ok(resolveOptions({ hub: "https://h:1" }, {}).secure);
    assert.throws(() => normalizeHub("ftp://h:1"), /scheme must be http or https/);
    assert.throws(() => normalizeHub("http://"), TypeError);
  });

  test("the token: argument, else AGENTRY_TOKEN, else none; refused when unsendable", () => {
    assert.equal(resolveOptions({}, {}).token, null);
    assert.equal(resolveOptions({}, { AGENTRY_TOKEN: "env-token" }).token, "env-token");
    assert.equal(resolveOptions({ token: "arg" }, { AGENTRY_TOKEN: "env" }).token, "arg");
    assert.throws(() => resolveOptions({ token: "" }, {}), /invalid token: it is empty/);
    assert.throws(() => resolveOptions({ token: "has space" }, {}), (error: Error) => !error.message.includes("has space"));
  });

  test("TLS material from a path, PEM text or bytes", () => {
    const path = join(dir, "ca.pem");
    writeFileSync(path, PEM);
    assert.equal(readPem(path, "tls.ca").toString(), PEM);
    assert.equal(readPem(PEM, "tls.ca").toString(), PEM);
    assert.equal(readPem(new TextEncoder().encode(PEM), "tls.ca").toString(), PEM);
    assert.throws(() => readPem(join(dir, "missing.pem"), "tls.ca"), /reading tls.ca from .*missing\.pem/);

    const resolved = resolveOptions({ hub: "https://h:1", tls: { ca: path, cert: PEM, key: Buffer.from("k") } }, {});
    assert.equal(String(resolved.nodeOptions.ca), PEM);
    assert.equal(String(resolved.nodeOptions.cert), PEM);
    assert.equal(String(resolved.nodeOptions.key), "k");
    assert.deepEqual(resolveOptions({ hub: "https://h:1" }, {}).nodeOptions, {}, "system roots");
  });

  test("TLS files from AGENTRY_CA, AGENTRY_CLIENT_CERT and AGENTRY_CLIENT_KEY when no tls option is given", () => {
    const path = join(dir, "env-ca.pem");
    writeFileSync(path, PEM);
    const env = { AGENTRY_CA: path, AGENTRY_CLIENT_CERT: path, AGENTRY_CLIENT_KEY: path };
    const fromEnv = resolveOptions({ hub: "https://h:1" }, env).nodeOptions;
    assert.equal(String(fromEnv.ca), PEM);
    assert.equal(String(fromEnv.cert), PEM);
    assert.equal(String(fromEnv.key), PEM);
    const other = PEM.replace("BEGIN CERTIFICATE-----\n", "BEGIN CERTIFICATE-----\nother\n");
    const explicit = resolveOptions({ hub: "https://h:1", tls: { ca: other } }, env).nodeOptions;
    assert.equal(String(explicit.ca), other, "the option wins over the variables");
    assert.equal(explicit.cert, undefined);
    const plaintext = resolveOptions({ hub: "http://h:1" }, env).nodeOptions;
    assert.equal(plaintext.ca, undefined, "the variables apply to https:// hubs only");
    assert.deepEqual(resolveOptions({ hub: "https://h:1" }, { AGENTRY_CA: " " }).nodeOptions, {}, "blank is unset");
  });

  test("TLS options are refused with a plaintext hub or a cert without its key", () => {
    assert.throws(() => resolveOptions({ hub: "http://h:1", tls: { ca: PEM } }, {}), /need an https:\/\/ hub URL/);
    assert.throws(() => resolveOptions({ hub: "https://h:1", tls: { cert: PEM } }, {}), /go together/);
  });
});
