/**
 * Test harness of the conformance scenario (`sdk/conformance/README.md`): the scripted model and
 * an `agentry dev` cluster as child processes, with their output kept for failure messages; and
 * a hub serving TLS with token authentication ({@link SecureHub}) for the security tests.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** The repository root (tests run from `sdk/typescript/build/test/`). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

/** How long a process may take to print the line we wait for. */
const STARTUP_DEADLINE_MS = 60_000;
/** How long `agentry dev` may take to exit after SIGTERM. */
const SHUTDOWN_DEADLINE_MS = 30_000;

/** The data of `sdk/conformance/scenario.json` the steps use. */
export interface Scenario {
  model: string;
  tools: string[];
  input: string;
  answer: string;
  trace_after: number;
  restart_after_event: string;
}

/** Path of the scenario file. */
export const SCENARIO_PATH = join(REPO, "sdk/conformance/scenario.json");

/** Reads the scenario. */
export function loadScenario(): Scenario {
  return JSON.parse(readFileSync(SCENARIO_PATH, "utf8")) as Scenario;
}

/** Returns the binary at `$envName` (else `target/debug/<name>`), failing when it is missing. */
export function binary(envName: string, name: string): string {
  const path = process.env[envName] || join(REPO, "target/debug", name);
  if (!existsSync(path)) {
    throw new Error(
      `${path} is missing (set ${envName} or build it): run \`cargo build -p agentry -p agentry-test-util --bins\``,
    );
  }
  return path;
}

/** A child process whose output lines are kept; `waitFor` resolves with the first matching one. */
class Proc {
  readonly output: string[] = [];
  private readonly listeners = new Set<(line: string) => void>();
  private readonly exited: Promise<void>;
  private exitStatus: string | null = null;

  constructor(readonly child: ChildProcess, readonly label: string) {
    // A test process that dies without its teardown must not leave the child behind.
    const killOnExit = () => child.kill("SIGKILL");
    process.once("exit", killOnExit);
    this.exited = new Promise((done) =>
      child.once("exit", (code, signal) => {
        this.exitStatus = signal === null ? `code ${code}` : `signal ${signal}`;
        process.off("exit", killOnExit);
        done();
      }),
    );
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on("line", (line) => {
        this.output.push(line);
        for (const listener of this.listeners) listener(line);
      });
    }
  }

  /** Whether it has not exited yet. */
  get running(): boolean {
    return this.exitStatus === null;
  }

  /** Resolves with the first group of the first line (already printed or new) matching
   * `pattern`; rejects when the process exits first or the deadline passes. */
  waitFor(pattern: RegExp, deadlineMs = STARTUP_DEADLINE_MS): Promise<string> {
    return new Promise((done, fail) => {
      const check = (line: string): boolean => {
        const match = pattern.exec(line);
        if (match === null) return false;
        cleanup();
        done(match[1] ?? match[0]);
        return true;
      };
      const onLine = (line: string) => void check(line);
      const timer = setTimeout(() => {
        cleanup();
        fail(new Error(`${this.label} did not print ${pattern} within ${deadlineMs} ms:\n${this.log()}`));
      }, deadlineMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(onLine);
      };
      if (this.output.some(check)) return;
      this.listeners.add(onLine);
      void this.exited.then(() => {
        if (!this.listeners.has(onLine)) return;
        cleanup();
        fail(new Error(`${this.label} exited (${this.exitStatus}) before printing ${pattern}:\n${this.log()}`));
      });
    });
  }

  /** Sends `signal` and waits for the exit; rejects after `deadlineMs`. */
  async stop(signal: NodeJS.Signals, deadlineMs: number): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`${this.label} still runs ${deadlineMs} ms after ${signal}`)), deadlineMs);
    });
    try {
      await Promise.race([this.exited, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills it (SIGKILL) if it still runs. */
  async kill(): Promise<void> {
    await this.stop("SIGKILL", 5_000).catch(() => undefined);
  }

  /** Its output so far, framed for a failure message. */
  log(): string {
    return `--- ${this.label} (${this.exitStatus ?? "running"})\n${this.output.join("\n")}\n---`;
  }
}

/** The scripted model (one serves every agent of the scenario). */
export class ScriptedModel {
  private constructor(private readonly proc: Proc, readonly baseUrl: string) {}

  /** Starts it and waits for its base URL. */
  static async start(): Promise<ScriptedModel> {
    const bin = binary("AGENTRY_SCRIPTED_MODEL_BIN", "agentry-scripted-model");
    const child = spawn(bin, ["--scenario", SCENARIO_PATH, "--until-stdin-closes"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    const proc = new Proc(child, "agentry-scripted-model");
    const url = await proc.waitFor(/^(http:\/\/127\.0\.0\.1:\d+\/v1)$/);
    return new ScriptedModel(proc, url);
  }

  /** Closes its stdin (it exits then) and kills it if it lingers. */
  async stop(): Promise<void> {
    this.proc.child.stdin?.end();
    await this.proc.stop("SIGTERM", 5_000).catch(() => this.proc.kill());
  }
}

/** A running `agentry dev` with one node, restartable on the same port and data directory. */
export class DevCluster {
  private proc: Proc | null = null;
  private readonly logs: string[] = [];
  /** The hub URL, `http://127.0.0.1:PORT`. */
  hubUrl = "";

  private constructor(
    private readonly bin: string,
    private readonly dataDir: string,
    private readonly modelUrl: string,
  ) {}

  /** Starts `agentry dev` on a free port with a new data directory. */
  static async start(modelUrl: string): Promise<DevCluster> {
    const bin = binary("AGENTRY_BIN", "agentry");
    const dataDir = mkdtempSync(join(tmpdir(), "agentry-ts-sdk-"));
    const cluster = new DevCluster(bin, dataDir, modelUrl);
    await cluster.launch("127.0.0.1:0");
    return cluster;
  }

  /** The hub's port. */
  get port(): number {
    return Number(new URL(this.hubUrl).port);
  }

  private async launch(listen: string): Promise<void> {
    // A grace of 0 s: a stopping `agentry dev` hands its running run back at once, so a restart
    // happens mid-run (sdk/conformance/README.md).
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OPENAI_BASE_URL: this.modelUrl,
      OPENAI_API_KEY: "scripted",
      AGENTRY_SHUTDOWN_GRACE: "0s",
    };
    delete env.AGENTRY_HUB;
    delete env.AGENTRY_TOKEN;
    delete env.RUST_LOG;
    const args = ["dev", "--nodes", "1", "--listen", listen, "--metrics-listen", "off", "--data-dir", this.dataDir];
    const child = spawn(this.bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    this.proc = new Proc(child, `agentry dev (${listen})`);
    this.hubUrl = await this.proc.waitFor(/hub on (http:\/\/\S+)/);
  }

  /** SIGTERM, wait for the exit, start again on the same port and data directory. */
  async restart(): Promise<void> {
    const port = this.port;
    await this.terminate();
    await this.launch(`127.0.0.1:${port}`);
  }

  /** SIGTERM and wait for the exit (30 s deadline; then SIGKILL, and an error). */
  async terminate(): Promise<void> {
    if (this.proc === null) return;
    const proc = this.proc;
    this.proc = null;
    try {
      await proc.stop("SIGTERM", SHUTDOWN_DEADLINE_MS);
    } catch (error) {
      await proc.kill();
      throw error;
    } finally {
      this.logs.push(proc.log());
    }
  }

  /** Stops it and removes the data directory. */
  async teardown(): Promise<void> {
    await this.terminate().catch(() => undefined);
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** The output of every process so far, for failure messages. */
  log(): string {
    return [...this.logs, ...(this.proc ? [this.proc.log()] : [])].join("\n");
  }
}

/** Paths of the files `agentry certs dev --client sdk-test` writes. */
export interface DevCerts {
  /** The CA that signed the hub's and the client's certificates (PEM). */
  ca: string;
  /** The client certificate `sdk-test` and its key (PEM). */
  clientCert: string;
  clientKey: string;
}

/** Writes a dev CA, a hub certificate (localhost, 127.0.0.1, ::1) and the client certificate
 * `sdk-test` into `dir` with `agentry certs dev`. */
export async function makeDevCerts(bin: string, dir: string): Promise<DevCerts> {
  const args = ["certs", "dev", "--dir", dir, "--client", "sdk-test"];
  await promisify(execFile)(bin, args, { env: hubEnv(), timeout: STARTUP_DEADLINE_MS });
  return { ca: join(dir, "ca.pem"), clientCert: join(dir, "client-sdk-test.pem"), clientKey: join(dir, "client-sdk-test-key.pem") };
}

/** The environment of a hub started here: the caller's without `AGENTRY_*` (hub URL, token, CA,
 * config file, database, NATS) and `RUST_LOG`, so flags alone configure it. */
function hubEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith("AGENTRY_") || name === "RUST_LOG") delete env[name];
  }
  return env;
}

/** Returns a random token: 43 URL-safe characters (32 random bytes). */
function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * `agentry hub serve` with TLS (the dev certificates; client certificates from the dev CA
 * accepted: mutual TLS), token authentication (an admin token and a viewer token of tenant
 * `acme`) and a SQLite database, in a temporary directory. No NATS and no node: spawned runs
 * stay queued.
 */
export class SecureHub {
  /** The hub URL, `https://127.0.0.1:PORT`. */
  readonly hubUrl: string;

  private constructor(
    private readonly proc: Proc,
    private readonly dir: string,
    /** The certificate files. */
    readonly certs: DevCerts,
    /** Token of `sdk-admin` (role admin, no tenant). */
    readonly adminToken: string,
    /** Token of `sdk-viewer` (role viewer, tenant `acme`). */
    readonly viewerToken: string,
    addr: string,
  ) {
    this.hubUrl = `https://${addr}`;
  }

  /** Makes the certificates and `auth.toml`, starts the hub on a free port and waits for its
   * `hub serving` line. */
  static async start(): Promise<SecureHub> {
    const bin = binary("AGENTRY_BIN", "agentry");
    const dir = mkdtempSync(join(tmpdir(), "agentry-ts-secure-"));
    let proc: Proc | null = null;
    try {
      const certs = await makeDevCerts(bin, join(dir, "certs"));
      const adminToken = newToken();
      const viewerToken = newToken();
      const sha256 = (token: string) => createHash("sha256").update(token).digest("hex");
      const authFile = join(dir, "auth.toml");
      writeFileSync(
        authFile,
        `[[token]]\nname = "sdk-admin"\nsha256 = "${sha256(adminToken)}"\nrole = "admin"\n\n` +
          `[[token]]\nname = "sdk-viewer"\nsha256 = "${sha256(viewerToken)}"\nrole = "viewer"\ntenant = "acme"\n`,
      );
      const args = [
        ...["hub", "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off"],
        ...["--database-url", `sqlite:${join(dir, "hub.db")}`],
        ...["--tls-cert", join(dir, "certs/hub.pem"), "--tls-key", join(dir, "certs/hub-key.pem")],
        ...["--tls-client-ca", certs.ca, "--auth-file", authFile],
      ];
      proc = new Proc(spawn(bin, args, { env: hubEnv(), stdio: ["ignore", "pipe", "pipe"] }), "agentry hub serve (TLS, tokens)");
      const addr = await proc.waitFor(/hub serving addr=Some\((127\.0\.0\.1:\d+)\)/);
      return new SecureHub(proc, dir, certs, adminToken, viewerToken, addr);
    } catch (error) {
      await proc?.kill();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The plaintext URL of the same port, `http://127.0.0.1:PORT`. */
  get plaintextUrl(): string {
    return this.hubUrl.replace(/^https:/, "http:");
  }

  /** SIGTERM and wait for the exit (30 s deadline; then SIGKILL), and remove the directory. */
  async teardown(): Promise<void> {
    try {
      await this.proc.stop("SIGTERM", SHUTDOWN_DEADLINE_MS);
    } catch (error) {
      await this.proc.kill();
      throw error;
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** The hub's output so far, for failure messages. */
  log(): string {
    return this.proc.log();
  }
}
