"""The trace cursor, the backoff and give-up policy, and what counts as a disconnect."""

from __future__ import annotations

from typing import List, Optional

import grpc
import pytest

import agentry
from agentry.errors import error_for
from agentry.follow import Reconnect, ReconnectPolicy, Seen, TraceCursor, is_disconnect, next_attempt
from agentry.v1 import hub_pb2, types_pb2


def event(seq: int, kind: str, run_id: str = "r1") -> types_pb2.TraceEvent:
    return types_pb2.TraceEvent(seq=seq, type=kind, run_id=run_id)


def run_request(run_id: str = "r1", after_seq: int = 0) -> hub_pb2.TraceRequest:
    return hub_pb2.TraceRequest(run_id=run_id, after_seq=after_seq, follow=True)


def test_replayed_events_are_dropped_and_the_resume_point_advances() -> None:
    request = run_request(after_seq=2)
    cursor = TraceCursor(request)
    assert cursor.accept(event(2, "step_start")) is Seen.DUPLICATE, "at after_seq"
    assert cursor.accept(event(3, "step_start")) is Seen.NEW
    assert cursor.accept(event(4, "model_start")) is Seen.NEW
    assert cursor.resume_request(request).after_seq == 4
    # A hub replaying from an older point: only what was not yielded passes.
    assert cursor.accept(event(3, "step_start")) is Seen.DUPLICATE
    assert cursor.accept(event(4, "model_start")) is Seen.DUPLICATE
    assert cursor.accept(event(5, "usage")) is Seen.NEW
    resumed = cursor.resume_request(request)
    assert (resumed.after_seq, resumed.run_id, resumed.follow) == (5, "r1", True)
    assert request.after_seq == 2, "the original request is left alone"


def test_ephemeral_events_pass_without_moving_the_resume_point() -> None:
    cursor = TraceCursor(run_request())
    assert cursor.accept(event(1, "run_started")) is Seen.NEW
    assert cursor.accept(event(0, "token")) is Seen.NEW
    assert cursor.accept(event(0, "token")) is Seen.NEW
    assert cursor.last_seq == 1


@pytest.mark.parametrize("kind", ["run_finished", "run_failed", "run_cancelled"])
def test_the_watched_run_ends_the_trace(kind: str) -> None:
    cursor = TraceCursor(run_request())
    assert cursor.accept(event(1, kind, run_id="r2")) is Seen.NEW, "another run's end"
    assert cursor.accept(event(2, kind)) is Seen.LAST
    agent_trace = TraceCursor(hub_pb2.TraceRequest(agent_id="a1"))
    assert agent_trace.accept(event(1, kind)) is Seen.NEW, "an agent's trace goes on"


def test_a_paused_run_is_followed_until_it_ends_unless_asked_otherwise() -> None:
    cursor = TraceCursor(run_request())
    assert cursor.accept(event(1, "run_paused")) is Seen.NEW
    assert cursor.take_pause(), "a clean end after run_paused is expected once"
    assert not cursor.take_pause()
    assert cursor.accept(event(2, "run_resumed")) is Seen.NEW
    assert not cursor.take_pause()
    assert cursor.accept(event(3, "run_finished")) is Seen.LAST
    ending = TraceCursor(run_request(), end_on_pause=True)
    assert ending.accept(event(1, "run_paused")) is Seen.LAST


def policy(give_up: float, start: float, most: float) -> ReconnectPolicy:
    return ReconnectPolicy(give_up_after=give_up, backoff_start=start, backoff_max=most)


def jittered(delay: Optional[float], base: float) -> bool:
    """Whether `delay` is `base` plus at most one more `base` of jitter."""
    return delay is not None and base <= delay <= 2 * base


def test_backoff_doubles_with_jitter_up_to_its_maximum() -> None:
    no_jitter = Reconnect(policy(100.0, 0.2, 4.0), jitter=lambda: 0.0)
    delays = [no_jitter.broke(0.0, None) for _ in range(7)]
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 4.0, 4.0]
    full_jitter = Reconnect(policy(100.0, 0.2, 4.0), jitter=lambda: 0.999)
    assert full_jitter.broke(0.0, None) == pytest.approx(0.3998)
    real = Reconnect(policy(1.0, 0.1, 0.4))
    assert jittered(real.broke(0.0, None), 0.1)
    assert jittered(real.broke(0.2, None), 0.2)


def test_the_last_wait_ends_with_the_window_then_it_gives_up() -> None:
    reconnect = Reconnect(policy(1.0, 0.1, 0.4), jitter=lambda: 0.0)
    assert reconnect.broke(0.0, None) == 0.1
    assert reconnect.broke(0.2, None) == 0.2
    assert reconnect.broke(0.9, None) == pytest.approx(0.1), "cut to the window"
    assert reconnect.broke(1.0, None) is None, "gave up"


def test_progress_restarts_the_window_and_the_backoff() -> None:
    reconnect = Reconnect(policy(1.0, 0.1, 0.4), jitter=lambda: 0.0)
    reconnect.broke(0.0, None)
    reconnect.broke(0.1, None)
    reconnect.progressed()
    assert reconnect.broke(5.0, None) == 0.1
    assert reconnect.broke(5.9, None) is not None, "the window restarted at 5 s"


def test_only_a_stream_that_stayed_up_counts_as_recovery() -> None:
    reconnect = Reconnect(policy(1.0, 0.1, 0.4), jitter=lambda: 0.0)
    reconnect.broke(0.0, None)
    # Accepted, then broken at once (a hub shutting down): still failing since 0.
    assert reconnect.broke(0.6, 0.01) is not None
    assert reconnect.broke(1.0, 0.01) is None
    reconnect = Reconnect(policy(1.0, 0.1, 0.4), jitter=lambda: 0.0)
    reconnect.broke(0.0, None)
    # Up for an hour without events (a paused run), then the hub restarted: a new break.
    assert reconnect.broke(3600.0, 3600.0) == 0.1


def test_a_zero_window_never_reconnects() -> None:
    assert Reconnect(policy(0.0, 0.1, 0.4)).broke(0.0, None) is None


def test_the_default_policy_is_the_rust_sdks() -> None:
    assert ReconnectPolicy() == ReconnectPolicy(give_up_after=60.0, backoff_start=0.2, backoff_max=4.0)


@pytest.mark.parametrize(
    ("code", "details", "disconnect"),
    [
        (grpc.StatusCode.UNAVAILABLE, "hub shutting down", True),
        (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses", True),
        (grpc.StatusCode.INTERNAL, "Received RST_STREAM with error code 2", True),
        (grpc.StatusCode.UNKNOWN, "Stream removed", True),
        (grpc.StatusCode.CANCELLED, "Channel closed!", False),
        (grpc.StatusCode.INTERNAL, "store: constraint violated", False),
        (grpc.StatusCode.NOT_FOUND, "agent x not found", False),
        (grpc.StatusCode.FAILED_PRECONDITION, "run ended", False),
        (grpc.StatusCode.UNAUTHENTICATED, "token revoked", False),
        (grpc.StatusCode.PERMISSION_DENIED, "viewer", False),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "too many streams", False),
    ],
)
def test_only_disconnects_are_retried(code: grpc.StatusCode, details: str, disconnect: bool) -> None:
    assert is_disconnect(error_for(code, details)) is disconnect


def test_next_attempt_raises_refusals_and_gives_up_with_the_last_seq() -> None:
    cursor = TraceCursor(run_request(after_seq=7))
    refusal = error_for(grpc.StatusCode.NOT_FOUND, "run r1 not found")
    with pytest.raises(agentry.NotFoundError):
        next_attempt(refusal, True, cursor, Reconnect(ReconnectPolicy()), 0.0, None)
    unavailable = error_for(grpc.StatusCode.UNAVAILABLE, "hub shutting down", "http://hub:7700")
    with pytest.raises(agentry.UnavailableError):
        next_attempt(unavailable, False, cursor, Reconnect(ReconnectPolicy()), 0.0, None)
    reconnect = Reconnect(policy(1.0, 0.1, 0.4), jitter=lambda: 0.0)
    delays: List[float] = [next_attempt(unavailable, True, cursor, reconnect, 0.0, None)]
    assert delays == [0.1]
    with pytest.raises(agentry.TraceInterruptedError) as interrupted:
        next_attempt(unavailable, True, cursor, reconnect, 1.0, None)
    error = interrupted.value
    assert (error.last_seq, error.gave_up_after, error.code) == (7, 1.0, grpc.StatusCode.UNAVAILABLE)
    assert error.__cause__ is unavailable
    assert "after seq 7" in str(error) and "hub shutting down" in str(error)
