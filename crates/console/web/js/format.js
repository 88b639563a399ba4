// Pure formatting helpers (no DOM): statuses, ids, times, durations, tokens, money.
// Imported by the views and by the node unit tests (crates/console/tests/js).

/** Run statuses as the console names them, in filter order. */
export const RUN_STATUSES = [
  'queued',
  'running',
  'waiting_approval',
  'paused',
  'failed',
  'dead_lettered',
  'completed',
  'cancelled',
];

/** Returns a proto3 JSON 64-bit integer (a string, or a number) as a Number; 0 when absent or invalid. */
export function num(value) {
  if (value === undefined || value === null || value === '') return 0;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : 0;
}

/** `RUN_STATUS_WAITING_APPROVAL` → `waiting_approval`; `` → `` (an agent without a run). */
export function runStatusName(value) {
  if (!value) return '';
  if (typeof value === 'number') {
    return ['', 'queued', 'running', 'completed', 'failed', 'cancelled', 'paused', 'waiting_approval'][value] ?? '';
  }
  const text = String(value);
  if (text === 'RUN_STATUS_UNSPECIFIED') return '';
  return text.replace(/^RUN_STATUS_/, '').toLowerCase();
}

/** `waiting_approval` → `RUN_STATUS_WAITING_APPROVAL`. */
export function runStatusEnum(name) {
  return 'RUN_STATUS_' + String(name).toUpperCase();
}

/** `NODE_STATE_CORDONED` → `cordoned`. */
export function nodeStateName(value) {
  if (!value) return 'unknown';
  if (typeof value === 'number') {
    return ['unknown', 'ready', 'cordoned', 'draining', 'dead', 'left'][value] ?? 'unknown';
  }
  const text = String(value);
  if (text === 'NODE_STATE_UNSPECIFIED') return 'unknown';
  return text.replace(/^NODE_STATE_/, '').toLowerCase();
}

/** Whether a run in this status may still do something (not ended). */
export function isActiveStatus(status) {
  return status === 'queued' || status === 'running' || status === 'waiting_approval' || status === 'paused';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A short form of an id for dense tables. UUIDs (v7: their first digits are a timestamp, shared
 * by ids made close together) keep their first 8 and last 6 digits: `01a23ba1…26e5b8`, still a
 * prefix for the search box and distinct at a glance. Other ids: the first `n` characters.
 */
export function shortId(id, n = 8) {
  if (!id) return '';
  const s = String(id);
  if (UUID.test(s)) return `${s.slice(0, 8)}…${s.slice(-6)}`;
  return s.length > n + 4 ? s.slice(0, n) + '…' : s;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

/**
 * Parses an RFC 3339 time (`Z` or an offset, any number of fraction digits) into milliseconds
 * since the Unix epoch; NaN when it does not parse. A number is taken as milliseconds already.
 */
export function parseTs(value) {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string' || value === '') return NaN;
  const m = RFC3339.exec(value.trim());
  if (!m) {
    const fallback = Date.parse(value);
    return Number.isFinite(fallback) ? fallback : NaN;
  }
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
  const ms = frac ? Number((frac + '00').slice(0, 3)) : 0;
  let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  if (!z && sign) {
    const offset = (Number(oh) * 60 + Number(om)) * 60000;
    t += sign === '+' ? -offset : offset;
  }
  return t;
}

/** "850 ms", "1.2 s", "12 s", "2 min 3 s", "1 h 2 min". */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 60000) return `${Math.round(ms / 1000)} s`;
  const totalS = Math.round(ms / 1000);
  if (totalS < 3600) {
    const m = Math.floor(totalS / 60);
    const s = totalS % 60;
    return s ? `${m} min ${s} s` : `${m} min`;
  }
  const totalM = Math.round(totalS / 60);
  const h = Math.floor(totalM / 60);
  const m = totalM % 60;
  if (h < 48) return m ? `${h} h ${m} min` : `${h} h`;
  return `${Math.round(h / 24)} d`;
}

/** "3 s ago", "5 min ago", "2 h ago", "4 d ago"; "" when the time is unknown. */
export function ago(ts, now = Date.now()) {
  const t = typeof ts === 'number' ? ts : parseTs(ts);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400 * 2) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** Clock time `14:03:05.123` (local time) of milliseconds since the epoch. */
export function clockTime(ms) {
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** Date and time `2025-01-31 14:03:05` (local). */
export function dateTime(ms) {
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** 1234567 → "1,234,567". */
export function fmtInt(n) {
  const v = Math.round(num(n));
  return v.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 1234 → "1.2k", 2500000 → "2.5M": tokens in narrow cells. */
export function fmtCompact(n) {
  const v = num(n);
  if (Math.abs(v) < 1000) return String(Math.round(v));
  if (Math.abs(v) < 1e6) return `${(v / 1e3).toFixed(v < 1e4 ? 1 : 0)}k`;
  if (Math.abs(v) < 1e9) return `${(v / 1e6).toFixed(v < 1e7 ? 1 : 0)}M`;
  return `${(v / 1e9).toFixed(1)}G`;
}

/** USD with enough digits for small model calls: "$0.0012", "$0.000029", "$1.50", "$0". */
export function fmtUsd(x) {
  const v = num(x);
  if (v === 0) return '$0';
  if (Math.abs(v) < 0.01) {
    // Two significant digits: $0.0012, $0.000029.
    const digits = Math.min(10, 1 - Math.floor(Math.log10(Math.abs(v))));
    return `$${v.toFixed(digits)}`;
  }
  if (Math.abs(v) < 100) return `$${v.toFixed(2)}`;
  return `$${fmtInt(v)}`;
}

/** Returns `{text, truncated}`: the first `max` characters of `text`. */
export function truncate(text, max) {
  const s = text === undefined || text === null ? '' : String(text);
  if (s.length <= max) return { text: s, truncated: false };
  return { text: s.slice(0, max), truncated: true };
}

/** One line: newlines and runs of spaces folded, cut at `max` characters with an ellipsis. */
export function oneLine(text, max = 120) {
  const s = (text === undefined || text === null ? '' : String(text)).replace(/\s+/g, ' ').trim();
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

/** Pretty JSON of a value; a string holding JSON is parsed first (tool arguments are JSON text). */
export function prettyJson(value) {
  if (typeof value === 'string') {
    const t = value.trim();
    if (t.startsWith('{') || t.startsWith('[')) {
      try {
        return JSON.stringify(JSON.parse(t), null, 2);
      } catch {
        return value;
      }
    }
    return value;
  }
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/** JSON on one line when it is short (at most `inline` characters), else pretty (`prettyJson`). */
export function compactJson(value, inline = 100) {
  let v = value;
  if (typeof v === 'string') {
    const t = v.trim();
    if (!(t.startsWith('{') || t.startsWith('['))) return v;
    try {
      v = JSON.parse(t);
    } catch {
      return value;
    }
  }
  let one;
  try {
    one = JSON.stringify(v);
  } catch {
    return String(value);
  }
  return one !== undefined && one.length <= inline ? one : prettyJson(v);
}

/** A stable hue (0–359) for a name: the same node gets the same color everywhere. */
export function hue(name) {
  let h = 0;
  const s = String(name ?? '');
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h % 360;
}
