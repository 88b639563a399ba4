"""The conformance scenario (sdk/conformance/README.md) with the blocking `agentry.Client`,
against an `agentry dev` of its own."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

import agentry
from conformance import (
    BLANK_INPUT,
    check_across_restart,
    check_followed_run,
    check_invalid_argument,
    check_not_found,
    check_trace_after,
    Scenario,
    random_run_id,
)
from harness import DevCluster

pytestmark = pytest.mark.conformance


def test_step1_spawn_and_follow(dev: DevCluster, scenario: Scenario, state: Dict[str, Any]) -> None:
    with agentry.Client(dev.url) as client:
        spawned = client.spawn(scenario.model, scenario.input, tools=scenario.tools)
        assert spawned.agent_id and spawned.run_id
        events = list(client.trace(run_id=spawned.run_id))
        check_followed_run(events, spawned.run_id, scenario.answer)
        assert client.get_run(spawned.run_id).status == "completed"
    state["step1"] = (spawned, events)


def test_step2_trace_after_k(dev: DevCluster, scenario: Scenario, state: Dict[str, Any]) -> None:
    assert "step1" in state, "step 1 did not pass"
    spawned, followed = state["step1"]
    with agentry.Client(dev.url) as client:
        after = list(client.trace(spawned.agent_id, after_seq=scenario.trace_after, follow=False))
    check_trace_after(after, followed, scenario.trace_after)


def test_step3_reconnect_across_a_hub_restart(dev: DevCluster, scenario: Scenario) -> None:
    with agentry.Client(dev.url) as client:
        spawned = client.spawn(scenario.model, scenario.input, tools=scenario.tools)
        assert spawned.run_id
        received: List[agentry.TraceEvent] = []
        first_pid = dev.pid
        for event in client.trace(run_id=spawned.run_id):
            received.append(event)
            if event.type == scenario.restart_after_event and dev.pid == first_pid:
                dev.restart()
        assert dev.pid != first_pid, f"no {scenario.restart_after_event} event: the hub was not restarted"
        fresh = list(client.trace(spawned.agent_id, follow=False))
    check_across_restart(received, fresh, spawned.run_id)


def test_step4_errors(dev: DevCluster, scenario: Scenario) -> None:
    with agentry.Client(dev.url) as client:
        run_id = random_run_id()
        with pytest.raises(agentry.AgentryError) as not_found:
            client.get_run(run_id)
        check_not_found(not_found.value, run_id)
        with pytest.raises(agentry.AgentryError) as invalid:
            client.spawn(scenario.model, BLANK_INPUT, tools=scenario.tools)
        check_invalid_argument(invalid.value)


def test_an_agent_trace_reconnects_after_a_restart(dev: DevCluster, scenario: Scenario) -> None:
    """Beyond the scenario: an agent's followed trace has no end, so a restart must break it;
    the next run's events can only arrive over a reopened stream."""
    with agentry.Client(dev.url) as client:
        spawned = client.spawn(scenario.model, scenario.input, tools=scenario.tools)
        events = client.trace(spawned.agent_id)
        first: List[agentry.TraceEvent] = []
        for event in events:
            first.append(event)
            if event.type in agentry.ENDS_RUN:
                break
        dev.restart()
        sent = client.send(spawned.agent_id, scenario.input)
        assert sent.accepted
        second: List[agentry.TraceEvent] = []
        for event in events:
            second.append(event)
            if event.type in agentry.ENDS_RUN:
                break
    seqs = [event.seq for event in first + second]
    assert seqs == list(range(1, len(seqs) + 1))
    assert {event.run_id for event in second} == {sent.run_id}
    assert second[-1].type == "run_finished"
