"""Python SDK of Agentry Cloud: spawn agents on a hub, talk to them, follow their traces.

>>> import agentry
>>> with agentry.Client("http://127.0.0.1:7700") as client:        # doctest: +SKIP
...     spawned = client.spawn("openai:gpt-4o-mini", "hello")
...     for event in client.trace(run_id=spawned.run_id):
...         print(event.seq, event.type, event.data)

:class:`Client` blocks; :class:`AsyncClient` is its asyncio twin. Results are frozen
dataclasses (:class:`Run`, :class:`Agent`, :class:`TraceEvent`, ...); failures raise
:class:`AgentryError` subclasses. The generated protobuf modules are in :mod:`agentry.v1`.
"""

from agentry.aio import AsyncClient
from agentry.client import Client
from agentry.errors import (
    AgentryError,
    AlreadyExistsError,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    TLSError,
    TraceInterruptedError,
    UnauthenticatedError,
    UnavailableError,
)
from agentry.follow import ENDS_RUN, ReconnectPolicy
from agentry.models import Agent, Forked, Node, Run, RunStatus, Sent, Spawned, TraceEvent, WhoAmI
from agentry.options import DEFAULT_HUB, MAX_MESSAGE_BYTES, TLS

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_HUB",
    "ENDS_RUN",
    "MAX_MESSAGE_BYTES",
    "TLS",
    "TLSError",
    "Agent",
    "AgentryError",
    "AlreadyExistsError",
    "AsyncClient",
    "Client",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "Forked",
    "InvalidArgumentError",
    "Node",
    "NotFoundError",
    "PermissionDeniedError",
    "ReconnectPolicy",
    "ResourceExhaustedError",
    "Run",
    "RunStatus",
    "Sent",
    "Spawned",
    "TraceEvent",
    "TraceInterruptedError",
    "UnauthenticatedError",
    "UnavailableError",
    "WhoAmI",
]
