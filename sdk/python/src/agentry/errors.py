"""Errors raised by :class:`agentry.Client` and :class:`agentry.AsyncClient`.

Every failed call raises an :class:`AgentryError` carrying the gRPC status code, or one of its
subclasses for the codes a caller typically handles (``except agentry.NotFoundError``). A
followed trace that could not be reopened raises :class:`TraceInterruptedError`. A failed TLS
handshake raises :class:`TLSError` (an :class:`UnavailableError` that says what to check), which
a followed trace does not retry: it needs a configuration change, not time.

Invalid arguments detected before anything is sent (a malformed hub URL, a token that cannot
travel in a header, an unknown ``on_busy``) raise :class:`ValueError` instead.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Type

import grpc

__all__ = [
    "AgentryError",
    "AlreadyExistsError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "TLSError",
    "TraceInterruptedError",
    "UnauthenticatedError",
    "UnavailableError",
    "from_rpc_error",
]


class AgentryError(Exception):
    """A call to the hub failed.

    Attributes:
        code: the gRPC status code (``grpc.StatusCode.NOT_FOUND``, ...).
        code_name: its name, e.g. ``"NOT_FOUND"``.
        details: the hub's message (or gRPC's, for a connection failure).
        hub: the hub URL, for failures where it helps (unreachable, unauthenticated); else None.
        message: ``"<CODE_NAME>: <details>"`` (plus the hub URL when set); also ``str(error)``.
    """

    def __init__(self, code: grpc.StatusCode, details: str, hub: Optional[str] = None) -> None:
        self.code = code
        self.code_name: str = code.name
        self.details = details
        self.hub = hub
        message = f"{self.code_name}: {details}"
        if hub is not None:
            message += f" (hub {hub})"
        self.message = message
        super().__init__(message)


class NotFoundError(AgentryError):
    """NOT_FOUND: the agent, run or node does not exist; the message names the id."""


class InvalidArgumentError(AgentryError):
    """INVALID_ARGUMENT: the request is malformed; the message names the field and what is wrong."""


class FailedPreconditionError(AgentryError):
    """FAILED_PRECONDITION: the call does not fit the current state (e.g. cancelling an ended run)."""


class AlreadyExistsError(AgentryError):
    """ALREADY_EXISTS: the object to create exists already."""


class PermissionDeniedError(AgentryError):
    """PERMISSION_DENIED: the caller's role may not make this call (e.g. a viewer spawning)."""


class UnauthenticatedError(AgentryError):
    """UNAUTHENTICATED: no token, or an unknown, revoked or expired one."""


class ResourceExhaustedError(AgentryError):
    """RESOURCE_EXHAUSTED: a limit was hit (rate, open streams, agents, message size)."""


class UnavailableError(AgentryError):
    """UNAVAILABLE: the hub is unreachable, restarting or shutting down; retrying later may work."""


class TLSError(UnavailableError):
    """UNAVAILABLE from a failed TLS handshake with the hub: its certificate is not signed by a
    CA this client trusts or does not name the URL's host, the hub refused the client
    certificate, or the hub does not serve TLS. The message says which, then gives grpc's
    words. Not retried by a followed trace (unlike other UNAVAILABLE errors)."""


class DeadlineExceededError(AgentryError):
    """DEADLINE_EXCEEDED: the call's deadline passed before the hub answered."""


class TraceInterruptedError(AgentryError):
    """A followed trace broke and could not be reopened within the give-up window.

    Resume with ``trace(..., after_seq=error.last_seq)``. ``code`` is the last failure's code;
    that failure is also ``__cause__``.

    Attributes:
        last_seq: the last ``seq`` yielded (or the request's ``after_seq``).
        gave_up_after: the give-up window, in seconds, that passed without progress.
    """

    def __init__(self, last_seq: int, gave_up_after: float, cause: AgentryError) -> None:
        details = (
            f"trace interrupted after seq {last_seq}; gave up reconnecting after {gave_up_after:g}s"
            f" (last failure: {cause.message})"
        )
        super().__init__(cause.code, details)
        self.last_seq = last_seq
        self.gave_up_after = gave_up_after
        self.__cause__ = cause


_BY_CODE: Dict[grpc.StatusCode, Type[AgentryError]] = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}

# Codes whose message is clearer with the hub URL next to it.
_WITH_HUB = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED)


# What grpc's status details say about a failed TLS handshake, and what that means for a client
# of the hub; the first match wins.
_TLS_FAILURES: Tuple[Tuple[str, str], ...] = (
    (
        "Hostname Verification Check failed",
        "the hub's certificate does not name the host of the URL (connect by a name it lists, or set TLS(server_name=...))",
    ),
    (
        "CERTIFICATE_VERIFY_FAILED",
        "the hub's certificate failed verification (is it signed by a CA this client trusts? give that CA as TLS(ca=...))",
    ),
    (
        "TSI_DATA_CORRUPTED",
        "the hub ended the TLS session (did it refuse this client's certificate? is it signed by the hub's client CA?)",
    ),
    ("WRONG_VERSION_NUMBER", "the hub did not answer with TLS; it probably serves plaintext: use an http:// URL"),
    # A TLS protocol error (not a connection closed mid-handshake, which a restart may cause).
    ("SSL_ERROR_SSL", "the TLS handshake with the hub failed"),
)

# A TLS hub closes the connection of a plaintext client during the HTTP/2 preface.
_PLAINTEXT_HINT = "; if the hub serves TLS, use an https:// URL"


def tls_failure(details: str) -> Optional[str]:
    """Returns what a failed connection's status ``details`` mean when grpc reports a failed
    TLS handshake in them, else None."""
    for marker, meaning in _TLS_FAILURES:
        if marker.lower() in details.lower():
            return meaning
    return None


def error_for(code: grpc.StatusCode, details: str, hub: Optional[str] = None) -> AgentryError:
    """Returns the :class:`AgentryError` subclass instance for ``code`` (the base class for
    codes without a subclass); ``hub`` is kept for UNAVAILABLE and UNAUTHENTICATED only.

    An UNAVAILABLE whose details report a failed TLS handshake becomes a :class:`TLSError`
    (``"TLS with the hub failed: <meaning> (<details>)"``); a plaintext (``http://``) connection
    the peer closed at once gets a hint to use ``https://``."""
    if code == grpc.StatusCode.UNAVAILABLE:
        meaning = tls_failure(details)
        if meaning is not None:
            return TLSError(code, f"TLS with the hub failed: {meaning} ({details})", hub)
        plaintext = hub is not None and not hub.startswith("https://")
        if plaintext and "failed to connect" in details and details.rstrip().endswith("Socket closed"):
            details += _PLAINTEXT_HINT
    cls = _BY_CODE.get(code, AgentryError)
    return cls(code, details, hub if code in _WITH_HUB else None)


def from_rpc_error(error: grpc.RpcError, hub: Optional[str] = None) -> AgentryError:
    """Converts a ``grpc.RpcError`` (sync or ``grpc.aio``) raised by a call to the hub at
    ``hub`` into an :class:`AgentryError`; an error that carries no status becomes UNKNOWN."""
    code_of = getattr(error, "code", None)
    details_of = getattr(error, "details", None)
    code = code_of() if callable(code_of) else None
    details = details_of() if callable(details_of) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    if not isinstance(details, str) or not details:
        details = str(error) or code.name.lower()
    return error_for(code, details, hub)
