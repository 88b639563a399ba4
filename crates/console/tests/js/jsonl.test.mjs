// Unit tests of the replay's trace file reader.
import test from 'node:test';
import assert from 'node:assert/strict';

import { parseTraceText } from '../../web/js/jsonl.js';
import { buildSteps } from '../../web/js/trace_model.js';

test('agentry --jsonl lines are read with their seq, run and data object', () => {
  const text = [
    '{"seq":1,"ts":"2025-01-31T14:03:05.000Z","type":"run_started","agent_id":"a","run_id":"r","data":{"node_id":"n1","epoch":1}}',
    '',
    '{"seq":2,"ts":"2025-01-31T14:03:05.100Z","type":"tool_start","agent_id":"a","run_id":"r","data":{"tool_call_id":"c","name":"bash","arguments":"{\\"command\\":\\"ls\\"}"}}',
    '{"seq":3,"ts":"2025-01-31T14:03:06.100Z","type":"tool_end","agent_id":"a","run_id":"r","data":{"tool_call_id":"c","name":"bash","output":"x"}}',
  ].join('\n');
  const parsed = parseTraceText(text);
  assert.deepEqual(parsed.errors, []);
  assert.equal(parsed.events.length, 3);
  assert.deepEqual(parsed.events.map((e) => [e.seq, e.type, e.runId]), [
    [1, 'run_started', 'r'],
    [2, 'tool_start', 'r'],
    [3, 'tool_end', 'r'],
  ]);
  assert.equal(parsed.events[1].data.name, 'bash');
  const steps = buildSteps(parsed.events);
  assert.equal(steps.length, 1);
  assert.equal(steps[0].end - steps[0].start, 1000);
});

test('Go agentry lines get seqs from 1, runs and wrapped data', () => {
  const text = [
    '{"ts":"2025-01-31T14:03:05.123456789+01:00","type":"run_started","agent_id":"a","data":{}}',
    '{"ts":"2025-01-31T14:03:06Z","type":"final","agent_id":"a","data":"the answer"}',
    '{"ts":"2025-01-31T14:03:06Z","type":"run_finished","agent_id":"a","data":null}',
    '{"ts":"2025-01-31T14:04:00Z","type":"tool_end","agent_id":"a","data":42}',
    '{"type":"x"}',
  ].join('\r\n');
  const parsed = parseTraceText(text);
  assert.deepEqual(parsed.errors, []);
  assert.deepEqual(
    parsed.events.map((e) => [e.seq, e.type, e.runId, JSON.stringify(e.data)]),
    [
      [1, 'run_started', 'run-1', '{}'],
      [2, 'final', 'run-1', '{"content":"the answer"}'],
      [3, 'run_finished', 'run-1', '{}'],
      [4, 'tool_end', 'run-2', '{"value":42}'],
      [5, 'x', 'run-2', '{}'],
    ],
  );
  assert.equal(parsed.events[0].ts, Date.parse('2025-01-31T13:03:05.123Z'));
  assert.equal(parsed.events[4].agentId, 'agent');
});

test('bad lines are reported with line number and reason; the rest is kept', () => {
  const text = [
    '{"seq":1,"type":"run_started","agent_id":"a","run_id":"r","data":{}}',
    'not json',
    '[1]',
    '{"seq":-1,"type":"x","agent_id":"a","run_id":"r"}',
    '{"seq":2,"agent_id":"a","run_id":"r"}',
    '{"seq":3,"type":"x","agent_id":"","run_id":"r"}',
    '{"seq":4,"type":"x","agent_id":"a","run_id":7}',
    '{"seq":5,"type":"x","agent_id":"a","run_id":"r","ts":"yesterday"}',
    '{"seq":1,"type":"x","agent_id":"a","run_id":"r"}',
    '{"seq":0,"type":"token","agent_id":"a","run_id":"r","data":{"text":"hi"}}',
    '{"seq":6,"type":"final","agent_id":"a","run_id":"r","data":{"content":"ok"}}',
  ].join('\n');
  const parsed = parseTraceText(text);
  assert.deepEqual(parsed.events.map((e) => e.seq), [1, 6]);
  assert.equal(parsed.ephemeral, 1);
  assert.deepEqual(parsed.errors.map((e) => e.line), [2, 3, 4, 5, 6, 7, 8, 9]);
  const reasons = Object.fromEntries(parsed.errors.map((e) => [e.line, e.reason]));
  assert.match(reasons[2], /^not JSON/);
  assert.equal(reasons[3], 'an array is not a JSON object');
  assert.match(reasons[4], /seq must be a whole number/);
  assert.equal(reasons[5], 'type is missing');
  assert.equal(reasons[6], 'agent_id is empty');
  assert.equal(reasons[7], 'run_id must be a string, not a number');
  assert.match(reasons[8], /not an RFC 3339 time/);
  assert.match(reasons[9], /seq 1 does not follow seq 1 of line 1/);
});

test('an empty file has no events and no errors', () => {
  assert.deepEqual(parseTraceText(''), { events: [], errors: [], ephemeral: 0, lines: 0 });
});
