/**
 * Test harness of the conformance scenario (`sdk/conformance/README.md`): the scripted model and
 * an `agentry dev` cluster as child processes, with their output kept for failure messages.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

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
