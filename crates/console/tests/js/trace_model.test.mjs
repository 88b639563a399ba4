// Unit tests of the console's trace model: events → steps, transcript, cost.
// Run: node --test crates/console/tests/js/
import test from 'node:test';
import assert from 'node:assert/strict';

import {
  TraceModel,
  buildSteps,
  buildTranscript,
  costByModel,
  fromGateway,
  layoutStep,
  normalizeEvent,
  stepDuration,
} from '../../web/js/trace_model.js';

const AGENT = 'a0000000-0000-0000-0000-000000000001';
const RUN = 'r0000000-0000-0000-0000-000000000001';
const T0 = Date.parse('2026-01-31T14:03:05.000Z');

/** A trace built like the agent loop writes it; `ms` offsets from T0. */
function trace(specs, { agent = AGENT, run = RUN } = {}) {
  return specs.map(([ms, type, data, extra = {}], i) =>
    normalizeEvent({ seq: i + 1, ts: new Date(T0 + ms).toISOString(), type, agent_id: extra.agent ?? agent, run_id: extra.run ?? run, data }),
  );
}

const basic = () =>
  trace([
    [0, 'run_started', { node_id: 'n1', epoch: 1, resumed: false }],
    [10, 'step_start', { step: 1 }],
    [10, 'model_start', { step: 1, model: 'gpt' }],
    [1010, 'usage', { step: 1, model: 'gpt', prompt_tokens: 100, completion_tokens: 20, total_tokens: 120, cost_usd: 0.01, latency_ms: 1000 }],
    [1020, 'tool_start', { step: 1, tool_call_id: 'c1', name: 'bash', arguments: '{"command":"ls"}' }],
    [1520, 'tool_end', { step: 1, tool_call_id: 'c1', name: 'bash', output: 'a\nb', is_error: false, duration_ms: 500 }],
    [1530, 'step_start', { step: 2 }],
    [1530, 'model_start', { step: 2, model: 'gpt' }],
    [2530, 'usage', { step: 2, model: 'gpt', prompt_tokens: 150, completion_tokens: 30, total_tokens: 180, cost_usd: 0.02, latency_ms: 1000 }],
    [2531, 'final', { content: 'the answer' }],
    [2532, 'run_finished', { steps: 2 }],
  ]);

test('gateway events: seq and data text are decoded', () => {
  const e = fromGateway({ seq: '5', ts: '2026-01-31T14:03:05.100Z', type: 'tool_start', agentId: AGENT, runId: RUN, data: '{"name":"bash"}' });
  assert.equal(e.seq, 5);
  assert.equal(e.ts, T0 + 100);
  assert.deepEqual(e.data, { name: 'bash' });
  assert.equal(e.agentId, AGENT);
  const bad = fromGateway({ seq: '6', ts: '2026-01-31T14:03:05Z', type: 'x', data: 'not json' });
  assert.deepEqual(bad.data, { value: 'not json' });
  const empty = fromGateway({ seq: '7', ts: '2026-01-31T14:03:05Z', type: 'run_resumed' });
  assert.deepEqual(empty.data, {});
});

test('model calls and tool calls become steps with durations', () => {
  const steps = buildSteps(basic());
  assert.deepEqual(
    steps.map((s) => [s.kind, s.seq, s.label]),
    [
      ['model', 2, 'gpt'],
      ['tool', 5, 'bash'],
      ['model', 7, 'gpt'],
    ],
  );
  assert.equal(stepDuration(steps[0]), 1000);
  assert.equal(stepDuration(steps[1]), 500);
  assert.equal(steps[0].usage.totalTokens, 120);
  assert.equal(steps[1].output, 'a\nb');
  assert.ok(steps.every((s) => !s.open));
  assert.deepEqual(steps[0].events.map((e) => e.type), ['step_start', 'model_start', 'usage']);
  assert.equal(steps[0].node, 'n1');
});

test('events are annotated with node and epoch of their run segment', () => {
  const m = new TraceModel();
  m.addMany(basic());
  assert.ok(m.events.every((e) => e.node === 'n1' && e.epoch === 1));
  const run = m.runs.get(RUN);
  assert.equal(run.status, 'completed');
  assert.equal(run.segments.length, 1);
  assert.equal(run.segments[0].end, T0 + 2532);
  assert.equal(m.status, 'completed');
});

test('duplicates (seq <= last seen) are ignored', () => {
  const m = new TraceModel();
  const events = basic();
  m.addMany(events.slice(0, 6));
  assert.equal(m.add(events[3]), null);
  assert.equal(m.add({ ...events[5] }), null);
  const change = m.add(events[6]);
  assert.ok(change);
  assert.equal(m.steps.length, 3);
  assert.equal(m.events.length, 7);
});

test('incremental adds report only what changed', () => {
  const m = new TraceModel();
  const events = basic();
  m.addMany(events.slice(0, 5)); // through tool_start
  const toolStep = m.steps[1];
  assert.equal(toolStep.open, true);
  assert.equal(toolStep.end, null);
  const change = m.add(events[5]); // tool_end
  assert.deepEqual([...change.steps], [toolStep]);
  assert.equal(toolStep.open, false);
  assert.equal(change.entries.size, 1);
  const [entry] = change.entries;
  assert.equal(entry.role, 'tool');
  assert.equal(entry.output, 'a\nb');
});

test('a model call without usage ends at the next event of its run', () => {
  const steps = buildSteps(
    trace([
      [0, 'run_started', { node_id: 'n1', epoch: 1 }],
      [100, 'model_start', { model: 'go-model' }],
      [900, 'tool_start', { tool_call_id: 'x', name: 'echo', arguments: '{}' }],
      [950, 'tool_end', { tool_call_id: 'x', name: 'echo', output: 'hi' }],
    ]),
  );
  assert.equal(steps[0].kind, 'model');
  assert.equal(steps[0].label, 'go-model');
  assert.equal(stepDuration(steps[0]), 800);
  assert.equal(steps[0].open, false);
});

test('a repeated model call for a step is a retry; usage attempts are counted', () => {
  const steps = buildSteps(
    trace([
      [0, 'run_started', { node_id: 'n1', epoch: 1 }],
      [10, 'step_start', { step: 1 }],
      [10, 'model_start', { step: 1, model: 'm' }],
      [500, 'usage', { step: 1, model: 'm', prompt_tokens: 1, completion_tokens: 1, attempts: 3 }],
      [600, 'step_start', { step: 1 }],
      [600, 'model_start', { step: 1, model: 'm' }],
      [900, 'usage', { step: 1, model: 'm', prompt_tokens: 1, completion_tokens: 1 }],
    ]),
  );
  assert.equal(steps.length, 2);
  assert.equal(steps[0].attempt, 1);
  assert.equal(steps[0].retries, 2);
  assert.equal(steps[1].attempt, 2);
});

test('run_moved is a marker with from and to nodes; open calls are cut; segments split', () => {
  const m = new TraceModel();
  m.addMany(
    trace([
      [0, 'run_started', { node_id: 'n1', epoch: 1 }],
      [10, 'step_start', { step: 1 }],
      [10, 'model_start', { step: 1, model: 'm' }],
      [20, 'usage', { step: 1, model: 'm', prompt_tokens: 1, completion_tokens: 1 }],
      [30, 'tool_start', { step: 1, tool_call_id: 'c1', name: 'bash', arguments: '{}' }],
      [2000, 'run_moved', { from_node_id: 'n1', reason: 'lease stream broke', epoch: 2 }],
      [2100, 'run_started', { node_id: 'n2', epoch: 2, resumed: true }],
      [2110, 'tool_interrupted', { step: 1, tool_call_id: 'c1', name: 'bash', policy: 'retry' }],
      [2110, 'tool_start', { step: 1, tool_call_id: 'c1', name: 'bash', arguments: '{}' }],
      [2200, 'tool_end', { step: 1, tool_call_id: 'c1', name: 'bash', output: 'ok' }],
    ]),
  );
  const kinds = m.steps.map((s) => s.kind);
  assert.deepEqual(kinds, ['model', 'tool', 'moved', 'tool']);
  const [, cut, moved, retried] = m.steps;
  assert.equal(cut.cut, true);
  assert.equal(cut.end, T0 + 2000);
  assert.equal(cut.interrupted, 'retry');
  assert.equal(moved.from, 'n1');
  assert.equal(moved.to, 'n2');
  assert.equal(moved.seq, 6);
  assert.equal(retried.attempt, 2);
  assert.equal(retried.node, 'n2');
  const run = m.runs.get(RUN);
  assert.deepEqual(run.segments.map((s) => [s.node, s.epoch, s.end !== null]), [
    ['n1', 1, true],
    ['n2', 2, false],
  ]);
  assert.equal(m.bySeq.get(10).node, 'n2');
  assert.equal(m.bySeq.get(10).epoch, 2);
  // The transcript keeps one tool message for the call, with the final result.
  const tools = m.entries.filter((e) => e.role === 'tool');
  assert.equal(tools.length, 1);
  assert.equal(tools[0].output, 'ok');
});

test('approvals span request to decision', () => {
  const m = new TraceModel();
  m.addMany(
    trace([
      [0, 'run_started', { node_id: 'n1', epoch: 1 }],
      [5, 'approval_requested', { step: 1, tool_call_id: 'c9', name: 'bash', arguments: '{"command":"git push"}', rule: 'git push', requested_ms: T0 + 5, expires_ms: T0 + 60000 }],
    ]),
  );
  assert.equal(m.status, 'waiting_approval');
  const step = m.steps[0];
  assert.equal(step.kind, 'approval');
  assert.equal(step.open, true);
  m.add(trace([[0, 'x', {}]])[0]); // seq 1: a duplicate, ignored
  m.add(normalizeEvent({ seq: 3, ts: new Date(T0 + 5000).toISOString(), type: 'approval_decided', agent_id: AGENT, run_id: RUN, data: { tool_call_id: 'c9', approved: false, actor: 'alice', reason: 'no' } }));
  assert.equal(step.open, false);
  assert.equal(step.state, 'denied');
  assert.equal(stepDuration(step), 4995);
  assert.equal(m.status, 'queued');
});

test('a tool_end without tool_start (refused by policy) is a zero-length step', () => {
  const steps = buildSteps(
    trace([
      [0, 'run_started', { node_id: 'n1', epoch: 1 }],
      [5, 'tool_end', { step: 1, tool_call_id: 'c1', name: 'bash', output: 'error: permission denied', is_error: true, duration_ms: 0, policy: { action: 'deny' } }],
    ]),
  );
  assert.equal(steps.length, 1);
  assert.equal(steps[0].refused, true);
  assert.equal(steps[0].error, true);
  assert.equal(stepDuration(steps[0]), 0);
});

test('events of another agent are one sub-agent step; an `agent` tool is a sub-agent too', () => {
  const child = 'child-agent';
  const steps = buildSteps(
    trace([
      [0, 'run_started', { node_id: 'n1', epoch: 1 }],
      [10, 'tool_start', { tool_call_id: 'c1', name: 'agent', arguments: '{"task":"x"}' }],
      [20, 'run_started', { node_id: 'n2', epoch: 1 }, { agent: child, run: 'cr' }],
      [30, 'usage', { model: 'm', prompt_tokens: 5, completion_tokens: 5 }, { agent: child, run: 'cr' }],
      [40, 'run_finished', {}, { agent: child, run: 'cr' }],
      [50, 'tool_end', { tool_call_id: 'c1', name: 'agent', output: 'done' }],
    ]),
    { rootAgentId: AGENT },
  );
  assert.deepEqual(steps.map((s) => s.kind), ['subagent', 'subagent']);
  assert.equal(steps[0].name, 'agent');
  assert.equal(steps[1].childAgentId, child);
  assert.equal(steps[1].status, 'completed');
  assert.equal(steps[1].tokens, 10);
  assert.equal(stepDuration(steps[1]), 20);
});

test('a parallel_agents delegation is one sub-agent step naming its children; a fork notes its origin', () => {
  const events = trace([
    [0, 'forked_from', { agent_id: 'source-agent', seq: 7, message_count: 4, run_id: '', step: 2 }],
    [5, 'run_started', { node_id: 'n1', epoch: 1 }],
    [
      10,
      'tool_start',
      {
        tool_call_id: 'c1',
        name: 'parallel_agents',
        arguments: '{}',
        children: [
          { agent_id: 'child-a', run_id: 'ra', role: 'coder' },
          { agent_id: 'child-b', run_id: 'rb', role: 'tester' },
        ],
      },
    ],
    [50, 'tool_end', { tool_call_id: 'c1', name: 'parallel_agents', output: '## 1/2: coder' }],
  ]);
  const steps = buildSteps(events, { rootAgentId: AGENT });
  assert.deepEqual(steps.map((s) => s.kind), ['subagent']);
  assert.equal(steps[0].label, 'parallel_agents: coder, tester');
  assert.deepEqual(steps[0].children.map((c) => c.agentId), ['child-a', 'child-b']);
  assert.equal(steps[0].childAgentId, undefined, 'two children: no single child link');
  const notes = buildTranscript(events).filter((entry) => entry.role === 'note');
  assert.equal(notes[0].text, 'forked from agent source-agent at seq 7 (4 messages shared)');
});

test('transcript: user input, tool call and result, final answer, notes', () => {
  const events = trace([
    [0, 'run_started', { node_id: 'n1', epoch: 1, input: 'hello' }],
    [1, 'tool_start', { tool_call_id: 'c1', name: 'echo', arguments: '{"text":"x"}' }],
    [2, 'tool_end', { tool_call_id: 'c1', name: 'echo', output: 'x' }],
    [3, 'final', { content: 'bye' }],
    [4, 'run_finished', {}],
  ]);
  events.push(normalizeEvent({ seq: 6, ts: new Date(T0 + 10).toISOString(), type: 'run_started', agent_id: AGENT, run_id: 'r2', data: { node_id: 'n1', epoch: 1 } }));
  events.push(normalizeEvent({ seq: 7, ts: new Date(T0 + 11).toISOString(), type: 'run_failed', agent_id: AGENT, run_id: 'r2', data: { error: 'model call failed: boom' } }));
  const entries = buildTranscript(events);
  assert.deepEqual(
    entries.map((e) => [e.role, e.role === 'tool' ? e.name : e.text]),
    [
      ['user', 'hello'],
      ['tool', 'echo'],
      ['assistant', 'bye'],
      ['user', null],
      ['note', 'run failed: model call failed: boom'],
    ],
  );
  assert.equal(entries[1].arguments, '{"text":"x"}');
  assert.equal(entries[1].output, 'x');
});

test('a resumed run_started does not add a second user message', () => {
  const entries = buildTranscript(
    trace([
      [0, 'run_started', { node_id: 'n1', epoch: 1 }],
      [5, 'run_paused', { reason: 'ops' }],
      [6, 'run_resumed', {}],
      [7, 'run_started', { node_id: 'n2', epoch: 3, resumed: true }],
    ]),
  );
  assert.equal(entries.filter((e) => e.role === 'user').length, 1);
});

test('cost per model and per run from usage events', () => {
  const m = new TraceModel();
  m.addMany(basic());
  m.add(normalizeEvent({ seq: 12, ts: new Date(T0 + 3000).toISOString(), type: 'run_started', agent_id: AGENT, run_id: 'r2', data: { node_id: 'n1', epoch: 1 } }));
  m.add(normalizeEvent({ seq: 13, ts: new Date(T0 + 3500).toISOString(), type: 'usage', agent_id: AGENT, run_id: 'r2', data: { model: 'claude', prompt_tokens: 1000, completion_tokens: 10, cost_usd: 0.5 } }));
  assert.deepEqual(
    m.costByModel().map((c) => [c.model, c.calls, c.inputTokens, c.outputTokens, c.totalTokens]),
    [
      ['claude', 1, 1000, 10, 1010],
      ['gpt', 2, 250, 50, 300],
    ],
  );
  assert.ok(Math.abs(m.costTotal.costUsd - 0.53) < 1e-9);
  const byRun = m.costByRun();
  assert.equal(byRun.length, 2);
  assert.equal(byRun[0].calls, 2);
  assert.equal(byRun[1].totalTokens, 1010);
  assert.deepEqual(costByModel(basic()).map((c) => c.model), ['gpt']);
});

test('layout places bars on the shared time axis; open bars run to the end', () => {
  const bounds = { min: 0, max: 1000 };
  assert.deepEqual(layoutStep({ start: 100, end: 600 }, bounds), { left: 10, width: 50 });
  assert.deepEqual(layoutStep({ start: 500, end: null }, bounds), { left: 50, width: 50 });
  assert.deepEqual(layoutStep({ start: 1000, end: 1000 }, bounds), { left: 100, width: 0 });
});

test('token events stream text per run without touching the steps', () => {
  const m = new TraceModel();
  m.addMany(basic().slice(0, 1));
  const t1 = normalizeEvent({ seq: 0, ts: new Date(T0 + 5).toISOString(), type: 'token', agent_id: AGENT, run_id: RUN, data: { step: 1, text: 'Hel' } });
  const t2 = normalizeEvent({ seq: 0, ts: new Date(T0 + 6).toISOString(), type: 'token', agent_id: AGENT, run_id: RUN, data: { step: 1, text: 'lo' } });
  m.add(t1);
  const change = m.add(t2);
  assert.ok(change.streaming.has(RUN));
  assert.equal(m.streams.get(RUN).text, 'Hello');
  assert.equal(m.steps.length, 0);
  assert.equal(m.lastSeq, 1);
});

test('500 steps build fast and incrementally', () => {
  const specs = [[0, 'run_started', { node_id: 'n1', epoch: 1 }]];
  let t = 1;
  for (let i = 1; i <= 250; i++) {
    specs.push([t, 'step_start', { step: i }], [t, 'model_start', { step: i, model: 'm' }], [t + 5, 'usage', { step: i, model: 'm', prompt_tokens: 10, completion_tokens: 1 }]);
    specs.push([t + 6, 'tool_start', { step: i, tool_call_id: `c${i}`, name: 'echo', arguments: '{}' }], [t + 8, 'tool_end', { step: i, tool_call_id: `c${i}`, name: 'echo', output: 'x' }]);
    t += 10;
  }
  const events = trace(specs);
  const m = new TraceModel();
  const started = performance.now();
  let changed = 0;
  for (const e of events) changed += m.add(e).steps.size;
  const elapsed = performance.now() - started;
  assert.equal(m.steps.length, 500);
  assert.ok(changed <= events.length, 'each event changes at most one step');
  assert.ok(elapsed < 500, `took ${elapsed} ms`);
});
