"""What the clients return: small frozen dataclasses converted from the hub's protobuf replies.

Strings the hub leaves empty when unset (``node_id`` of an unplaced run, ``parent_id`` of a
top-level agent, ...) stay ``""``; only the fields the API marks optional are ``None``.
Timestamps are timezone-aware UTC :class:`datetime.datetime`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Optional, Tuple

from google.protobuf.timestamp_pb2 import Timestamp

from agentry.v1 import hub_pb2, types_pb2

__all__ = [
    "Agent",
    "Forked",
    "Node",
    "Run",
    "RunStatus",
    "Sent",
    "Spawned",
    "TraceEvent",
    "WhoAmI",
]

#: A run's status, lowercase: ``"queued"``, ``"running"``, ``"completed"``, ``"failed"``,
#: ``"cancelled"``, ``"paused"``, ``"waiting_approval"``, ``"waiting_children"`` or
#: ``"unspecified"`` (a status this SDK does not know yet is its lowercase proto name).
RunStatus = str

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Spawned:
    """An agent created by ``spawn`` (or a fork), and the run its input started.

    Attributes:
        agent_id: the new agent's id.
        run_id: its first run's id; None when spawned without input.
    """

    agent_id: str
    run_id: Optional[str]


@dataclass(frozen=True)
class Sent:
    """The run a ``send`` created.

    Attributes:
        run_id: the new run's id ("" when not accepted).
        accepted: False when the agent was busy and ``on_busy="reject"`` refused the message.
    """

    run_id: str
    accepted: bool


@dataclass(frozen=True)
class Run:
    """One unit of work on an agent.

    Attributes:
        run_id, agent_id: ids.
        status: see :data:`RunStatus`.
        epoch: ownership epoch, bumped each time the run is (re)assigned to a node.
        node_id: the node that owns it; "" while unplaced.
        input: the user input that started it.
        error: the failure or cancellation reason; "" otherwise.
        created_at, updated_at: UTC.
        wait_reason: why a queued run is not placed yet; "" otherwise.
    """

    run_id: str
    agent_id: str
    status: RunStatus
    epoch: int
    node_id: str
    input: str
    error: str
    created_at: datetime
    updated_at: datetime
    wait_reason: str


@dataclass(frozen=True)
class Agent:
    """A long-lived conversation with a model.

    Attributes:
        agent_id: its id.
        model, tools, system: its spec (model reference, builtin tool names, system prompt).
        labels: its labels.
        parent_id: the delegating agent of a sub-agent; "" for a top-level agent.
        created_at: UTC.
        latest_run: its most recent run; None before the first.
        last_seq: seq of its latest persisted trace event.
        tenant: the tenant it belongs to (``default`` without authentication).
        imported_from: for a read-only imported agent, the source; "" otherwise.
        forked_from: for a fork, the agent it was forked from; "" otherwise.
    """

    agent_id: str
    model: str
    tools: Tuple[str, ...]
    system: str
    labels: Dict[str, str] = field(hash=False)
    parent_id: str
    created_at: datetime
    latest_run: Optional[Run]
    last_seq: int
    tenant: str
    imported_from: str
    forked_from: str


@dataclass(frozen=True)
class TraceEvent:
    """One event of an agent's trace.

    Attributes:
        seq: per-agent, gap-free sequence number from 1; 0 for ephemeral events.
        type: the agentry event name (``run_started``, ``tool_end``, ``final``, ``run_finished``, ...).
        agent_id, run_id: whose event it is.
        parent_agent_id: the agent's parent; "" for a top-level agent.
        ts: when it happened, UTC.
        data: its payload, decoded (``{}`` when empty; ``final`` has ``{"content": answer}``).
        trace_id, span_id: W3C ids of its distributed trace span; "" when unknown.
    """

    seq: int
    type: str
    agent_id: str
    run_id: str
    parent_agent_id: str
    ts: datetime
    data: Dict[str, Any] = field(hash=False)
    trace_id: str
    span_id: str


@dataclass(frozen=True)
class Node:
    """A worker process that runs agents.

    Attributes:
        node_id, name: its id and name.
        state: ``"ready"``, ``"cordoned"``, ``"draining"``, ``"dead"``, ``"left"`` or ``"unspecified"``.
        slots: maximum concurrent runs; running: runs executing now, as last reported.
        labels: its labels.
        last_heartbeat: UTC; None when it never reported.
    """

    node_id: str
    name: str
    state: str
    slots: int
    running: int
    labels: Dict[str, str] = field(hash=False)
    last_heartbeat: Optional[datetime]


@dataclass(frozen=True)
class WhoAmI:
    """Who the hub takes the caller for.

    Attributes:
        actor: token name or JWT subject (``anonymous`` without authentication).
        role: ``admin``, ``operator``, ``client`` or ``viewer``.
        tenant: "" for a cluster-wide admin.
        method: how the caller was authenticated: ``none``, ``token`` or ``jwt``.
    """

    actor: str
    role: str
    tenant: str
    method: str


@dataclass(frozen=True)
class Forked:
    """The forks a ``fork`` created.

    Attributes:
        forks: each fork's agent and the run it continues with.
        message_count: how many conversation messages each fork copied.
        at_seq: the seq of the original agent's trace the forks branch at.
    """

    forks: Tuple[Spawned, ...]
    message_count: int
    at_seq: int


def timestamp(value: Timestamp) -> datetime:
    """Returns a protobuf timestamp as an aware UTC datetime (the Unix epoch when unset)."""
    if value.seconds == 0 and value.nanos == 0:
        return _EPOCH
    return value.ToDatetime(tzinfo=timezone.utc)


def event_data(text: str) -> Dict[str, Any]:
    """Decodes an event's JSON object payload: ``{}`` when empty; a payload that is not a JSON
    object (the hub never sends one) is kept as ``{"raw": text}``."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"raw": text}


def enum_name(prefix: str, name: str) -> str:
    """Returns ``RUN_STATUS_COMPLETED`` as ``completed`` (given the prefix ``RUN_STATUS_``)."""
    return name[len(prefix) :].lower() if name.startswith(prefix) else name.lower()


def run_status(value: int) -> RunStatus:
    """Returns a ``RunStatus`` enum value as its lowercase name."""
    try:
        return enum_name("RUN_STATUS_", types_pb2.RunStatus.Name(types_pb2.RunStatus.ValueType(value)))
    except ValueError:
        return "unspecified"


def run_status_value(status: str) -> "types_pb2.RunStatus.ValueType":
    """Returns the enum value of a lowercase status name; ValueError for an unknown one."""
    try:
        return types_pb2.RunStatus.Value(f"RUN_STATUS_{status.upper()}")
    except ValueError:
        raise ValueError(f"unknown run status {status!r}") from None


def run_from_proto(run: types_pb2.Run) -> Run:
    """Converts a ``Run`` message."""
    return Run(
        run_id=run.run_id,
        agent_id=run.agent_id,
        status=run_status(run.status),
        epoch=run.epoch,
        node_id=run.node_id,
        input=run.input,
        error=run.error,
        created_at=timestamp(run.created_at),
        updated_at=timestamp(run.updated_at),
        wait_reason=run.wait_reason,
    )


def agent_from_proto(agent: types_pb2.Agent) -> Agent:
    """Converts an ``Agent`` message."""
    return Agent(
        agent_id=agent.agent_id,
        model=agent.spec.model,
        tools=tuple(agent.spec.tools),
        system=agent.spec.system,
        labels=dict(agent.labels),
        parent_id=agent.parent_id,
        created_at=timestamp(agent.created_at),
        latest_run=run_from_proto(agent.latest_run) if agent.HasField("latest_run") else None,
        last_seq=agent.last_seq,
        tenant=agent.tenant,
        imported_from=agent.imported_from,
        forked_from=agent.forked_from,
    )


def event_from_proto(event: types_pb2.TraceEvent) -> TraceEvent:
    """Converts a ``TraceEvent`` message, decoding its JSON data."""
    return TraceEvent(
        seq=event.seq,
        type=event.type,
        agent_id=event.agent_id,
        run_id=event.run_id,
        parent_agent_id=event.parent_agent_id,
        ts=timestamp(event.ts),
        data=event_data(event.data),
        trace_id=event.trace_id,
        span_id=event.span_id,
    )


def node_from_proto(node: types_pb2.Node) -> Node:
    """Converts a ``Node`` message."""
    heartbeat = node.last_heartbeat if node.HasField("last_heartbeat") else None
    return Node(
        node_id=node.node_id,
        name=node.name,
        state=enum_name("NODE_STATE_", types_pb2.NodeState.Name(node.state)),
        slots=node.slots,
        running=node.running,
        labels=dict(node.labels),
        last_heartbeat=timestamp(heartbeat) if heartbeat is not None else None,
    )


def spawned_from_proto(response: hub_pb2.SpawnResponse) -> Spawned:
    """Converts a ``SpawnResponse``."""
    return Spawned(agent_id=response.agent_id, run_id=response.run_id or None)


def sent_from_proto(response: hub_pb2.SendMessageResponse) -> Sent:
    """Converts a ``SendMessageResponse``."""
    return Sent(run_id=response.run_id, accepted=response.accepted)


def who_am_i_from_proto(response: hub_pb2.WhoAmIResponse) -> WhoAmI:
    """Converts a ``WhoAmIResponse``."""
    return WhoAmI(actor=response.actor, role=response.role, tenant=response.tenant, method=response.method)


def forked_from_proto(response: hub_pb2.ForkResponse) -> Forked:
    """Converts a ``ForkResponse``."""
    forks = tuple(Spawned(agent_id=fork.agent_id, run_id=fork.run_id or None) for fork in response.forks)
    return Forked(forks=forks, message_count=response.message_count, at_seq=response.at_seq)
