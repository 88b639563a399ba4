"""The assertions of sdk/conformance/README.md, shared by the sync and the asyncio runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, List, Sequence, Tuple

import grpc

import agentry

BLANK_INPUT = "   "


@dataclass(frozen=True)
class Scenario:
    """sdk/conformance/scenario.json."""

    model: str
    tools: List[str]
    input: str
    answer: str
    trace_after: int
    restart_after_event: str


def random_run_id() -> str:
    """An id no run has (step 4)."""
    return str(uuid.uuid4())


def check_followed_run(events: Sequence[agentry.TraceEvent], run_id: str, answer: str) -> None:
    """Step 1: seqs 1, 2, 3, ... without a gap; `run_started` first; a `final` with the answer;
    `run_finished` last; every event of the run, with a UTC timestamp."""
    assert events, "the followed trace yielded nothing"
    assert [event.seq for event in events] == list(range(1, len(events) + 1)), [e.seq for e in events]
    assert events[0].type == "run_started"
    assert events[-1].type == "run_finished"
    finals = [event for event in events if event.type == "final"]
    assert finals, "no final event"
    assert finals[-1].data.get("content") == answer, finals[-1].data
    for event in events:
        assert event.run_id == run_id, event
        assert isinstance(event.ts, datetime) and event.ts.tzinfo is not None, event
        assert event.ts.utcoffset() == timezone.utc.utcoffset(None)
        assert event.ts.year >= 2024, f"event {event.seq} has no timestamp"


def check_trace_after(
    after: Sequence[agentry.TraceEvent], followed: Sequence[agentry.TraceEvent], trace_after: int
) -> None:
    """Step 2: exactly the followed events with seq > trace_after, in order."""
    expected = [event for event in followed if event.seq > trace_after]
    assert expected, "step 1's trace is not longer than trace_after"
    assert list(after) == expected


def comparable(events: Sequence[agentry.TraceEvent]) -> List[Tuple[int, str, str, Any]]:
    """(seq, type, run id, data) of each event: what step 3 compares."""
    return [(event.seq, event.type, event.run_id, event.data) for event in events]


def check_across_restart(
    received: Sequence[agentry.TraceEvent], fresh: Sequence[agentry.TraceEvent], run_id: str
) -> None:
    """Step 3: ends with `run_finished`; seqs 1..n, none missing or repeated; equal to a fresh
    non-following read of the agent's trace."""
    assert received and received[-1].type == "run_finished", [event.type for event in received]
    assert [event.seq for event in received] == list(range(1, len(received) + 1)), [e.seq for e in received]
    assert all(event.run_id == run_id for event in received)
    # The stopping node handed the run back mid-run and the restarted one resumed it: the
    # stream really broke and was reopened.
    assert any(event.type == "run_moved" for event in received), [event.type for event in received]
    assert comparable(received) == comparable(fresh)


def check_not_found(error: agentry.AgentryError, run_id: str) -> None:
    """Step 4: NOT_FOUND naming the id."""
    assert isinstance(error, agentry.NotFoundError), repr(error)
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.code_name == "NOT_FOUND"
    assert run_id in error.message and run_id in str(error)
    assert "NOT_FOUND" in str(error)


def check_invalid_argument(error: agentry.AgentryError) -> None:
    """Step 4: INVALID_ARGUMENT saying what is wrong (the input)."""
    assert isinstance(error, agentry.InvalidArgumentError), repr(error)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.code_name == "INVALID_ARGUMENT"
    assert "input" in error.details, error.details
    assert str(error).startswith("INVALID_ARGUMENT: ")
