// The transcript: user input, tool calls with their results, final answers and notes (run
// moved, paused, failed, approvals), from the model's entries. Incremental like the timeline:
// new entries are appended, a changed entry (a tool call that got its result, a user input
// that arrived) is re-rendered in place.

import { h, replaceChildren } from './dom.js';
import { clockTime, compactJson, fmtInt, shortId, truncate } from './format.js';

/** Longest text shown before "show all". */
export const LONG_TEXT = 2000;

/** A `<pre>` with at most LONG_TEXT characters and a `show all` button for the rest. */
export function longText(text, cls = 'text') {
  const full = text ?? '';
  const cut = truncate(full, LONG_TEXT);
  const pre = h('pre', { class: cls }, cut.text);
  if (!cut.truncated) return pre;
  const button = h('button', { type: 'button', class: 'btn btn-small show-all', 'data-testid': 'show-all' }, `show all (${fmtInt(full.length)} chars)`);
  button.addEventListener('click', (ev) => {
    ev.stopPropagation();
    pre.textContent = full;
    button.remove();
  });
  return h('div', { class: 'long' }, pre, button);
}

export function createTranscript({ onSelect, runInput }) {
  const list = h('div', { class: 'tr-list' });
  const empty = h('div', { class: 'tr-empty' }, 'No messages yet.');
  const streaming = new Map(); // run id → element
  const el = h('div', { class: 'transcript', 'data-testid': 'transcript' }, list, empty);
  const items = new Map(); // entry id → element
  let selected = null;
  let live = false; // after the backlog: keep the newest message in view while scrolled down
  let follow = true;
  el.addEventListener('scroll', () => {
    follow = el.scrollTop + el.clientHeight >= el.scrollHeight - 40;
  }, { passive: true });

  function select(node, entry) {
    if (selected) selected.classList.remove('selected');
    selected = node;
    node.classList.add('selected');
    onSelect?.({ kind: 'entry', entry });
  }

  function head(role, entry, extra) {
    return h(
      'div',
      { class: 'msg-head' },
      h('span', { class: 'msg-role' }, role),
      extra,
      h('span', { class: 'msg-meta' }, `run ${shortId(entry.runId)} · #${entry.seq} · ${clockTime(entry.events[0]?.ts)}`),
    );
  }

  function render(entry) {
    switch (entry.role) {
      case 'user': {
        const text = entry.text ?? runInput?.(entry.runId) ?? null;
        return h(
          'div',
          { class: 'msg msg-user', 'data-testid': 'msg', 'data-role': 'user' },
          head('user', entry),
          text === null ? h('div', { class: 'muted' }, '(input loading…)') : longText(text),
        );
      }
      case 'assistant':
        return h('div', { class: 'msg msg-assistant', 'data-testid': 'msg', 'data-role': 'assistant' }, head('assistant', entry), longText(entry.text));
      case 'tool': {
        const call = h(
          'details',
          { class: 'tool-call', 'data-testid': 'tool-call', 'data-tool': entry.name, open: true },
          h('summary', null, h('span', { class: 'tool-label' }, 'call'), h('code', null, entry.name)),
          longText(compactJson(entry.arguments || '{}'), 'code'),
        );
        const result =
          entry.output === null
            ? h('div', { class: 'muted tool-pending' }, 'running…')
            : h(
                'details',
                { class: `tool-result${entry.isError ? ' error' : ''}`, 'data-testid': 'tool-result', 'data-tool': entry.name, open: true },
                h('summary', null, h('span', { class: 'tool-label' }, entry.isError ? 'error' : 'result'), h('span', { class: 'muted' }, `${fmtInt(entry.output.length)} chars`)),
                longText(entry.output, 'code'),
              );
        return h(
          'div',
          { class: 'msg msg-tool', 'data-testid': 'msg', 'data-role': 'tool', 'data-tool': entry.name },
          head('tool', entry, entry.attempt > 1 ? h('span', { class: 'badge retry' }, `attempt ${entry.attempt}`) : null),
          call,
          result,
        );
      }
      default:
        return h('div', { class: `note${entry.tone ? ' note-' + entry.tone : ''}`, 'data-testid': 'note', 'data-type': entry.type }, h('span', { class: 'msg-meta' }, `#${entry.seq}`), ' ', entry.text);
    }
  }

  function upsert(entry) {
    const node = render(entry);
    node.addEventListener('click', (ev) => {
      if (ev.target.closest('summary, button')) return;
      select(node, entry);
    });
    const old = items.get(entry.id);
    if (old) {
      if (old === selected) {
        selected = node;
        node.classList.add('selected');
      }
      old.replaceWith(node);
    } else {
      list.appendChild(node);
    }
    items.set(entry.id, node);
  }

  function updateStreaming(model, runKey) {
    const s = model.streams.get(runKey);
    const old = streaming.get(runKey);
    if (!s) {
      old?.remove();
      streaming.delete(runKey);
      return;
    }
    const node = old ?? h('div', { class: 'msg msg-streaming', 'data-testid': 'msg-streaming' }, h('div', { class: 'msg-head' }, h('span', { class: 'msg-role' }, 'assistant'), h('span', { class: 'msg-meta' }, 'streaming…')), h('pre', { class: 'text' }));
    node.querySelector('pre').textContent = s.text.length > LONG_TEXT * 4 ? '…' + s.text.slice(-LONG_TEXT * 4) : s.text;
    if (!old) streaming.set(runKey, node);
    list.appendChild(node); // keep it last
  }

  /** Renders a change report of the model. */
  function apply(model, change) {
    const entries = [...change.entries].sort((a, b) => a.order - b.order);
    for (const entry of entries) upsert(entry);
    for (const key of change.streaming) updateStreaming(model, key);
    // New messages go before a streaming bubble.
    if (entries.length) for (const node of streaming.values()) list.appendChild(node);
    empty.hidden = items.size > 0 || streaming.size > 0;
    if (live && follow && !el.hidden && el.offsetParent !== null && (entries.length || change.streaming.size)) el.scrollTop = el.scrollHeight;
  }

  /** Re-renders the user message of `runId` (its input arrived from GetRun). */
  function refreshRun(model, runId) {
    const run = model.runs.get(runId);
    if (run?.userEntry) upsert(run.userEntry);
  }

  function clear() {
    replaceChildren(list);
    items.clear();
  }

  return { el, apply, refreshRun, clear, setLive: () => (live = true) };
}
