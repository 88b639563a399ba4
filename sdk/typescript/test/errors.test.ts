/** Unit tests of the error mapping: ConnectError → AgentryError subclasses, and which failures a
 * followed trace reconnects after. */
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";

import { Code, ConnectError } from "@connectrpc/connect";

import {
  AgentryError,
  AlreadyExistsError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  TraceInterruptedError,
  UnauthenticatedError,
  UnavailableError,
  codeName,
  isDisconnect,
  toAgentryError,
} from "../src/errors.js";

const URL = "http://127.0.0.1:7700";

/** A status as the hub sends it: in the trailers, with `grpc-status`. */
function hubStatus(code: Code, message: string): ConnectError {
  return new ConnectError(message, code, new Headers({ "grpc-status": String(code), "grpc-message": message }));
}

describe("errors", () => {
  test("hub statuses become their subclasses, with the code name and the hub's message", () => {
    const cases: [Code, new (...args: never[]) => AgentryError, string][] = [
      [Code.NotFound, NotFoundError, "NOT_FOUND"],
      [Code.InvalidArgument, InvalidArgumentError, "INVALID_ARGUMENT"],
      [Code.FailedPrecondition, FailedPreconditionError, "FAILED_PRECONDITION"],
      [Code.AlreadyExists, AlreadyExistsError, "ALREADY_EXISTS"],
      [Code.PermissionDenied, PermissionDeniedError, "PERMISSION_DENIED"],
      [Code.Unauthenticated, UnauthenticatedError, "UNAUTHENTICATED"],
      [Code.ResourceExhausted, ResourceExhaustedError, "RESOURCE_EXHAUSTED"],
      [Code.Unavailable, UnavailableError, "UNAVAILABLE"],
      [Code.DeadlineExceeded, DeadlineExceededError, "DEADLINE_EXCEEDED"],
    ];
    for (const [code, Class, name] of cases) {
      const error = toAgentryError(hubStatus(code, "run 42 not found"), URL);
      assert.ok(error instanceof Class && error instanceof AgentryError && error instanceof Error, name);
      assert.equal(error.code, name);
      assert.equal(error.grpcCode, code);
      assert.equal(error.message, `${name}: run 42 not found`);
      assert.equal(error.hubMessage, "run 42 not found");
      assert.equal(error.name, Class.name);
      assert.ok(error.fromHub);
      assert.ok(error.cause instanceof ConnectError);
    }
    const other = toAgentryError(hubStatus(Code.Internal, "boom"), URL);
    assert.equal(other.constructor, AgentryError);
    assert.equal(other.message, "INTERNAL: boom");
  });

  test("code names follow the gRPC numbering", () => {
    assert.equal(codeName(0), "OK");
    assert.equal(codeName(5), "NOT_FOUND");
    assert.equal(codeName(16), "UNAUTHENTICATED");
    assert.equal(codeName(99), "UNKNOWN");
  });

  test("a connection failure on this side names the hub", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:7700"), { code: "ECONNREFUSED" });
    const error = toAgentryError(new ConnectError(refused.message, Code.Unavailable, undefined, undefined, refused), URL);
    assert.ok(error instanceof UnavailableError);
    assert.ok(!error.fromHub);
    assert.equal(error.message, `UNAVAILABLE: hub unreachable at ${URL}: connect ECONNREFUSED 127.0.0.1:7700`);
    assert.ok(isDisconnect(error));
  });

  test("an AgentryError passes through; anything else is UNKNOWN", () => {
    const error = new NotFoundError({ grpcCode: 5, hubMessage: "x" });
    assert.equal(toAgentryError(error, URL), error);
    const unknown = toAgentryError(new Error("what"), URL);
    assert.equal(unknown.code, "UNKNOWN");
  });

  test("refusals are not disconnects; UNAVAILABLE and transport failures are", () => {
    assert.ok(!isDisconnect(toAgentryError(hubStatus(Code.NotFound, "agent x not found"), URL)));
    assert.ok(!isDisconnect(toAgentryError(hubStatus(Code.FailedPrecondition, "run ended"), URL)));
    assert.ok(!isDisconnect(toAgentryError(hubStatus(Code.PermissionDenied, "viewer"), URL)));
    assert.ok(!isDisconnect(toAgentryError(hubStatus(Code.Internal, "store failed"), URL)));
    assert.ok(isDisconnect(toAgentryError(hubStatus(Code.Unavailable, "hub shutting down"), URL)));
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    const aborted = new ConnectError(reset.message, Code.Aborted, undefined, undefined, reset);
    assert.ok(isDisconnect(toAgentryError(aborted, URL)), "a reset connection");
    const streamReset = new ConnectError("http/2 stream closed with error code INTERNAL_ERROR (0x2)", Code.Internal);
    assert.ok(isDisconnect(toAgentryError(streamReset, URL)), "a reset stream");
    const tooBig = new ConnectError("message size 9000000 is larger than configured readMaxBytes", Code.ResourceExhausted);
    assert.ok(!isDisconnect(toAgentryError(tooBig, URL)), "a local limit");
  });

  test("an interrupted trace keeps the last failure and its code", () => {
    const last = toAgentryError(hubStatus(Code.Unavailable, "hub shutting down"), URL);
    const interrupted = new TraceInterruptedError(12, 60_000, last);
    assert.ok(interrupted instanceof AgentryError);
    assert.equal(interrupted.lastSeq, 12);
    assert.equal(interrupted.gaveUpAfterMs, 60_000);
    assert.equal(interrupted.code, "UNAVAILABLE");
    assert.equal(interrupted.cause, last);
    assert.match(interrupted.message, /^UNAVAILABLE: trace interrupted after seq 12; gave up reconnecting after 60s/);
    assert.match(interrupted.message, /hub shutting down/);
    assert.ok(!isDisconnect(interrupted));
  });
});
