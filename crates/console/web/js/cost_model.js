// Pure helpers of the Cost view (no DOM): the GetCost requests of a time window and the
// heat-map matrix (rows = models, columns = time buckets) built from GetCost rows.

import { num, parseTs } from './format.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The windows of the selector: the window length (null: all time) and the heat-map bucket. */
export const WINDOWS = {
  '1h': { label: '1 h', windowMs: HOUR, bucketMs: MINUTE },
  '24h': { label: '24 h', windowMs: DAY, bucketMs: HOUR },
  '7d': { label: '7 d', windowMs: 7 * DAY, bucketMs: HOUR },
  all: { label: 'all', windowMs: null, bucketMs: DAY },
};

/** Most columns drawn (an "all" window over years keeps its last buckets). */
export const MAX_COLUMNS = 400;

/** The GetCost request body for `by` (`COST_GROUPING_MODEL`, …) over window `key`, with buckets or not. */
export function costRequest(by, key, withBuckets = false) {
  const w = WINDOWS[key] ?? WINDOWS['24h'];
  const body = { by };
  if (w.windowMs !== null) body.windowMs = String(w.windowMs);
  if (withBuckets) body.bucketMs = String(w.bucketMs);
  return body;
}

/** A GetCost row with numbers: `{key, calls, inputTokens, outputTokens, totalTokens, costUsd, bucketStart}`. */
export function costRow(row) {
  return {
    key: row.key ?? '',
    calls: num(row.calls),
    inputTokens: num(row.inputTokens),
    outputTokens: num(row.outputTokens),
    totalTokens: num(row.totalTokens),
    costUsd: num(row.costUsd),
    bucketStart: row.bucketStart ? parseTs(row.bucketStart) : null,
  };
}

/** Sums rows (e.g. for a "total" line). */
export function sumRows(rows) {
  const t = { calls: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, costUsd: 0 };
  for (const r of rows) {
    t.calls += r.calls;
    t.inputTokens += r.inputTokens;
    t.outputTokens += r.outputTokens;
    t.totalTokens += r.totalTokens;
    t.costUsd += r.costUsd;
  }
  return t;
}

/**
 * The heat-map of bucketed rows (GetCost by model with bucketMs): `{models, buckets, cells, max}`
 * where `buckets` are the bucket starts (ms) of every column from the window's start (or the
 * first row, for "all") to now, `cells[i][j]` the row of model i in bucket j (or null) and `max`
 * the largest value of `metric` (`tokens` or `usd`) for the color scale. Models are ordered by
 * their total of the metric, largest first.
 */
export function heatmap(rows, { windowKey = '24h', now = Date.now(), metric = 'tokens' } = {}) {
  const w = WINDOWS[windowKey] ?? WINDOWS['24h'];
  const bucketMs = w.bucketMs;
  const items = rows.map((r) => (typeof r.calls === 'number' ? r : costRow(r))).filter((r) => r.bucketStart !== null && Number.isFinite(r.bucketStart));
  const last = Math.floor(now / bucketMs) * bucketMs;
  let firstBucket;
  if (w.windowMs !== null) {
    firstBucket = Math.floor((now - w.windowMs) / bucketMs) * bucketMs + bucketMs;
  } else {
    firstBucket = items.length ? Math.min(...items.map((r) => Math.floor(r.bucketStart / bucketMs) * bucketMs)) : last;
  }
  if (items.length) {
    // Rows later than now (clock skew) widen the range rather than vanish.
    const maxRow = Math.max(...items.map((r) => Math.floor(r.bucketStart / bucketMs) * bucketMs));
    if (maxRow > last) return heatmap(rows, { windowKey, now: maxRow, metric });
  }
  let start = Math.min(firstBucket, last);
  if ((last - start) / bucketMs + 1 > MAX_COLUMNS) start = last - (MAX_COLUMNS - 1) * bucketMs;
  const buckets = [];
  for (let t = start; t <= last; t += bucketMs) buckets.push(t);
  const value = (r) => (metric === 'usd' ? r.costUsd : r.totalTokens);
  const inRange = items.filter((r) => {
    const b = Math.floor(r.bucketStart / bucketMs) * bucketMs;
    return b >= start && b <= last;
  });
  const totals = new Map();
  for (const r of inRange) totals.set(r.key, (totals.get(r.key) ?? 0) + value(r));
  const models = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a) || a.localeCompare(b));
  const index = new Map(models.map((m, i) => [m, i]));
  const cells = models.map(() => buckets.map(() => null));
  let max = 0;
  for (const r of inRange) {
    const j = Math.round((Math.floor(r.bucketStart / bucketMs) * bucketMs - start) / bucketMs);
    if (j < 0 || j >= buckets.length) continue;
    const i = index.get(r.key);
    const prev = cells[i][j];
    const merged = prev
      ? { ...prev, calls: prev.calls + r.calls, inputTokens: prev.inputTokens + r.inputTokens, outputTokens: prev.outputTokens + r.outputTokens, totalTokens: prev.totalTokens + r.totalTokens, costUsd: prev.costUsd + r.costUsd }
      : { ...r };
    cells[i][j] = merged;
    max = Math.max(max, value(merged));
  }
  return { models, buckets, cells, max, bucketMs };
}

/** Color intensity 0–1 of a cell value against the map's max (square root: small values stay visible). */
export function intensity(value, max) {
  if (!value || !max) return 0;
  return Math.min(1, Math.max(0.08, Math.sqrt(value / max)));
}
