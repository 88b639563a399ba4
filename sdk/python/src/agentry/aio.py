""":class:`AsyncClient`: the asyncio client of the hub's ``AgentHub`` API (a ``grpc.aio`` channel).

Same methods, arguments, results and errors as :class:`agentry.Client`, as coroutines;
``trace`` returns an async iterator.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import AsyncGenerator, Iterable, List, Mapping, Optional, Tuple, Type, TypeVar

import grpc
import grpc.aio

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

__all__ = ["AsyncClient", "open_aio_channel"]

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


def open_aio_channel(spec: ChannelSpec) -> grpc.aio.Channel:
    """Opens an asyncio channel as ``spec`` says (TLS or plaintext, with its options)."""
    if spec.secure:
        return grpc.aio.secure_channel(spec.target, spec.credentials(), options=list(spec.options))
    return grpc.aio.insecure_channel(spec.target, options=list(spec.options))


class AsyncClient:
    """A connection to an Agentry hub for asyncio code; see :class:`agentry.Client` for the
    arguments, methods and errors. Create it inside a coroutine (its channel binds to the
    running event loop), and ``await client.close()`` or use ``async with``.

    ``stub`` is the generated ``AgentHubAsyncStub``; pass ``metadata=client.metadata``.
    """

    def __init__(self, hub: Optional[str] = None, token: Optional[str] = None, tls: Optional[TLS] = None) -> None:
        connection = resolve(hub, token, tls)
        self.hub: str = connection.hub
        self.metadata: Optional[Tuple[Tuple[str, str], ...]] = connection.metadata
        self._channel = open_aio_channel(connection.spec)
        self.stub = hub_pb2_grpc.AgentHubStub(self._channel)

    def __repr__(self) -> str:
        return f"AsyncClient(hub={self.hub!r}, token={'***' if self.metadata else None})"

    async def close(self) -> None:
        """Closes the channel; calls in flight (and open traces) fail with CANCELLED."""
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.close()

    async def _unary(self, method: grpc.aio.UnaryUnaryMultiCallable[_Req, _Resp], request: _Req) -> _Resp:
        try:
            return await method(request, metadata=self.metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error, self.hub) from None

    async def spawn(
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
        """Creates an agent and, with ``input``, its first run (see :meth:`agentry.Client.spawn`)."""
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
        return spawned_from_proto(await self._unary(self.stub.Spawn, request))

    async def send(
        self,
        agent_id: str,
        input: str,
        on_busy: Optional[build.OnBusy] = None,
        idempotency_key: Optional[str] = None,
    ) -> Sent:
        """Sends user input to an agent, creating a run (see :meth:`agentry.Client.send`)."""
        request = build.send_request(agent_id, input, on_busy, idempotency_key)
        return sent_from_proto(await self._unary(self.stub.SendMessage, request))

    async def get_agent(self, agent_id: str) -> Agent:
        """Returns one agent with its latest run."""
        response = await self._unary(self.stub.GetAgent, hub_pb2.GetAgentRequest(agent_id=agent_id))
        return agent_from_proto(response.agent)

    async def list_agents(
        self, limit: Optional[int] = None, statuses: Optional[Iterable[str]] = None, query: Optional[str] = None
    ) -> List[Agent]:
        """Lists agents with their latest runs (see :meth:`agentry.Client.list_agents`)."""
        request = build.list_agents_request(limit, statuses, query)
        return [agent_from_proto(agent) for agent in (await self._unary(self.stub.ListAgents, request)).agents]

    async def get_run(self, run_id: str) -> Run:
        """Returns one run."""
        return run_from_proto((await self._unary(self.stub.GetRun, hub_pb2.GetRunRequest(run_id=run_id))).run)

    async def cancel(self, run_id: str, reason: Optional[str] = None) -> Run:
        """Cancels a run for good; returns it."""
        request = hub_pb2.CancelRunRequest(run_id=run_id, reason=reason or "")
        return run_from_proto((await self._unary(self.stub.CancelRun, request)).run)

    async def pause(self, run_id: str, reason: Optional[str] = None) -> Run:
        """Pauses a queued or running run; returns it."""
        request = hub_pb2.PauseRunRequest(run_id=run_id, reason=reason or "")
        return run_from_proto((await self._unary(self.stub.PauseRun, request)).run)

    async def resume(self, run_id: str, add_tokens: Optional[int] = None, add_cost_usd: Optional[float] = None) -> Run:
        """Queues a paused run again, optionally raising its budget first; returns it."""
        request = build.resume_request(run_id, add_tokens, add_cost_usd)
        return run_from_proto((await self._unary(self.stub.ResumeRun, request)).run)

    async def approve(self, run_id: str, tool_call_id: str, approved: bool, reason: Optional[str] = None) -> Run:
        """Decides on the tool call a run waits for; returns the run."""
        request = build.approve_request(run_id, tool_call_id, approved, reason)
        return run_from_proto((await self._unary(self.stub.Approve, request)).run)

    async def fork(
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
        """Forks an agent (see :meth:`agentry.Client.fork`)."""
        request = build.fork_request(
            agent_id,
            at_seq=at_seq,
            at_message_index=at_message_index,
            count=count,
            model=model,
            input=input,
            labels=labels,
        )
        return forked_from_proto(await self._unary(self.stub.Fork, request))

    async def list_nodes(self) -> List[Node]:
        """Lists the nodes known to the hub."""
        response = await self._unary(self.stub.ListNodes, hub_pb2.ListNodesRequest())
        return [node_from_proto(node) for node in response.nodes]

    async def who_am_i(self) -> WhoAmI:
        """Returns who the hub takes this client for."""
        return who_am_i_from_proto(await self._unary(self.stub.WhoAmI, hub_pb2.WhoAmIRequest()))

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
    ) -> AsyncGenerator[TraceEvent, None]:
        """Returns an async iterator of trace events, reconnecting as :meth:`agentry.Client.trace`
        does. Leaving an ``async for`` early keeps the stream open until the iterator is closed
        (``await events.aclose()``, or ``contextlib.aclosing``) or collected."""
        request = build.trace_request(agent_id, run_id, after_seq, follow, include_ephemeral)
        cursor = TraceCursor(request, end_on_pause)
        return self._follow(request, cursor, Reconnect(reconnect or ReconnectPolicy()))

    async def _follow(
        self, request: hub_pb2.TraceRequest, cursor: TraceCursor, reconnect: Reconnect
    ) -> AsyncGenerator[TraceEvent, None]:
        while True:
            call = self.stub.Trace(cursor.resume_request(request), metadata=self.metadata)
            connected_at: Optional[float] = None
            try:
                # Returns once the hub accepted the call (its headers) or the call failed.
                await call.initial_metadata()
                if not call.done() or await call.code() == grpc.StatusCode.OK:
                    connected_at = time.monotonic()
                async for response in call:
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
            await asyncio.sleep(next_attempt(error, request.follow, cursor, reconnect, now, connected_for))
