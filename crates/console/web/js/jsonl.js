// Reading a trace file in the browser (pure, no DOM): the lines of `agentry trace AGENT --jsonl`
// (`{"seq","ts","type","agent_id","run_id","data":{…}}`) and the Go agentry's trace files
// (`{ts, type, agent_id, data}`, no seq). The same defaults as `agentry trace import`
// (crates/cli/src/commands/trace/jsonl.rs): a missing seq is the previous one plus 1; a missing
// run_id is the previous line's, a new run (`run-2`, …) after an event that ends one; a missing
// agent_id is `agent`; data that is not an object is wrapped (`{content}` for `final`, else
// `{value}`). Unlike the import, a bad line does not stop the rest: it is reported with its
// line number and reason, and skipped.

import { normalizeEvent, RUN_END_TYPES } from './trace_model.js';
import { parseTs } from './format.js';

function kindOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'boolean') return 'a boolean';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'string') return 'a string';
  return 'an object';
}

function optionalText(object, key) {
  const v = object[key];
  if (v === undefined || v === null) return { value: undefined };
  if (typeof v !== 'string') return { error: `${key} must be a string, not ${kindOf(v)}` };
  if (v === '') return { error: `${key} is empty` };
  return { value: v };
}

/**
 * Parses the text of a trace file. Returns `{events, errors, ephemeral, lines}`: the normalized
 * events in file order, `{line, reason}` for each line skipped as bad, the count of ephemeral
 * lines (seq 0) skipped and the count of non-blank lines.
 */
export function parseTraceText(text) {
  const events = [];
  const errors = [];
  let ephemeral = 0;
  let lines = 0;
  let lastSeq = 0;
  let lastSeqLine = 0;
  let runId = null;
  let runs = 0;
  let runEnded = false;
  const all = String(text ?? '').split(/\r?\n/);
  for (let i = 0; i < all.length; i++) {
    const number = i + 1;
    const line = all[i];
    if (line.trim() === '') continue;
    lines++;
    let value;
    try {
      value = JSON.parse(line);
    } catch (err) {
      errors.push({ line: number, reason: `not JSON: ${err.message}` });
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      errors.push({ line: number, reason: `${kindOf(value)} is not a JSON object` });
      continue;
    }
    let seq;
    if (value.seq !== undefined && value.seq !== null) {
      const n = typeof value.seq === 'string' && /^\d+$/.test(value.seq) ? Number(value.seq) : value.seq;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
        errors.push({ line: number, reason: `seq must be a whole number, not ${JSON.stringify(value.seq)}` });
        continue;
      }
      seq = n;
    }
    if (typeof value.type !== 'string' || value.type === '') {
      errors.push({ line: number, reason: value.type === undefined || value.type === null ? 'type is missing' : 'type must be a non-empty string' });
      continue;
    }
    const agent = optionalText(value, 'agent_id');
    const run = optionalText(value, 'run_id');
    const bad = agent.error ?? run.error;
    if (bad) {
      errors.push({ line: number, reason: bad });
      continue;
    }
    if (value.ts !== undefined && value.ts !== null) {
      if (typeof value.ts !== 'string' || !Number.isFinite(parseTs(value.ts))) {
        errors.push({ line: number, reason: `ts ${JSON.stringify(value.ts)} is not an RFC 3339 time` });
        continue;
      }
    }
    const s = seq === undefined ? lastSeq + 1 : seq;
    if (s === 0) {
      ephemeral++;
      continue;
    }
    if (s <= lastSeq) {
      errors.push({ line: number, reason: `seq ${s} does not follow seq ${lastSeq} of line ${lastSeqLine}; seqs must increase` });
      continue;
    }
    lastSeq = s;
    lastSeqLine = number;
    let rid = run.value;
    if (rid === undefined) {
      if (runId !== null && !runEnded) {
        rid = runId;
      } else {
        runs++;
        rid = `run-${runs}`;
      }
    }
    runId = rid;
    runEnded = RUN_END_TYPES.has(value.type);
    const event = normalizeEvent(
      { ...value, seq: s, agent_id: agent.value ?? 'agent', run_id: rid },
      { dataIsText: false },
    );
    event.line = number;
    events.push(event);
  }
  return { events, errors, ephemeral, lines };
}
