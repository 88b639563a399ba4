// Unit tests of the pure helpers of the views: formatting, routes, runs filters and pages, the
// cost heat-map.
import test from 'node:test';
import assert from 'node:assert/strict';

import { ago, compactJson, fmtDuration, fmtInt, fmtUsd, nodeStateName, num, parseTs, prettyJson, runStatusEnum, runStatusName, shortId, truncate } from '../../web/js/format.js';
import { agentHref, parseRoute } from '../../web/js/routes.js';
import { PAGE_SIZE, Pager, filtersToQuery, listAgentsRequest, queryToFilters } from '../../web/js/runs_model.js';
import { costRequest, costRow, heatmap, intensity } from '../../web/js/cost_model.js';

test('statuses and states from proto enums', () => {
  assert.equal(runStatusName('RUN_STATUS_WAITING_APPROVAL'), 'waiting_approval');
  assert.equal(runStatusName('RUN_STATUS_RUNNING'), 'running');
  assert.equal(runStatusName(undefined), '');
  assert.equal(runStatusName(3), 'completed');
  assert.equal(runStatusEnum('dead_lettered'), 'RUN_STATUS_DEAD_LETTERED');
  assert.equal(nodeStateName('NODE_STATE_CORDONED'), 'cordoned');
  assert.equal(nodeStateName(undefined), 'unknown');
});

test('numbers, ids, durations, money', () => {
  assert.equal(num('12'), 12);
  assert.equal(num(undefined), 0);
  assert.equal(num('x'), 0);
  assert.equal(shortId('01a23ba1-4b96-75dc-a8a9-23498e26e5b8'), '01a23ba1…26e5b8');
  assert.equal(shortId('run-1'), 'run-1');
  assert.equal(shortId('some-long-imported-id'), 'some-lon…');
  assert.equal(fmtDuration(850), '850 ms');
  assert.equal(fmtDuration(1234), '1.2 s');
  assert.equal(fmtDuration(42000), '42 s');
  assert.equal(fmtDuration(123000), '2 min 3 s');
  assert.equal(fmtDuration(3720000), '1 h 2 min');
  assert.equal(fmtInt(1234567), '1,234,567');
  assert.equal(fmtUsd(0), '$0');
  assert.equal(fmtUsd(0.00123), '$0.0012');
  assert.equal(fmtUsd(0.0000286), '$0.000029');
  assert.equal(fmtUsd(1.5), '$1.50');
  assert.deepEqual(truncate('abcdef', 4), { text: 'abcd', truncated: true });
  assert.deepEqual(truncate('ab', 4), { text: 'ab', truncated: false });
  assert.equal(prettyJson('{"a":1}'), '{\n  "a": 1\n}');
  assert.equal(prettyJson('plain'), 'plain');
  assert.equal(compactJson('{ "text" : "hi" }'), '{"text":"hi"}');
  assert.equal(compactJson(JSON.stringify({ a: 'x'.repeat(120) })), `{\n  "a": "${'x'.repeat(120)}"\n}`);
  assert.equal(compactJson('not json'), 'not json');
});

test('RFC 3339 times with offsets and nanoseconds; "ago"', () => {
  assert.equal(parseTs('2025-01-31T14:03:05Z'), Date.UTC(2025, 0, 31, 14, 3, 5));
  assert.equal(parseTs('2025-01-31T16:03:05.5+02:00'), Date.UTC(2025, 0, 31, 14, 3, 5, 500));
  assert.equal(parseTs('2025-01-31T14:03:05.123456789Z'), Date.UTC(2025, 0, 31, 14, 3, 5, 123));
  assert.ok(Number.isNaN(parseTs('')));
  assert.ok(Number.isNaN(parseTs('yesterday')));
  const now = Date.UTC(2025, 0, 31, 14, 3, 8);
  assert.equal(ago('2025-01-31T14:03:05Z', now), '3 s ago');
  assert.equal(ago('2025-01-31T14:00:05Z', now), '3 min ago');
  assert.equal(ago('', now), '');
});

test('hash routes', () => {
  assert.deepEqual(parseRoute(''), { view: 'runs', query: '' });
  assert.deepEqual(parseRoute('#/runs?status=running'), { view: 'runs', query: 'status=running' });
  assert.deepEqual(parseRoute('#/agents/abc'), { view: 'agent', agentId: 'abc', tab: 'timeline', query: '' });
  assert.deepEqual(parseRoute('#/agents/abc/transcript'), { view: 'agent', agentId: 'abc', tab: 'transcript', query: '' });
  assert.deepEqual(parseRoute('#/agents/abc/bogus'), { view: 'agent', agentId: 'abc', tab: 'timeline', query: '' });
  assert.equal(parseRoute('#/nodes').view, 'nodes');
  assert.equal(parseRoute('#/cost?window=7d').query, 'window=7d');
  assert.equal(parseRoute('#/replay').view, 'replay');
  assert.equal(parseRoute('#/nowhere').view, 'runs');
  assert.equal(agentHref('abc'), '#/agents/abc');
  assert.equal(agentHref('abc', 'cost'), '#/agents/abc/cost');
});

test('ListAgents requests from the filters', () => {
  assert.deepEqual(listAgentsRequest({}), { limit: PAGE_SIZE });
  assert.deepEqual(listAgentsRequest({ statuses: new Set(['running', 'waiting_approval']), query: '  gpt ', pageToken: 'tok' }), {
    limit: 100,
    statuses: ['RUN_STATUS_RUNNING', 'RUN_STATUS_WAITING_APPROVAL'],
    query: 'gpt',
    pageToken: 'tok',
  });
  assert.deepEqual(listAgentsRequest({ statuses: ['dead_lettered'] }), { limit: 100, deadLettered: true });
  assert.deepEqual(listAgentsRequest({ statuses: ['failed', 'dead_lettered'] }), { limit: 100, statuses: ['RUN_STATUS_FAILED'], deadLettered: true });
});

test('filters round-trip through the URL', () => {
  const q = filtersToQuery({ statuses: new Set(['failed', 'running']), query: 'env=prod' });
  assert.equal(q, 'status=running%2Cfailed&q=env%3Dprod');
  const back = queryToFilters(q);
  assert.deepEqual([...back.statuses], ['running', 'failed']);
  assert.equal(back.query, 'env=prod');
  assert.deepEqual([...queryToFilters('status=bogus,paused').statuses], ['paused']);
});

test('pager keeps a stack of previous tokens', () => {
  const p = new Pager();
  assert.equal(p.page, 1);
  assert.equal(p.next(), null);
  p.loaded('t2');
  assert.equal(p.hasNext, true);
  assert.equal(p.next(), 't2');
  p.loaded('t3');
  assert.equal(p.next(), 't3');
  p.loaded('');
  assert.equal(p.page, 3);
  assert.equal(p.hasNext, false);
  assert.equal(p.prev(), 't2');
  assert.equal(p.prev(), '');
  assert.equal(p.prev(), null);
  assert.equal(p.page, 1);
});

test('GetCost requests per window', () => {
  assert.deepEqual(costRequest('COST_GROUPING_MODEL', '1h', true), { by: 'COST_GROUPING_MODEL', windowMs: '3600000', bucketMs: '60000' });
  assert.deepEqual(costRequest('COST_GROUPING_AGENT', '24h'), { by: 'COST_GROUPING_AGENT', windowMs: '86400000' });
  assert.deepEqual(costRequest('COST_GROUPING_MODEL', '7d', true), { by: 'COST_GROUPING_MODEL', windowMs: '604800000', bucketMs: '3600000' });
  assert.deepEqual(costRequest('COST_GROUPING_MODEL', 'all', true), { by: 'COST_GROUPING_MODEL', bucketMs: '86400000' });
});

test('heat-map: models × buckets over the window, values merged, max for the scale', () => {
  const now = Date.UTC(2026, 0, 31, 12, 30, 0);
  const rows = [
    { key: 'gpt', calls: '2', totalTokens: '300', costUsd: 0.1, bucketStart: '2026-01-31T12:29:00Z' },
    { key: 'gpt', calls: '1', totalTokens: '100', costUsd: 0.05, bucketStart: '2026-01-31T12:00:00Z' },
    { key: 'claude', calls: '1', totalTokens: '1000', costUsd: 0.01, bucketStart: '2026-01-31T12:29:00Z' },
    { key: 'old', calls: '1', totalTokens: '5', bucketStart: '2026-01-31T10:00:00Z' },
  ];
  const map = heatmap(rows, { windowKey: '1h', now, metric: 'tokens' });
  assert.equal(map.buckets.length, 60);
  assert.equal(map.buckets[59], Date.UTC(2026, 0, 31, 12, 30));
  assert.equal(map.buckets[0], Date.UTC(2026, 0, 31, 11, 31));
  assert.deepEqual(map.models, ['claude', 'gpt'], 'models without a call in the window have no row');
  assert.equal(map.cells[0][58].totalTokens, 1000);
  assert.equal(map.cells[1][58].totalTokens, 300);
  assert.equal(map.cells[1][29].totalTokens, 100);
  assert.equal(map.cells[1][30], null);
  assert.equal(map.max, 1000);
  const usd = heatmap(rows, { windowKey: '1h', now, metric: 'usd' });
  assert.deepEqual(usd.models.slice(0, 2), ['gpt', 'claude']);
  assert.equal(usd.max, 0.1);
  assert.equal(intensity(0, 10), 0);
  assert.equal(intensity(10, 10), 1);
  assert.ok(intensity(1, 1000) >= 0.08);
});

test('heat-map "all" starts at the first bucket with data', () => {
  const now = Date.UTC(2026, 0, 31, 12);
  const rows = [costRow({ key: 'm', calls: '1', totalTokens: '10', bucketStart: '2026-01-29T00:00:00Z' })];
  const map = heatmap(rows, { windowKey: 'all', now });
  assert.deepEqual(map.buckets, [Date.UTC(2026, 0, 29), Date.UTC(2026, 0, 30), Date.UTC(2026, 0, 31)]);
  assert.equal(map.cells[0][0].totalTokens, 10);
  assert.deepEqual(heatmap([], { windowKey: 'all', now }).models, []);
});
