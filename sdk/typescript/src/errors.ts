/**
 * Errors of calls to the hub: {@link AgentryError} and one subclass per gRPC status code an
 * application handles, plus {@link TraceInterruptedError} for a followed trace that could not be
 * reopened.
 *
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** The gRPC status code names, as the gRPC specification spells them. */
export type StatusCodeName =
  | "OK"
  | "CANCELLED"
  | "UNKNOWN"
  | "INVALID_ARGUMENT"
  | "DEADLINE_EXCEEDED"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "PERMISSION_DENIED"
  | "RESOURCE_EXHAUSTED"
  | "FAILED_PRECONDITION"
  | "ABORTED"
  | "OUT_OF_RANGE"
  | "UNIMPLEMENTED"
  | "INTERNAL"
  | "UNAVAILABLE"
  | "DATA_LOSS"
  | "UNAUTHENTICATED";

/** Code names indexed by their gRPC numbers (0 = OK … 16 = UNAUTHENTICATED). */
const CODE_NAMES: readonly StatusCodeName[] = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** Returns the name of a gRPC status code number, e.g. `5` → `"NOT_FOUND"`. */
export function codeName(grpcCode: number): StatusCodeName {
  return CODE_NAMES[grpcCode] ?? "UNKNOWN";
}

/** What {@link AgentryError}'s constructor takes. */
export interface AgentryErrorInit {
  /** gRPC status code number (`5` for NOT_FOUND). */
  grpcCode: number;
  /** The hub's message (or, for a failure on this side, what went wrong), without the code. */
  hubMessage: string;
  /** Whether the hub answered with this status (false: it was made on this side, e.g. a
   * connection failure). */
  fromHub?: boolean;
  /** The hub's response headers and trailers. */
  metadata?: Headers;
  /** Error details the hub attached (`google.rpc.Status` details), undecoded. */
  details?: ConnectError["details"];
  /** The underlying error (usually a {@link ConnectError}). */
  cause?: unknown;
}

/**
 * A failed call to the hub. `message` is `"<CODE>: <hub message>"`, e.g.
 * `"NOT_FOUND: run 0190… not found"`; `code` is the code name and `grpcCode` its number.
 * Subclasses exist for the codes applications usually handle: test with `instanceof`
 * ({@link NotFoundError}, …) or compare `code`.
 */
export class AgentryError extends Error {
  /** gRPC status code name, e.g. `"NOT_FOUND"`. */
  readonly code: StatusCodeName;
  /** gRPC status code number, e.g. `5`. */
  readonly grpcCode: number;
  /** The hub's message alone (without the code name). */
  readonly hubMessage: string;
  /** Whether the hub sent this status; false for failures on this side (connection refused,
   * reset, a message too large to send). */
  readonly fromHub: boolean;
  /** The hub's response headers and trailers (empty for failures on this side). */
  readonly metadata: Headers;
  /** Error details attached by the hub, undecoded (see `ConnectError.findDetails`). */
  readonly details: ConnectError["details"];

  constructor(init: AgentryErrorInit) {
    const code = codeName(init.grpcCode);
    super(`${code}: ${init.hubMessage}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = code;
    this.grpcCode = init.grpcCode;
    this.hubMessage = init.hubMessage;
    this.fromHub = init.fromHub ?? false;
    this.metadata = init.metadata ?? new Headers();
    this.details = init.details ?? [];
  }
}

/** NOT_FOUND: an unknown agent, run or node. */
export class NotFoundError extends AgentryError {}
/** INVALID_ARGUMENT: the request is malformed; the message names the field. */
export class InvalidArgumentError extends AgentryError {}
/** FAILED_PRECONDITION: the request does not fit the current state (e.g. cancelling an ended
 * run, sending to an imported agent). */
export class FailedPreconditionError extends AgentryError {}
/** ALREADY_EXISTS: something with that identity exists. */
export class AlreadyExistsError extends AgentryError {}
/** PERMISSION_DENIED: the caller's role may not make this call. */
export class PermissionDeniedError extends AgentryError {}
/** UNAUTHENTICATED: no token, or an unknown, revoked or expired one. */
export class UnauthenticatedError extends AgentryError {}
/** RESOURCE_EXHAUSTED: a limit was hit (rate limit, open streams, tenant quota, message size). */
export class ResourceExhaustedError extends AgentryError {}
/** UNAVAILABLE: the hub is unreachable, shutting down or restarting; retrying later may work
 * (except for a {@link TlsError}). */
export class UnavailableError extends AgentryError {}
/**
 * UNAVAILABLE made on this side because TLS with the hub failed: its certificate is not signed
 * by a trusted CA (give `tls.ca`), does not name the host, has expired; the hub refused the
 * client certificate; or one side does not speak TLS (an `http://` URL of a TLS hub, or the
 * reverse). The message says which, with Node.js's words. Retrying does not help (a followed
 * trace does not reconnect after it): the configuration must change.
 */
export class TlsError extends UnavailableError {}
/** DEADLINE_EXCEEDED: the call's deadline passed. */
export class DeadlineExceededError extends AgentryError {}

const SUBCLASSES: Partial<Record<number, new (init: AgentryErrorInit) => AgentryError>> = {
  [Code.NotFound]: NotFoundError,
  [Code.InvalidArgument]: InvalidArgumentError,
  [Code.FailedPrecondition]: FailedPreconditionError,
  [Code.AlreadyExists]: AlreadyExistsError,
  [Code.PermissionDenied]: PermissionDeniedError,
  [Code.Unauthenticated]: UnauthenticatedError,
  [Code.ResourceExhausted]: ResourceExhaustedError,
  [Code.Unavailable]: UnavailableError,
  [Code.DeadlineExceeded]: DeadlineExceededError,
};

/** Returns the {@link AgentryError} subclass instance for a status. */
export function errorForStatus(init: AgentryErrorInit): AgentryError {
  const Subclass = SUBCLASSES[init.grpcCode] ?? AgentryError;
  return new Subclass(init);
}

/**
 * A followed trace broke and could not be reopened before the give-up window passed. Resume it
 * with `afterSeq: error.lastSeq`. `code` is that of the last failure (`cause`).
 */
export class TraceInterruptedError extends AgentryError {
  /** The last `seq` received (or the request's `afterSeq` when none was). */
  readonly lastSeq: number;
  /** The give-up window that passed without progress, in milliseconds. */
  readonly gaveUpAfterMs: number;

  constructor(lastSeq: number, gaveUpAfterMs: number, last: AgentryError) {
    super({
      grpcCode: last.grpcCode,
      hubMessage:
        `trace interrupted after seq ${lastSeq}; gave up reconnecting after ` +
        `${gaveUpAfterMs / 1000}s (last failure: ${last.message})`,
      fromHub: last.fromHub,
      metadata: last.metadata,
      details: last.details,
      cause: last,
    });
    this.lastSeq = lastSeq;
    this.gaveUpAfterMs = gaveUpAfterMs;
  }
}

/** Whether a ConnectError carries a status the hub sent (in its headers or trailers). */
function sentByHub(error: ConnectError): boolean {
  return error.metadata.has("grpc-status");
}

/**
 * Converts what a call threw into an {@link AgentryError}: a status the hub sent keeps its code
 * and message; a failure on this side (connection refused, reset, closed) names the hub `url`.
 * An `AgentryError` is returned as is.
 */
export function toAgentryError(error: unknown, url: string): AgentryError {
  if (error instanceof AgentryError) return error;
  const connect = ConnectError.from(error);
  const fromHub = sentByHub(connect);
  const tls = fromHub ? null : tlsCause(connect);
  if (tls !== null) {
    return new TlsError({
      grpcCode: Code.Unavailable,
      hubMessage: `TLS with the hub at ${url} failed: ${describeTls(tls)}`,
      metadata: connect.metadata,
      cause: connect,
    });
  }
  let hubMessage = connect.rawMessage;
  if (!fromHub && connect.code === Code.Unavailable) {
    hubMessage = `hub unreachable at ${url}: ${hubMessage}`;
  }
  return errorForStatus({
    grpcCode: connect.code,
    hubMessage,
    fromHub,
    metadata: connect.metadata,
    details: connect.details,
    cause: connect,
  });
}

/** What a plaintext (`http://`) connection fails with when the hub answered with something
 * that is not HTTP/2 and closed the connection: a TLS alert, from a hub that serves TLS. */
export const PLAINTEXT_TO_TLS = "ERR_AGENTRY_PLAINTEXT_TO_TLS";

/** OpenSSL's certificate verification codes that do not say CERT, CRL, SSL or TLS. */
const X509_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "HOSTNAME_MISMATCH",
]);

/** Returns the Node.js TLS failure (an untrusted or expired certificate, a wrong host name, a
 * failed handshake, a plaintext connection answered with TLS) in `error`'s `cause` chain, or
 * null. */
function tlsCause(error: unknown): { code: string; message: string } | null {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; depth++) {
    const errno = (current as { code?: unknown }).code;
    if (typeof errno === "string" && (/CERT|CRL|SSL|TLS/.test(errno) || X509_CODES.has(errno))) {
      return { code: errno, message: current.message };
    }
    current = current.cause;
  }
  return null;
}

/** What a TLS failure means for a client of the hub, by Node.js error code (or a pattern of it),
 * as the Rust SDK says it. */
const TLS_MEANINGS: [RegExp, string][] = [
  [
    /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_UNTRUSTED)$/,
    "the hub's certificate is not signed by a CA this client trusts (give that CA as tls.ca)",
  ],
  [/^CERT_SIGNATURE_FAILURE$/, "the hub's certificate is not signed by the CA this client trusts but by another of the same name (were the certificates generated again?)"],
  [/^(ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)$/, "the hub's certificate does not name the host of the URL (connect by a name the certificate lists, or set tls.serverName)"],
  [/^CERT_HAS_EXPIRED$/, "the hub's certificate has expired"],
  [/^CERT_NOT_YET_VALID$/, "the hub's certificate is not valid yet (check the clocks)"],
  [/ALERT_(CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE)$/, "the hub requires a client certificate (mutual TLS: give tls.cert and tls.key)"],
  [/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|DECRYPT_ERROR)$/, "the hub refused this client's certificate (is it signed by the hub's client CA?)"],
  [/^ERR_SSL_(WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST)$/, "the hub did not answer with TLS; it probably serves plaintext: use an http:// URL"],
];

/** Returns one line on a TLS failure: its meaning when known, and Node.js's message. */
function describeTls(tls: { code: string; message: string }): string {
  if (tls.code === PLAINTEXT_TO_TLS) return tls.message;
  const meaning = TLS_MEANINGS.find(([pattern]) => pattern.test(tls.code))?.[1];
  const message = tls.message.trim();
  return meaning === undefined ? `${message} (${tls.code})` : `${meaning} (${message})`;
}

/** Node.js error codes of a broken connection or stream. */
const TRANSPORT_ERRNO = /^(ECONNRESET|ECONNREFUSED|ECONNABORTED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ERR_HTTP2_.*|ERR_STREAM_.*)$/;

/** Whether an error (or one in its `cause` chain) is a Node.js transport failure or an HTTP/2
 * stream reset. */
function hasTransportCause(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; depth++) {
    const errno = (current as { code?: unknown }).code;
    if (typeof errno === "string" && TRANSPORT_ERRNO.test(errno)) return true;
    if (/^(\[\w+\] )?http\/2 stream closed|^(\[\w+\] )?protocol error: missing (output )?trailer/.test(current.message)) return true;
    current = current.cause;
  }
  return false;
}

/**
 * Whether `error` means the connection broke or the hub is going away (worth reconnecting a
 * followed trace) rather than that the hub refused the request: UNAVAILABLE, or a transport
 * failure on this side (a reset or closed connection or stream). Refusals (NOT_FOUND,
 * PERMISSION_DENIED, …) and TLS failures ({@link TlsError}: the configuration is wrong) are not.
 */
export function isDisconnect(error: AgentryError): boolean {
  if (error instanceof TraceInterruptedError || error instanceof TlsError) return false;
  if (error.grpcCode === Code.Unavailable) return true;
  if (error.fromHub) return false;
  const local = [Code.Aborted, Code.Canceled, Code.Internal, Code.Unknown] as number[];
  return local.includes(error.grpcCode) && hasTransportCause(error.cause);
}
