"""How gRPC failures become agentry errors."""

from __future__ import annotations

from typing import Optional, Type

import grpc
import pytest

import agentry
from agentry.errors import error_for, from_rpc_error


class FakeRpcError(grpc.RpcError):
    """What grpc raises: an RpcError that is also a Call with code() and details()."""

    def __init__(self, code: Optional[grpc.StatusCode], details: Optional[str]) -> None:
        super().__init__("fake rpc error")
        self._code = code
        self._details = details

    def code(self) -> Optional[grpc.StatusCode]:  # type: ignore[override]  # None: no status
        return self._code

    def details(self) -> Optional[str]:
        return self._details


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.NOT_FOUND, agentry.NotFoundError),
        (grpc.StatusCode.INVALID_ARGUMENT, agentry.InvalidArgumentError),
        (grpc.StatusCode.FAILED_PRECONDITION, agentry.FailedPreconditionError),
        (grpc.StatusCode.ALREADY_EXISTS, agentry.AlreadyExistsError),
        (grpc.StatusCode.PERMISSION_DENIED, agentry.PermissionDeniedError),
        (grpc.StatusCode.UNAUTHENTICATED, agentry.UnauthenticatedError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, agentry.ResourceExhaustedError),
        (grpc.StatusCode.UNAVAILABLE, agentry.UnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, agentry.DeadlineExceededError),
        (grpc.StatusCode.INTERNAL, agentry.AgentryError),
        (grpc.StatusCode.ABORTED, agentry.AgentryError),
    ],
)
def test_each_code_maps_to_its_class(code: grpc.StatusCode, cls: Type[agentry.AgentryError]) -> None:
    error = from_rpc_error(FakeRpcError(code, "the hub's words"))
    assert type(error) is cls
    assert isinstance(error, agentry.AgentryError)
    assert error.code is code
    assert error.code_name == code.name
    assert error.details == "the hub's words"


def test_the_message_has_the_code_name_and_the_hubs_message() -> None:
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.NOT_FOUND, "run 42 not found"), "http://hub:7700")
    assert str(error) == error.message == "NOT_FOUND: run 42 not found"
    assert error.hub is None, "a refusal does not need the hub URL"


def test_unreachable_and_unauthenticated_name_the_hub() -> None:
    details = "failed to connect to all addresses; last error: Connection refused"
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, details), "http://hub:7700")
    assert str(error) == f"UNAVAILABLE: {details} (hub http://hub:7700)"
    unauthenticated = error_for(grpc.StatusCode.UNAUTHENTICATED, "token revoked", "https://hub")
    assert str(unauthenticated) == "UNAUTHENTICATED: token revoked (hub https://hub)"


def test_an_error_without_a_status_is_unknown() -> None:
    error = from_rpc_error(FakeRpcError(None, None))
    assert error.code is grpc.StatusCode.UNKNOWN
    assert str(error) == "UNKNOWN: fake rpc error"
    bare = from_rpc_error(grpc.RpcError())
    assert bare.code is grpc.StatusCode.UNKNOWN and bare.details == "unknown"


def test_an_interrupted_trace_keeps_the_last_failure() -> None:
    last = error_for(grpc.StatusCode.UNAVAILABLE, "connection refused", "http://hub")
    interrupted = agentry.TraceInterruptedError(12, 60.0, last)
    assert isinstance(interrupted, agentry.AgentryError)
    assert (interrupted.last_seq, interrupted.gave_up_after) == (12, 60.0)
    assert interrupted.code is grpc.StatusCode.UNAVAILABLE
    assert interrupted.__cause__ is last
    assert str(interrupted) == (
        "UNAVAILABLE: trace interrupted after seq 12; gave up reconnecting after 60s"
        " (last failure: UNAVAILABLE: connection refused (hub http://hub))"
    )
