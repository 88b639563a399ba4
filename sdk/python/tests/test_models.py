"""Protobuf to dataclass conversions, and the requests the clients build."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import agentry
from agentry import build
from agentry.models import (
    agent_from_proto,
    event_data,
    event_from_proto,
    forked_from_proto,
    node_from_proto,
    run_from_proto,
    spawned_from_proto,
)
from agentry.v1 import hub_pb2, types_pb2

TS = Timestamp(seconds=1_700_000_000, nanos=250_000_000)
WHEN = datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=timezone.utc)


def test_a_trace_event_becomes_a_frozen_dataclass_with_decoded_data() -> None:
    message = types_pb2.TraceEvent(
        seq=25, ts=TS, type="final", agent_id="a1", run_id="r1", data='{"content": "done"}', trace_id="t", span_id="s"
    )
    event = event_from_proto(message)
    assert event == agentry.TraceEvent(
        seq=25,
        type="final",
        agent_id="a1",
        run_id="r1",
        parent_agent_id="",
        ts=WHEN,
        data={"content": "done"},
        trace_id="t",
        span_id="s",
    )
    assert event.ts.tzinfo is timezone.utc
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.seq = 1  # type: ignore[misc]
    hash(event)


def test_event_data_is_an_object_even_when_empty_or_odd() -> None:
    assert event_data("") == {}
    assert event_data('{"a": [1, 2]}') == {"a": [1, 2]}
    assert event_data("[1]") == {"raw": "[1]"}
    assert event_data("not json") == {"raw": "not json"}


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (types_pb2.RUN_STATUS_UNSPECIFIED, "unspecified"),
        (types_pb2.RUN_STATUS_QUEUED, "queued"),
        (types_pb2.RUN_STATUS_RUNNING, "running"),
        (types_pb2.RUN_STATUS_COMPLETED, "completed"),
        (types_pb2.RUN_STATUS_FAILED, "failed"),
        (types_pb2.RUN_STATUS_CANCELLED, "cancelled"),
        (types_pb2.RUN_STATUS_PAUSED, "paused"),
        (types_pb2.RUN_STATUS_WAITING_APPROVAL, "waiting_approval"),
        (types_pb2.RUN_STATUS_WAITING_CHILDREN, "waiting_children"),
        (99, "unspecified"),
    ],
)
def test_run_statuses_are_lowercase_names(status: int, name: str) -> None:
    run = run_from_proto(types_pb2.Run(run_id="r1", status=status))  # type: ignore[arg-type]
    assert run.status == name


def test_an_agent_keeps_its_spec_and_latest_run() -> None:
    message = types_pb2.Agent(
        agent_id="a1",
        spec=types_pb2.AgentSpec(model="openai:scripted", tools=["echo"], system="be brief"),
        labels={"team": "x"},
        created_at=TS,
        latest_run=types_pb2.Run(run_id="r1", agent_id="a1", status=types_pb2.RUN_STATUS_RUNNING, epoch=2),
        last_seq=7,
        tenant="default",
        forked_from="a0",
    )
    agent = agent_from_proto(message)
    assert (agent.agent_id, agent.model, agent.tools, agent.system) == ("a1", "openai:scripted", ("echo",), "be brief")
    assert agent.labels == {"team": "x"} and agent.created_at == WHEN
    assert agent.latest_run is not None and agent.latest_run.status == "running" and agent.latest_run.epoch == 2
    assert (agent.last_seq, agent.tenant, agent.forked_from, agent.parent_id) == (7, "default", "a0", "")
    assert agent_from_proto(types_pb2.Agent(agent_id="a2")).latest_run is None


def test_unset_timestamps_are_the_epoch_or_none() -> None:
    run = run_from_proto(types_pb2.Run(run_id="r1"))
    assert run.created_at == datetime(1970, 1, 1, tzinfo=timezone.utc)
    node = node_from_proto(types_pb2.Node(node_id="n1", state=types_pb2.NODE_STATE_CORDONED))
    assert node.state == "cordoned" and node.last_heartbeat is None
    assert node_from_proto(types_pb2.Node(last_heartbeat=TS)).last_heartbeat == WHEN


def test_spawn_and_fork_answers() -> None:
    assert spawned_from_proto(hub_pb2.SpawnResponse(agent_id="a1")) == agentry.Spawned("a1", None)
    assert spawned_from_proto(hub_pb2.SpawnResponse(agent_id="a1", run_id="r1")).run_id == "r1"
    forked = forked_from_proto(
        hub_pb2.ForkResponse(forks=[hub_pb2.ForkedAgent(agent_id="f1", run_id="r9")], message_count=3, at_seq=12)
    )
    assert forked == agentry.Forked(forks=(agentry.Spawned("f1", "r9"),), message_count=3, at_seq=12)


def test_spawn_sets_only_what_is_given() -> None:
    bare = build.spawn_request("openai:x")
    assert not bare.HasField("input") and not bare.HasField("max_tokens") and not bare.spec.HasField("temperature")
    full = build.spawn_request(
        "openai:x",
        "hi",
        tools=["echo"],
        system="s",
        labels={"k": "v"},
        max_iterations=3,
        temperature=0.0,
        template="coder",
        vars={"lang": "py"},
        parent_id="p",
        idempotency_key="key",
        max_tokens=100,
        max_cost_usd=0.5,
        node_selector={"gpu": "yes"},
        tool_choice="required",
    )
    assert full.input == "hi" and full.HasField("input")
    assert list(full.spec.tools) == ["echo"] and full.spec.max_iterations == 3
    assert full.spec.HasField("temperature") and full.spec.temperature == 0.0
    assert (full.template, dict(full.vars), full.parent_id, full.idempotency_key) == ("coder", {"lang": "py"}, "p", "key")
    assert (full.max_tokens, full.max_cost_usd) == (100, 0.5)
    assert dict(full.spec.node_selector) == {"gpu": "yes"} and full.spec.tool_choice == "required"
    assert build.spawn_request("m", "   ").input == "   ", "a blank input is the hub's to refuse"


def test_send_maps_on_busy() -> None:
    assert build.send_request("a", "x").on_busy == hub_pb2.ON_BUSY_UNSPECIFIED
    assert build.send_request("a", "x", "reject").on_busy == hub_pb2.ON_BUSY_REJECT
    assert build.send_request("a", "x", "interrupt", "k").idempotency_key == "k"
    with pytest.raises(ValueError, match="on_busy"):
        build.send_request("a", "x", "later")


def test_list_agents_statuses_and_fork_points() -> None:
    request = build.list_agents_request(10, ["running", "waiting_approval"], "team=x")
    assert list(request.statuses) == [types_pb2.RUN_STATUS_RUNNING, types_pb2.RUN_STATUS_WAITING_APPROVAL]
    with pytest.raises(ValueError, match="unknown run status"):
        build.list_agents_request(statuses=["done"])
    assert build.fork_request("a", at_seq=5).WhichOneof("point") == "at_seq"
    assert build.fork_request("a", at_message_index=0).WhichOneof("point") == "at_message_index"
    assert build.fork_request("a").WhichOneof("point") is None
    with pytest.raises(ValueError):
        build.fork_request("a", at_seq=1, at_message_index=1)


def test_trace_requests() -> None:
    request = build.trace_request(run_id="r1", after_seq=3)
    assert (request.run_id, request.agent_id, request.after_seq, request.follow) == ("r1", "", 3, True)
    assert not build.trace_request("a1", follow=False, include_ephemeral=True).follow
    with pytest.raises(ValueError, match="agent_id or a run_id"):
        build.trace_request()
    with pytest.raises(ValueError):
        agentry.Client("http://127.0.0.1:9").trace()
