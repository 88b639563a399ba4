/**
 * `@agentry/cloud`: the TypeScript client of Agentry Cloud's hub.
 *
 * ```ts
 * import { Client } from "@agentry/cloud";
 *
 * const client = new Client(); // AGENTRY_HUB / AGENTRY_TOKEN, else http://127.0.0.1:7700
 * const { runId } = await client.spawn("openai:gpt-4o-mini", { input: "hello" });
 * for await (const ev of client.trace({ runId: runId! })) console.log(ev.seq, ev.type, ev.data);
 * client.close();
 * ```
 *
 * The generated protobuf-es messages and the `AgentHub` service descriptor are exported as
 * `hub` and `types` (also as the subpaths `@agentry/cloud/gen/hub` and `@agentry/cloud/gen/types`);
 * `client.raw` is the generated Connect client for calls the typed layer does not cover.
 *
 * @module
 */
export { Client, type ForkOptions, type OnBusyName, type RawClient, type SpawnOptions } from "./client.js";
export { DEFAULT_RECONNECT, RUN_ENDING_TYPES, endsRun, type ReconnectPolicy } from "./cursor.js";
export {
  AgentryError,
  AlreadyExistsError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  TlsError,
  TraceInterruptedError,
  UnauthenticatedError,
  UnavailableError,
  codeName,
  type AgentryErrorInit,
  type StatusCodeName,
} from "./errors.js";
export { DEFAULT_HUB, MAX_MESSAGE_BYTES, type ClientOptions, type PemSource, type TlsOptions } from "./options.js";
export { type ReconnectInfo, type TraceOptions, type TraceStream } from "./trace.js";
export type {
  Agent,
  Forked,
  ForkedAgent,
  Node,
  NodeStateName,
  Run,
  RunStatusName,
  Sent,
  Spawned,
  TraceEvent,
  WhoAmI,
} from "./types.js";
export * as hub from "./gen/agentry/v1/hub_pb.js";
export * as types from "./gen/agentry/v1/types_pb.js";
