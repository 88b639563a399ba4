""":class:`Client`: the blocking client of the hub's ``AgentHub`` API (a ``grpc`` channel)."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Generator, Iterable, List, Mapping, Optional, Tuple, Type, TypeVar

import grpc

from agentry import build
from agentry.errors import from_rpc_error
from agentry.follow import (
    Reconnect,
    ReconnectPolicy,
    Seen,
    TraceCursor,
    next_attempt,
    stream_ended_unexpectedly,
)
from agentry.models import (
    Agent,
    Forked,
    Node,
    Run,
    Sent,
    Spawned,
    TraceEvent,
    WhoAmI,
    agent_from_proto,
    event_from_proto,
    forked_from_proto,
    node_from_proto,
    run_from_proto,
    sent_from_proto,
    spawned_from_proto,
    who_am_i_from_proto,
)
from agentry.options import TLS, ChannelSpec, resolve
from agentry.v1 import hub_pb2, hub_pb2_grpc

__all__ = ["Client", "open_channel"]

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


def open_channel(spec: ChannelSpec) -> grpc.Channel:
    """Opens a blocking channel as ``spec`` says (TLS or plaintext, with its options)."""
    if spec.secure:
        return grpc.secure_channel(spec.target, spec.credentials(), options=list(spec.options))
    return grpc.insecure_channel(spec.target, options=list(spec.options))


class Client:
    """A connection to an Agentry hub; calls block. Thread-safe; use one per process.

    Args:
        hub: hub URL (``http://host:port``; ``https://`` for TLS). Default: ``AGENTRY_HUB``,
            else ``http://127.0.0.1:7700``.
        token: bearer token sent as ``authorization: Bearer <token>`` with every call (trace
            reconnects included). Default: ``AGENTRY_TOKEN``, else none.
        tls: CA and client certificate for an ``https://`` hub (see :class:`agentry.TLS`).
            Default: the files named by ``AGENTRY_CA``, ``AGENTRY_CLIENT_CERT`` and
            ``AGENTRY_CLIENT_KEY``, else grpcio's default roots.

    The channel connects lazily: an unreachable hub fails the first call with
    :class:`agentry.UnavailableError`. Every call raises :class:`agentry.AgentryError` (a
    subclass per common code) when the hub refuses it. ``stub`` is the generated
    ``AgentHubStub`` for everything else; pass ``metadata=client.metadata`` to its calls.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, hub: Optional[str] = None, token: Optional[str] = None, tls: Optional[TLS] = None) -> None:
        connection = resolve(hub, token, tls)
        self.hub: str = connection.hub
        self.metadata: Optional[Tuple[Tuple[str, str], ...]] = connection.metadata
        self._channel = open_channel(connection.spec)
        self.stub = hub_pb2_grpc.AgentHubStub(self._channel)

    def __repr__(self) -> str:
        return f"Client(hub={self.hub!r}, token={'***' if self.metadata else None})"

    def close(self) -> None:
        """Closes the channel; calls in flight (and open traces) fail with CANCELLED."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    def _unary(self, method: grpc.UnaryUnaryMultiCallable[_Req, _Resp], request: _Req) -> _Resp:
        try:
            return method(request, metadata=self.metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error, self.hub) from None

    def spawn(
        self,
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
    ) -> Spawned:
        """Creates an agent and, with ``input``, its first run.

        Args:
            model: model reference (``provider:model``, a configured name or route); may be
                omitted with a ``template`` that names one.
            input: first user input; None creates an idle agent. Blank input is refused.
            tools: builtin tool names the agent may call. system: system prompt.
            labels: the agent's labels. max_iterations: model calls per run (None: hub default).
            temperature: sampling temperature, 0–2. template / vars: a role template to start
                from and values of its placeholders. parent_id: the parent agent.
            idempotency_key: retrying with the same key returns the first result.
            max_tokens / max_cost_usd: budget (input + output tokens; USD) of the agent's tree.
            node_selector: labels a node must have to run it. tool_choice: ``auto``, ``none``,
                ``required`` or a tool name.

        Raises:
            InvalidArgumentError: e.g. a blank input or an unknown tool (the message says which).
        """
        request = build.spawn_request(
            model,
            input,
            tools=tools,
            system=system,
            labels=labels,
            max_iterations=max_iterations,
            temperature=temperature,
            template=template,
            vars=vars,
            parent_id=parent_id,
            idempotency_key=idempotency_key,
            max_tokens=max_tokens,
            max_cost_usd=max_cost_usd,
            node_selector=node_selector,
            tool_choice=tool_choice,
        )
        return spawned_from_proto(self._unary(self.stub.Spawn, request))

    def send(
        self,
        agent_id: str,
        input: str,
        on_busy: Optional[build.OnBusy] = None,
        idempotency_key: Optional[str] = None,
    ) -> Sent:
        """Sends user input to an agent, creating a run. ``on_busy``: ``"enqueue"`` (default),
        ``"reject"`` (then ``accepted`` is False when busy) or ``"interrupt"``."""
        request = build.send_request(agent_id, input, on_busy, idempotency_key)
        return sent_from_proto(self._unary(self.stub.SendMessage, request))

    def get_agent(self, agent_id: str) -> Agent:
        """Returns one agent with its latest run. Raises NotFoundError for an unknown id."""
        return agent_from_proto(self._unary(self.stub.GetAgent, hub_pb2.GetAgentRequest(agent_id=agent_id)).agent)

    def list_agents(
        self, limit: Optional[int] = None, statuses: Optional[Iterable[str]] = None, query: Optional[str] = None
    ) -> List[Agent]:
        """Lists agents with their latest runs, newest first: at most ``limit`` (None: 1000),
        only those whose latest run has one of ``statuses`` (lowercase, e.g. ``"running"``),
        only those the search ``query`` finds (id prefix, model or label value, ``key=value``)."""
        request = build.list_agents_request(limit, statuses, query)
        return [agent_from_proto(agent) for agent in self._unary(self.stub.ListAgents, request).agents]

    def get_run(self, run_id: str) -> Run:
        """Returns one run. Raises NotFoundError for an unknown id."""
        return run_from_proto(self._unary(self.stub.GetRun, hub_pb2.GetRunRequest(run_id=run_id)).run)

    def cancel(self, run_id: str, reason: Optional[str] = None) -> Run:
        """Cancels a queued, running or paused run for good; returns it. Raises
        FailedPreconditionError for a run that already ended."""
        request = hub_pb2.CancelRunRequest(run_id=run_id, reason=reason or "")
        return run_from_proto(self._unary(self.stub.CancelRun, request).run)

    def pause(self, run_id: str, reason: Optional[str] = None) -> Run:
        """Pauses a queued or running run until :meth:`resume` or :meth:`cancel`; returns it."""
        request = hub_pb2.PauseRunRequest(run_id=run_id, reason=reason or "")
        return run_from_proto(self._unary(self.stub.PauseRun, request).run)

    def resume(self, run_id: str, add_tokens: Optional[int] = None, add_cost_usd: Optional[float] = None) -> Run:
        """Queues a paused run again, first raising its agent's budget by ``add_tokens`` /
        ``add_cost_usd`` (USD) when given; returns it."""
        request = build.resume_request(run_id, add_tokens, add_cost_usd)
        return run_from_proto(self._unary(self.stub.ResumeRun, request).run)

    def approve(self, run_id: str, tool_call_id: str, approved: bool, reason: Optional[str] = None) -> Run:
        """Decides on the tool call a ``waiting_approval`` run waits for; returns the run, queued
        again. Raises FailedPreconditionError when the run does not wait for that call."""
        request = build.approve_request(run_id, tool_call_id, approved, reason)
        return run_from_proto(self._unary(self.stub.Approve, request).run)

    def fork(
        self,
        agent_id: str,
        *,
        at_seq: Optional[int] = None,
        at_message_index: Optional[int] = None,
        count: Optional[int] = None,
        model: Optional[str] = None,
        input: Optional[str] = None,
        labels: Optional[Mapping[str, str]] = None,
    ) -> Forked:
        """Creates ``count`` (default 1, at most 16) agents sharing ``agent_id``'s conversation up
        to ``at_seq`` of its trace or its first ``at_message_index`` messages (default: all),
        each with a run continuing from there (with ``input`` when given, on ``model`` when given)."""
        request = build.fork_request(
            agent_id,
            at_seq=at_seq,
            at_message_index=at_message_index,
            count=count,
            model=model,
            input=input,
            labels=labels,
        )
        return forked_from_proto(self._unary(self.stub.Fork, request))

    def list_nodes(self) -> List[Node]:
        """Lists the nodes known to the hub."""
        return [node_from_proto(node) for node in self._unary(self.stub.ListNodes, hub_pb2.ListNodesRequest()).nodes]

    def who_am_i(self) -> WhoAmI:
        """Returns who the hub takes this client for (actor, role, tenant, method)."""
        return who_am_i_from_proto(self._unary(self.stub.WhoAmI, hub_pb2.WhoAmIRequest()))

    def trace(
        self,
        agent_id: Optional[str] = None,
        *,
        run_id: Optional[str] = None,
        after_seq: int = 0,
        follow: bool = True,
        include_ephemeral: bool = False,
        end_on_pause: bool = False,
        reconnect: Optional[ReconnectPolicy] = None,
    ) -> Generator[TraceEvent, None, None]:
        """Yields the trace events of an agent (``agent_id``) or of one run (``run_id``) with
        ``seq > after_seq``, in order; with ``follow``, then new events as they are committed.

        With ``run_id``, the iterator ends after the run's ``run_finished``, ``run_failed`` or
        ``run_cancelled`` (or its ``run_paused`` with ``end_on_pause``); an agent's followed
        trace goes on until the caller stops. Without ``follow`` it ends after the backlog.

        A followed trace survives hub restarts: when the stream breaks it is reopened after the
        last ``seq`` yielded, with backoff (``reconnect``, default :class:`ReconnectPolicy`),
        never skipping or repeating an event. Refusals are not retried.

        Raises (while iterating): the hub's refusal as :class:`agentry.AgentryError`;
        :class:`agentry.TraceInterruptedError` after the give-up window without progress;
        ValueError (at once) without an agent or run id.
        """
        request = build.trace_request(agent_id, run_id, after_seq, follow, include_ephemeral)
        cursor = TraceCursor(request, end_on_pause)
        return self._follow(request, cursor, Reconnect(reconnect or ReconnectPolicy()))

    def _follow(
        self, request: hub_pb2.TraceRequest, cursor: TraceCursor, reconnect: Reconnect
    ) -> Generator[TraceEvent, None, None]:
        while True:
            call = self.stub.Trace(cursor.resume_request(request), metadata=self.metadata)
            connected_at: Optional[float] = None
            try:
                # Returns once the hub accepted the call (its headers) or the call failed.
                call.initial_metadata()
                if call.is_active() or call.code() == grpc.StatusCode.OK:
                    connected_at = time.monotonic()
                for response in call:
                    if not response.HasField("event"):
                        continue
                    seen = cursor.accept(response.event)
                    if seen is Seen.DUPLICATE:
                        continue
                    reconnect.progressed()
                    yield event_from_proto(response.event)
                    if seen is Seen.LAST:
                        return
            except grpc.RpcError as rpc_error:
                error = from_rpc_error(rpc_error, self.hub)
            else:
                if not request.follow:
                    return
                if cursor.take_pause():
                    continue
                error = stream_ended_unexpectedly(self.hub)
            finally:
                call.cancel()
            now = time.monotonic()
            connected_for = None if connected_at is None else now - connected_at
            time.sleep(next_attempt(error, request.follow, cursor, reconnect, now, connected_for))
