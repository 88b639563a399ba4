"""Both clients against an in-process fake hub whose Trace breaks on cue: the reconnect loop
(resume point, duplicates dropped, refusals not retried, give-up) and the token on every call."""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Iterator, List, Tuple

import grpc
import pytest

import agentry
from agentry.v1 import hub_pb2, hub_pb2_grpc, types_pb2

FAST = agentry.ReconnectPolicy(give_up_after=5.0, backoff_start=0.01, backoff_max=0.05)
KINDS = ["run_started", "step_start", "model_start", "usage", "final", "run_finished"]


def response(seq: int) -> hub_pb2.TraceResponse:
    event = types_pb2.TraceEvent(seq=seq, type=KINDS[seq - 1], agent_id="a1", run_id="r1", data='{"n": %d}' % seq)
    return hub_pb2.TraceResponse(event=event)


class FakeHub(hub_pb2_grpc.AgentHubServicer):
    """Trace call 1 sends seqs 1-3 and fails UNAVAILABLE; call 2 replays from 2 (overlapping)
    and ends cleanly without the run's end; call 3 sends the rest. Agent `missing` is refused;
    agent `down` is always unavailable. Records each call's request and authorization."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.traces: List[int] = []
        self.authorizations: List[object] = []

    def _record(self, context: grpc.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata())
        with self.lock:
            self.authorizations.append(metadata.get("authorization"))

    def Trace(self, request: hub_pb2.TraceRequest, context: grpc.ServicerContext) -> Iterator[hub_pb2.TraceResponse]:
        self._record(context)
        if request.agent_id == "missing":
            context.abort(grpc.StatusCode.NOT_FOUND, "agent missing not found")
        if request.agent_id == "down":
            context.abort(grpc.StatusCode.UNAVAILABLE, "hub shutting down")
        with self.lock:
            attempt = len(self.traces) + 1
            self.traces.append(request.after_seq)
        if attempt == 1:
            yield from (response(seq) for seq in (1, 2, 3))
            context.abort(grpc.StatusCode.UNAVAILABLE, "hub shutting down")
        elif attempt == 2:
            yield from (response(seq) for seq in (2, 3, 4))
        else:
            yield from (response(seq) for seq in range(request.after_seq + 1, 7))

    def GetRun(self, request: hub_pb2.GetRunRequest, context: grpc.ServicerContext) -> hub_pb2.GetRunResponse:
        self._record(context)
        if request.run_id != "r1":
            context.abort(grpc.StatusCode.NOT_FOUND, f"run {request.run_id} not found")
        return hub_pb2.GetRunResponse(run=types_pb2.Run(run_id="r1", status=types_pb2.RUN_STATUS_COMPLETED))


@pytest.fixture()
def fake_hub() -> Iterator[Tuple[FakeHub, str]]:
    hub = FakeHub()  # type: ignore[abstract]  # the other RPCs answer UNIMPLEMENTED
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    hub_pb2_grpc.add_AgentHubServicer_to_server(hub, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield hub, f"http://127.0.0.1:{port}"
    server.stop(grace=None)


def check_resumed(hub: FakeHub, events: List[agentry.TraceEvent]) -> None:
    assert [event.seq for event in events] == [1, 2, 3, 4, 5, 6]
    assert [event.type for event in events] == KINDS
    assert [event.data for event in events] == [{"n": seq} for seq in range(1, 7)]
    assert hub.traces == [0, 3, 4], "each reconnect resumes after the last seq"
    assert hub.authorizations and set(hub.authorizations) == {"Bearer t0k"}, "the token goes with every call"


def test_sync_trace_resumes_without_gaps_or_repeats(fake_hub: Tuple[FakeHub, str]) -> None:
    hub, url = fake_hub
    with agentry.Client(url, token="t0k") as client:
        events = list(client.trace(run_id="r1", reconnect=FAST))
        assert client.get_run("r1").status == "completed"
    check_resumed(hub, events)


@pytest.mark.asyncio
async def test_async_trace_resumes_without_gaps_or_repeats(fake_hub: Tuple[FakeHub, str]) -> None:
    hub, url = fake_hub
    async with agentry.AsyncClient(url, token="t0k") as client:
        events = [event async for event in client.trace(run_id="r1", reconnect=FAST)]
        assert (await client.get_run("r1")).status == "completed"
    check_resumed(hub, events)


def test_sync_refusals_are_raised_at_once(fake_hub: Tuple[FakeHub, str]) -> None:
    hub, url = fake_hub
    with agentry.Client(url) as client:
        with pytest.raises(agentry.NotFoundError, match="agent missing not found"):
            list(client.trace("missing", reconnect=FAST))
        with pytest.raises(agentry.NotFoundError, match="run r2 not found"):
            client.get_run("r2")
    assert hub.authorizations == [None, None], "one Trace call, no token"


@pytest.mark.asyncio
async def test_async_refusals_are_raised_at_once(fake_hub: Tuple[FakeHub, str]) -> None:
    hub, url = fake_hub
    async with agentry.AsyncClient(url) as client:
        with pytest.raises(agentry.NotFoundError, match="agent missing not found"):
            [event async for event in client.trace("missing", reconnect=FAST)]
    assert len(hub.authorizations) == 1


def test_sync_gives_up_after_the_window(fake_hub: Tuple[FakeHub, str]) -> None:
    hub, url = fake_hub
    policy = agentry.ReconnectPolicy(give_up_after=0.3, backoff_start=0.01, backoff_max=0.05)
    with agentry.Client(url, token="t0k") as client:
        with pytest.raises(agentry.TraceInterruptedError) as interrupted:
            list(client.trace("down", after_seq=5, reconnect=policy))
        assert interrupted.value.last_seq == 5
        assert interrupted.value.code == grpc.StatusCode.UNAVAILABLE
        assert len(hub.authorizations) > 2, "it retried"
        with pytest.raises(agentry.UnavailableError):
            list(client.trace("down", follow=False))


@pytest.mark.asyncio
async def test_async_gives_up_after_the_window(fake_hub: Tuple[FakeHub, str]) -> None:
    hub, url = fake_hub
    policy = agentry.ReconnectPolicy(give_up_after=0.3, backoff_start=0.01, backoff_max=0.05)
    async with agentry.AsyncClient(url) as client:
        with pytest.raises(agentry.TraceInterruptedError) as interrupted:
            [event async for event in client.trace("down", after_seq=5, reconnect=policy)]
    assert interrupted.value.last_seq == 5
    assert len(hub.authorizations) > 2


def test_an_unreachable_hub_is_unavailable() -> None:
    with agentry.Client("http://127.0.0.1:1") as client:
        with pytest.raises(agentry.UnavailableError) as unreachable:
            client.get_run("r1")
    assert "(hub http://127.0.0.1:1)" in str(unreachable.value)
