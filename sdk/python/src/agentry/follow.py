"""The state machines behind ``trace()``: where a followed trace resumes, and when to retry.

A followed trace that breaks (the hub restarts or shuts down, the connection drops) is
reopened with ``after_seq`` = the last ``seq`` yielded, after a backoff, until the give-up
window passes without progress. The hub replays from its store, so nothing is skipped;
persisted events at or below the last ``seq`` are dropped, so nothing is yielded twice.

:class:`TraceCursor` and :class:`Reconnect` are pure (time is passed in); the clients drive
them over the wire, the sync one with ``time.sleep``, the async one with ``asyncio.sleep``.
"""

from __future__ import annotations

import enum
import logging
import random
from dataclasses import dataclass
from typing import Callable, Optional

import grpc

from agentry.errors import AgentryError, TLSError, TraceInterruptedError, error_for
from agentry.v1 import hub_pb2, types_pb2

__all__ = [
    "ENDS_RUN",
    "Reconnect",
    "ReconnectPolicy",
    "Seen",
    "TraceCursor",
    "is_disconnect",
    "next_attempt",
    "stream_ended_unexpectedly",
]

#: Event types that end a run: a trace of one run ends after the first of them.
ENDS_RUN = frozenset({"run_finished", "run_failed", "run_cancelled"})
RUN_PAUSED = "run_paused"

_log = logging.getLogger("agentry")

# Status details grpc makes on this side for a broken transport (as opposed to a hub's refusal).
_TRANSPORT_MARKERS = ("RST_STREAM", "Socket closed", "Connection reset", "GOAWAY", "Stream removed")


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a followed trace reconnects. Times in seconds.

    Attributes:
        give_up_after: how long a broken trace is retried without progress before
            :class:`agentry.TraceInterruptedError`; 0 disables reconnecting. Progress is an
            event received, or a reopened stream that stayed up for at least ``backoff_max``.
        backoff_start: first delay before reopening; doubles (plus up to 100 % jitter) up to
            ``backoff_max``.
        backoff_max: longest delay before jitter.
    """

    give_up_after: float = 60.0
    backoff_start: float = 0.2
    backoff_max: float = 4.0


def is_disconnect(error: AgentryError) -> bool:
    """Returns whether ``error`` means the connection broke or the hub is going away (worth
    reconnecting) rather than that the hub refused the request: UNAVAILABLE, or a status grpc
    made on this side from a reset or closed HTTP/2 stream. A failed TLS handshake
    (:class:`agentry.TLSError`) is not: it does not heal by reconnecting."""
    if isinstance(error, TLSError):
        return False
    if error.code == grpc.StatusCode.UNAVAILABLE:
        return True
    if error.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED):
        if "Channel closed" in error.details:
            return False
        return any(marker in error.details for marker in _TRANSPORT_MARKERS)
    return False


class Seen(enum.Enum):
    """What :meth:`TraceCursor.accept` makes of a received event."""

    #: Already yielded (a replay overlapping what was received): drop it.
    DUPLICATE = "duplicate"
    #: Yield it.
    NEW = "new"
    #: Yield it and end the stream: it ends the watched run.
    LAST = "last"


class TraceCursor:
    """Where a followed trace resumes, and whether the watched run has ended or paused.

    Attributes:
        last_seq: the highest ``seq`` yielded (initially the request's ``after_seq``).
    """

    def __init__(self, request: hub_pb2.TraceRequest, end_on_pause: bool = False) -> None:
        self.last_seq: int = request.after_seq
        self._watched_run: Optional[str] = request.run_id or None
        self._end_on_pause = end_on_pause
        self._paused = False

    def resume_request(self, request: hub_pb2.TraceRequest) -> hub_pb2.TraceRequest:
        """Returns ``request`` resuming after the last event yielded."""
        resumed = hub_pb2.TraceRequest()
        resumed.CopyFrom(request)
        resumed.after_seq = self.last_seq
        return resumed

    def accept(self, event: types_pb2.TraceEvent) -> Seen:
        """Records a received event and says whether to yield it."""
        # Ephemeral events (seq 0) are never replayed, so they cannot repeat.
        if event.seq == 0:
            return Seen.NEW
        if event.seq <= self.last_seq:
            return Seen.DUPLICATE
        self.last_seq = event.seq
        if self._watched_run != event.run_id:
            return Seen.NEW
        self._paused = event.type == RUN_PAUSED
        if event.type in ENDS_RUN or (self._paused and self._end_on_pause):
            return Seen.LAST
        return Seen.NEW

    def take_pause(self) -> bool:
        """Returns whether the watched run was paused at its last event, once: the hub may end a
        run's stream at ``run_paused``; a second clean end without new events is unexpected."""
        paused, self._paused = self._paused, False
        return paused


class Reconnect:
    """Backoff between attempts to reopen a broken trace (exponential with jitter), and when to
    give up (the window restarts on progress)."""

    def __init__(self, policy: ReconnectPolicy, jitter: Callable[[], float] = random.random) -> None:
        self.give_up_after = policy.give_up_after
        self._start = policy.backoff_start
        self._max = max(policy.backoff_max, policy.backoff_start)
        self._jitter = jitter
        self._attempt = 0
        self._failing_since: Optional[float] = None

    def progressed(self) -> None:
        """Records progress (an event received): the next break starts a new window and backoff."""
        self._failing_since = None
        self._attempt = 0

    def broke(self, now: float, connected_for: Optional[float]) -> Optional[float]:
        """Records a break at ``now`` (a monotonic clock, seconds) of a stream that was up for
        ``connected_for`` seconds (None: the call failed) and returns how long to wait before
        the next attempt, or None to give up. The last wait is cut to end with the window."""
        # A stream that stayed up a while was a recovery even without events (an idle or paused
        # trace): this break is a new one. One that broke at once was not.
        if connected_for is not None and connected_for >= self._max:
            self.progressed()
        if self._failing_since is None:
            self._failing_since = now
        remaining = self.give_up_after - (now - self._failing_since)
        if remaining <= 0:
            return None
        base = min(self._start * (2.0**self._attempt), self._max)
        self._attempt = min(self._attempt + 1, 62)
        delay = base * (1.0 + self._jitter())
        return min(delay, remaining)


def next_attempt(
    error: AgentryError,
    follow: bool,
    cursor: TraceCursor,
    reconnect: Reconnect,
    now: float,
    connected_for: Optional[float],
) -> float:
    """Decides what a broken or refused trace does next: returns the delay (seconds) before
    reopening it (logged as a warning on the ``agentry`` logger); raises ``error`` when it is not worth retrying (not following, or a
    refusal), and :class:`agentry.TraceInterruptedError` when the give-up window passed."""
    if not follow or not is_disconnect(error):
        raise error
    delay = reconnect.broke(now, connected_for)
    if delay is None:
        raise TraceInterruptedError(cursor.last_seq, reconnect.give_up_after, error)
    _log.warning("trace stream broke (%s) after seq %d; reconnecting in %.2fs", error.message, cursor.last_seq, delay)
    return delay


def stream_ended_unexpectedly(hub: str) -> AgentryError:
    """Returns the error of a followed stream that the hub ended without ending the run (a hub
    shutting down): a disconnect, so the trace is reopened."""
    return error_for(grpc.StatusCode.UNAVAILABLE, "the trace stream ended unexpectedly", hub)
