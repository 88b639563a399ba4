"""Builds the hub's protobuf requests from the clients' keyword arguments.

Shared by :class:`agentry.Client` and :class:`agentry.AsyncClient`, so both send exactly the
same requests. Arguments left ``None`` are left unset (the hub's defaults apply).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

from agentry.models import run_status_value
from agentry.v1 import hub_pb2, types_pb2

__all__ = [
    "OnBusy",
    "approve_request",
    "fork_request",
    "list_agents_request",
    "resume_request",
    "send_request",
    "spawn_request",
    "trace_request",
]

#: What ``send`` does when the agent already has an active run: ``"enqueue"`` (the hub's
#: default) queues behind it, ``"reject"`` refuses, ``"interrupt"`` cancels it and starts this one.
OnBusy = str

_ON_BUSY = {
    "enqueue": hub_pb2.ON_BUSY_ENQUEUE,
    "reject": hub_pb2.ON_BUSY_REJECT,
    "interrupt": hub_pb2.ON_BUSY_INTERRUPT,
}


def spawn_request(
    model: Optional[str] = None,
    input: Optional[str] = None,
    *,
    tools: Optional[Iterable[str]] = None,
    system: Optional[str] = None,
    labels: Optional[Mapping[str, str]] = None,
    max_iterations: Optional[int] = None,
    temperature: Optional[float] = None,
    template: Optional[str] = None,
    vars: Optional[Mapping[str, str]] = None,
    parent_id: Optional[str] = None,
    idempotency_key: Optional[str] = None,
    max_tokens: Optional[int] = None,
    max_cost_usd: Optional[float] = None,
    node_selector: Optional[Mapping[str, str]] = None,
    tool_choice: Optional[str] = None,
) -> hub_pb2.SpawnRequest:
    """Returns the ``SpawnRequest`` of ``Client.spawn`` (see there for the arguments)."""
    spec = types_pb2.AgentSpec(
        model=model or "",
        tools=list(tools or ()),
        system=system or "",
        max_iterations=max_iterations or 0,
        node_selector=dict(node_selector or {}),
        tool_choice=tool_choice or "",
    )
    if temperature is not None:
        spec.temperature = temperature
    request = hub_pb2.SpawnRequest(
        spec=spec,
        labels=dict(labels or {}),
        parent_id=parent_id or "",
        idempotency_key=idempotency_key or "",
        template=template or "",
        vars=dict(vars or {}),
    )
    if input is not None:
        request.input = input
    if max_tokens is not None:
        request.max_tokens = max_tokens
    if max_cost_usd is not None:
        request.max_cost_usd = max_cost_usd
    return request


def send_request(
    agent_id: str, input: str, on_busy: Optional[OnBusy] = None, idempotency_key: Optional[str] = None
) -> hub_pb2.SendMessageRequest:
    """Returns the ``SendMessageRequest`` of ``Client.send``; ValueError for an unknown ``on_busy``."""
    request = hub_pb2.SendMessageRequest(agent_id=agent_id, input=input, idempotency_key=idempotency_key or "")
    if on_busy is not None:
        if on_busy not in _ON_BUSY:
            raise ValueError(f"on_busy must be one of {', '.join(_ON_BUSY)}, not {on_busy!r}")
        request.on_busy = _ON_BUSY[on_busy]
    return request


def list_agents_request(
    limit: Optional[int] = None, statuses: Optional[Iterable[str]] = None, query: Optional[str] = None
) -> hub_pb2.ListAgentsRequest:
    """Returns the ``ListAgentsRequest`` of ``Client.list_agents``; ValueError for an unknown status."""
    return hub_pb2.ListAgentsRequest(
        limit=limit or 0,
        statuses=[run_status_value(status) for status in statuses or ()],
        query=query or "",
    )


def resume_request(
    run_id: str, add_tokens: Optional[int] = None, add_cost_usd: Optional[float] = None
) -> hub_pb2.ResumeRunRequest:
    """Returns the ``ResumeRunRequest`` of ``Client.resume``."""
    return hub_pb2.ResumeRunRequest(run_id=run_id, add_tokens=add_tokens or 0, add_cost_usd=add_cost_usd or 0.0)


def approve_request(
    run_id: str, tool_call_id: str, approved: bool, reason: Optional[str] = None
) -> hub_pb2.ApproveRequest:
    """Returns the ``ApproveRequest`` of ``Client.approve``."""
    return hub_pb2.ApproveRequest(run_id=run_id, tool_call_id=tool_call_id, approved=approved, reason=reason or "")


def fork_request(
    agent_id: str,
    *,
    at_seq: Optional[int] = None,
    at_message_index: Optional[int] = None,
    count: Optional[int] = None,
    model: Optional[str] = None,
    input: Optional[str] = None,
    labels: Optional[Mapping[str, str]] = None,
) -> hub_pb2.ForkRequest:
    """Returns the ``ForkRequest`` of ``Client.fork``; ValueError when both ``at_seq`` and
    ``at_message_index`` are given."""
    request = hub_pb2.ForkRequest(
        agent_id=agent_id, count=count or 0, model=model or "", input=input or "", labels=dict(labels or {})
    )
    if at_seq is not None and at_message_index is not None:
        raise ValueError("fork: give at_seq or at_message_index, not both")
    if at_seq is not None:
        request.at_seq = at_seq
    if at_message_index is not None:
        request.at_message_index = at_message_index
    return request


def trace_request(
    agent_id: Optional[str] = None,
    run_id: Optional[str] = None,
    after_seq: int = 0,
    follow: bool = True,
    include_ephemeral: bool = False,
) -> hub_pb2.TraceRequest:
    """Returns the ``TraceRequest`` of ``Client.trace``; ValueError without an agent or run id,
    or with a negative ``after_seq``."""
    if not agent_id and not run_id:
        raise ValueError("trace needs an agent_id or a run_id")
    if after_seq < 0:
        raise ValueError("after_seq must not be negative")
    return hub_pb2.TraceRequest(
        agent_id=agent_id or "",
        run_id=run_id or "",
        after_seq=after_seq,
        include_ephemeral=include_ephemeral,
        follow=follow,
    )
