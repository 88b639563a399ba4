"""The conformance scenario (sdk/conformance/README.md) with `agentry.AsyncClient` on asyncio,
against an `agentry dev` of its own."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

import agentry
from conformance import (
    BLANK_INPUT,
    Scenario,
    check_across_restart,
    check_followed_run,
    check_invalid_argument,
    check_not_found,
    check_trace_after,
    random_run_id,
)
from harness import DevCluster

pytestmark = [pytest.mark.conformance, pytest.mark.asyncio]


async def test_step1_spawn_and_follow(dev: DevCluster, scenario: Scenario, state: Dict[str, Any]) -> None:
    async with agentry.AsyncClient(dev.url) as client:
        spawned = await client.spawn(scenario.model, scenario.input, tools=scenario.tools)
        assert spawned.agent_id and spawned.run_id
        events = [event async for event in client.trace(run_id=spawned.run_id)]
        check_followed_run(events, spawned.run_id, scenario.answer)
        assert (await client.get_run(spawned.run_id)).status == "completed"
    state["step1"] = (spawned, events)


async def test_step2_trace_after_k(dev: DevCluster, scenario: Scenario, state: Dict[str, Any]) -> None:
    assert "step1" in state, "step 1 did not pass"
    spawned, followed = state["step1"]
    async with agentry.AsyncClient(dev.url) as client:
        trace = client.trace(spawned.agent_id, after_seq=scenario.trace_after, follow=False)
        after = [event async for event in trace]
    check_trace_after(after, followed, scenario.trace_after)


async def test_step3_reconnect_across_a_hub_restart(dev: DevCluster, scenario: Scenario) -> None:
    loop = asyncio.get_running_loop()
    async with agentry.AsyncClient(dev.url) as client:
        spawned = await client.spawn(scenario.model, scenario.input, tools=scenario.tools)
        assert spawned.run_id
        received: List[agentry.TraceEvent] = []
        first_pid = dev.pid
        async for event in client.trace(run_id=spawned.run_id):
            received.append(event)
            if event.type == scenario.restart_after_event and dev.pid == first_pid:
                # Blocking process control off the event loop; the stream stays open meanwhile.
                await loop.run_in_executor(None, dev.restart)
        assert dev.pid != first_pid, f"no {scenario.restart_after_event} event: the hub was not restarted"
        fresh = [event async for event in client.trace(spawned.agent_id, follow=False)]
    check_across_restart(received, fresh, spawned.run_id)


async def test_step4_errors(dev: DevCluster, scenario: Scenario) -> None:
    async with agentry.AsyncClient(dev.url) as client:
        run_id = random_run_id()
        with pytest.raises(agentry.AgentryError) as not_found:
            await client.get_run(run_id)
        check_not_found(not_found.value, run_id)
        with pytest.raises(agentry.AgentryError) as invalid:
            await client.spawn(scenario.model, BLANK_INPUT, tools=scenario.tools)
        check_invalid_argument(invalid.value)


async def test_an_agent_trace_reconnects_after_a_restart(dev: DevCluster, scenario: Scenario) -> None:
    """Beyond the scenario: an agent's followed trace has no end, so a restart must break it;
    the next run's events can only arrive over a reopened stream."""
    loop = asyncio.get_running_loop()
    async with agentry.AsyncClient(dev.url) as client:
        spawned = await client.spawn(scenario.model, scenario.input, tools=scenario.tools)
        events = client.trace(spawned.agent_id)
        first: List[agentry.TraceEvent] = []
        async for event in events:
            first.append(event)
            if event.type in agentry.ENDS_RUN:
                break
        await loop.run_in_executor(None, dev.restart)
        sent = await client.send(spawned.agent_id, scenario.input)
        assert sent.accepted
        second: List[agentry.TraceEvent] = []
        async for event in events:
            second.append(event)
            if event.type in agentry.ENDS_RUN:
                break
        await events.aclose()
    seqs = [event.seq for event in first + second]
    assert seqs == list(range(1, len(seqs) + 1))
    assert {event.run_id for event in second} == {sent.run_id}
    assert second[-1].type == "run_finished"
