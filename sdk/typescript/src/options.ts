/**
 * Client options: the hub URL, the bearer token and TLS material, resolved from arguments and
 * the environment (`AGENTRY_HUB`, `AGENTRY_TOKEN`).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import type { SecureClientSessionOptions, SessionOptions } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";

import { PLAINTEXT_TO_TLS } from "./errors.js";

/** The hub a client talks to when neither an argument nor `AGENTRY_HUB` names one. */
export const DEFAULT_HUB = "http://127.0.0.1:7700";

/** Largest gRPC message sent or accepted, in bytes (8 MiB): the hub's limit. */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

/**
 * PEM material: a file path, PEM text (a string containing `-----BEGIN`), or PEM bytes.
 */
export type PemSource = string | Uint8Array;

/** TLS settings for an `https://` hub. Every field is optional. */
export interface TlsOptions {
  /** CA certificate(s) to trust instead of Node's default roots (`NODE_EXTRA_CA_CERTS` adds to
   * those). */
  ca?: PemSource;
  /** Client certificate chain, for a hub that asks for one (mutual TLS); needs `key`. */
  cert?: PemSource;
  /** Private key of `cert`. */
  key?: PemSource;
  /** Host name to verify the hub's certificate against, when it differs from the URL's. */
  serverName?: string;
}

/** What `new Client(options)` takes. */
export interface ClientOptions {
  /** Hub URL, `http://host:port` (plaintext) or `https://host:port` (TLS); a bare
   * `host:port` means `http://`. Default: `AGENTRY_HUB`, else `http://127.0.0.1:7700`. */
  hub?: string;
  /** Bearer token sent as `authorization: Bearer <token>` with every call (trace reconnects
   * included). Default: `AGENTRY_TOKEN`, else none. */
  token?: string;
  /** TLS settings; only used with an `https://` hub. Default: the files named by
   * `AGENTRY_CA`, `AGENTRY_CLIENT_CERT` and `AGENTRY_CLIENT_KEY` (the CLI's variables), else
   * Node's default roots and no client certificate. */
  tls?: TlsOptions;
}

/** Options after defaults, environment and files were applied. */
export interface ResolvedOptions {
  /** The hub URL with its scheme, without a trailing slash. */
  hub: string;
  /** Whether the connection uses TLS (`https://`). */
  secure: boolean;
  /** The token, or null. */
  token: string | null;
  /** Options for `http2.connect`: TLS material for `https://`; for `http://`, a
   * `createConnection` that recognises a TLS hub ({@link plaintextConnection}). */
  nodeOptions: SecureClientSessionOptions;
}

/**
 * Resolves `options` against `env` (default `process.env`): hub and token from the arguments,
 * else `AGENTRY_HUB` / `AGENTRY_TOKEN` / `AGENTRY_CA`, `AGENTRY_CLIENT_CERT`, `AGENTRY_CLIENT_KEY`;
 * TLS files read.
 *
 * @throws TypeError for a URL that is not `http://` or `https://`, a token that cannot be sent
 *   in a header (empty, not visible ASCII), TLS options with an `http://` hub, or a `cert`
 *   without `key` (or the reverse)
 * @throws Error when a TLS file cannot be read (the message names the option and path)
 */
export function resolveOptions(options: ClientOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  const hub = normalizeHub(options.hub ?? nonEmpty(env.AGENTRY_HUB) ?? DEFAULT_HUB);
  const secure = hub.startsWith("https://");
  const token = options.token ?? nonEmpty(env.AGENTRY_TOKEN) ?? null;
  if (token !== null) checkToken(token);
  const nodeOptions: SecureClientSessionOptions = secure ? {} : { createConnection: plaintextConnection };
  const tls = options.tls ?? (secure ? tlsFromEnv(env) : undefined);
  if (tls !== undefined && hasAny(tls)) {
    if (!secure) throw new TypeError(`TLS options need an https:// hub URL, not ${hub}`);
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      throw new TypeError("tls.cert and tls.key go together: give both or neither");
    }
    if (tls.ca !== undefined) nodeOptions.ca = readPem(tls.ca, "tls.ca");
    if (tls.cert !== undefined) nodeOptions.cert = readPem(tls.cert, "tls.cert");
    if (tls.key !== undefined) nodeOptions.key = readPem(tls.key, "tls.key");
    if (tls.serverName !== undefined) nodeOptions.servername = tls.serverName;
  }
  return { hub, secure, token, nodeOptions };
}

/** The TLS files named by the CLI's variables `AGENTRY_CA`, `AGENTRY_CLIENT_CERT` and
 * `AGENTRY_CLIENT_KEY` (empty values count as unset); used for an `https://` hub when no `tls`
 * option is given. */
export function tlsFromEnv(env: NodeJS.ProcessEnv): TlsOptions {
  const tls: TlsOptions = {};
  const ca = nonEmpty(env.AGENTRY_CA);
  const cert = nonEmpty(env.AGENTRY_CLIENT_CERT);
  const key = nonEmpty(env.AGENTRY_CLIENT_KEY);
  if (ca !== undefined) tls.ca = ca;
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  return tls;
}

/** Returns `url` with a scheme (`http://` for a bare `host:port`) and no trailing slash. */
export function normalizeHub(url: string): string {
  const trimmed = url.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new TypeError(`invalid hub URL ${JSON.stringify(url)}: not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`invalid hub URL ${JSON.stringify(url)}: the scheme must be http or https`);
  }
  if (parsed.hostname === "") throw new TypeError(`invalid hub URL ${JSON.stringify(url)}: no host`);
  return withScheme.replace(/\/+$/, "");
}

/** Fewer bytes than an HTTP/2 frame header: an HTTP/2 server's first frame (SETTINGS) is longer. */
const FRAME_HEADER_BYTES = 9;

/**
 * Opens the TCP connection of an `http://` hub (as `http2.connect` would). When the hub ends or
 * resets it after answering with fewer bytes than an HTTP/2 frame header — what a TLS hub does
 * with a plaintext client: a 7-byte alert — the connection fails with an error of code
 * {@link PLAINTEXT_TO_TLS} (the cause of a reset's error), which makes the call's error a
 * `TlsError`, instead of a bare cancelled or aborted stream.
 */
export function plaintextConnection(authority: URL, options: SessionOptions): Socket {
  const host = authority.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost";
  const port = Number(authority.port) || 80;
  const socket = netConnect({ ...(options as object), host, port });
  const notHttp2 = (): Error | null => {
    const bytes = socket.bytesRead;
    if (bytes === 0 || bytes >= FRAME_HEADER_BYTES) return null;
    const message =
      "the hub did not answer with plaintext HTTP/2 (it closed the connection after a " +
      `${bytes}-byte reply); it probably serves TLS: use an https:// URL`;
    return Object.assign(new Error(message), { code: PLAINTEXT_TO_TLS });
  };
  socket.once("end", () => {
    const error = notHttp2();
    if (error !== null) socket.destroy(error);
  });
  // Registered before http2's own listener, so the error it passes on carries the cause.
  socket.on("error", (error: Error & { code?: unknown }) => {
    if (error.code === PLAINTEXT_TO_TLS || error.cause !== undefined) return;
    const cause = notHttp2();
    if (cause !== null) Object.defineProperty(error, "cause", { value: cause, configurable: true, writable: true });
  });
  return socket;
}

/** Returns PEM bytes from a path, PEM text or bytes; `what` names the option in errors. */
export function readPem(source: PemSource, what: string): Buffer {
  if (typeof source !== "string") return Buffer.from(source);
  if (source.includes("-----BEGIN")) return Buffer.from(source, "utf8");
  try {
    return readFileSync(source);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`reading ${what} from ${source}: ${reason}`, { cause: error });
  }
}

/** Refuses a token that cannot be sent as a header value; the message never shows the token. */
function checkToken(token: string): void {
  if (token.length === 0) throw new TypeError("invalid token: it is empty");
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new TypeError("invalid token: it must be visible ASCII without spaces");
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function hasAny(tls: TlsOptions): boolean {
  return Object.values(tls).some((value) => value !== undefined);
}
