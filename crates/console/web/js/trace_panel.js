// One trace on screen: tabs Timeline / Transcript / Cost, and the Inspector beside them. Used
// by the agent page (events from the live SSE stream) and the replay view (events from a file),
// so both render with the same components and test ids.
//
// `push(events)` feeds the model at once and schedules one render per animation frame with
// everything that changed since the last one.

import { frameScheduler, h, replaceChildren } from './dom.js';
import { fmtInt, fmtUsd, shortId } from './format.js';
import { TraceModel } from './trace_model.js';
import { createTimeline } from './timeline.js';
import { createTranscript } from './transcript.js';
import { createInspector } from './inspector.js';
import { TABS } from './routes.js';

function emptyChange() {
  return { steps: new Set(), entries: new Set(), runs: new Set(), bounds: false, cost: false, status: false, streaming: new Set() };
}

/** A small table: `columns` of `[label, (row) => value, class]`. */
export function table(columns, rows, attrs = {}) {
  return h(
    'table',
    { class: 'grid', ...attrs },
    h('thead', null, h('tr', null, columns.map(([label, , cls]) => h('th', { class: cls }, label)))),
    h('tbody', null, rows.map((row) => h('tr', null, columns.map(([, get, cls]) => h('td', { class: cls }, get(row)))))),
  );
}

export function createTracePanel({ rootAgentId = '', nodeName, runInput, onTab, onRendered, costExtra = null }) {
  const model = new TraceModel({ rootAgentId });
  let pending = emptyChange();
  let tab = 'timeline';
  const listeners = [];

  const inspector = createInspector({ nodeName, onClose: () => timeline.clearSelection() });
  const select = (item) => inspector.show({ ...item, model });
  const timeline = createTimeline({ onSelect: select, nodeName });
  const transcript = createTranscript({ onSelect: select, runInput });

  const costLocal = h('div', { class: 'cost-local' });
  const costPanel = h('div', { class: 'cost-panel', 'data-testid': 'cost-panel' }, costExtra, costLocal);

  const panels = {
    timeline: h('section', { class: 'tab-panel', 'data-panel': 'timeline' }, timeline.el),
    transcript: h('section', { class: 'tab-panel', 'data-panel': 'transcript', hidden: true }, transcript.el),
    cost: h('section', { class: 'tab-panel', 'data-panel': 'cost', hidden: true }, costPanel),
  };
  const tabButtons = {};
  for (const name of TABS) {
    tabButtons[name] = h(
      'button',
      { type: 'button', role: 'tab', class: 'tab', 'data-testid': `tab-${name}`, 'aria-selected': name === 'timeline' ? 'true' : 'false', onclick: () => setTab(name, true) },
      name[0].toUpperCase() + name.slice(1),
    );
  }
  const tabBar = h('div', { class: 'tabs', role: 'tablist' }, TABS.map((t) => tabButtons[t]));
  const main = h('div', { class: 'trace-main' }, tabBar, panels.timeline, panels.transcript, panels.cost);
  const el = h('div', { class: 'trace-panel' }, main, inspector.el);

  function setTab(name, fromUser = false) {
    if (!TABS.includes(name)) name = 'timeline';
    tab = name;
    for (const t of TABS) {
      panels[t].hidden = t !== name;
      tabButtons[t].setAttribute('aria-selected', t === name ? 'true' : 'false');
      tabButtons[t].classList.toggle('active', t === name);
    }
    if (name === 'cost') renderCost();
    if (fromUser) onTab?.(name);
  }

  function renderCost() {
    const byModel = model.costByModel();
    const byRun = model.costByRun().filter((r) => r.calls > 0);
    const total = model.costTotal;
    replaceChildren(
      costLocal,
      h('h3', null, 'This agent'),
      h('p', { class: 'muted', 'data-testid': 'agent-cost-total' }, `${fmtInt(total.calls)} model calls · ${fmtInt(total.totalTokens)} tokens (${fmtInt(total.inputTokens)} in, ${fmtInt(total.outputTokens)} out) · ${fmtUsd(total.costUsd)}`),
      h('h4', null, 'By model'),
      byModel.length
        ? table(
            [
              ['model', (r) => r.model],
              ['calls', (r) => fmtInt(r.calls), 'num'],
              ['input', (r) => fmtInt(r.inputTokens), 'num'],
              ['output', (r) => fmtInt(r.outputTokens), 'num'],
              ['tokens', (r) => fmtInt(r.totalTokens), 'num'],
              ['USD', (r) => fmtUsd(r.costUsd), 'num'],
            ],
            byModel,
            { 'data-testid': 'agent-cost-by-model' },
          )
        : h('p', { class: 'muted' }, 'No model calls yet.'),
      h('h4', null, 'By run'),
      byRun.length
        ? table(
            [
              ['run', (r) => `${r.index}. ${shortId(r.runId)}`],
              ['status', (r) => h('span', { class: `badge s-${r.status}` }, r.status)],
              ['models', (r) => r.models.map((m) => m.model).join(', ')],
              ['calls', (r) => fmtInt(r.calls), 'num'],
              ['tokens', (r) => fmtInt(r.totalTokens), 'num'],
              ['USD', (r) => fmtUsd(r.costUsd), 'num'],
            ],
            byRun,
            { 'data-testid': 'agent-cost-by-run' },
          )
        : h('p', { class: 'muted' }, '—'),
    );
  }

  function merge(change) {
    if (!change) return;
    for (const k of ['steps', 'entries', 'runs', 'streaming']) for (const v of change[k]) pending[k].add(v);
    pending.bounds ||= change.bounds;
    pending.cost ||= change.cost;
    pending.status ||= change.status;
  }

  const render = () => {
    const change = pending;
    pending = emptyChange();
    timeline.apply(model, change);
    transcript.apply(model, change);
    if (change.cost && tab === 'cost') renderCost();
    onRendered?.(model, change);
    for (const fn of listeners) fn(model, change);
  };
  // While the backlog streams in, render every 100 ms (each render restyles the timeline when
  // the time axis grows); live events render on the next frame.
  let replayed = false;
  const schedule = frameScheduler(render, () => (replayed ? 0 : 100));

  /** Adds normalized events (in seq order); rendered on the next frame. */
  function push(events) {
    for (const e of events) merge(model.add(e));
    schedule();
  }

  /** An ephemeral token event (streaming text). */
  function token(e) {
    merge(model.token(e));
    schedule();
  }

  /** The input of a run arrived (from GetRun): re-render its user message. */
  function refreshRun(runId) {
    transcript.refreshRun(model, runId);
  }

  function refreshNames() {
    timeline.refreshNames(model);
  }

  /** Marks the replay (the backlog) as rendered: `data-replayed` and `performance.mark`. */
  function markReplayed() {
    if (timeline.el.getAttribute('data-replayed') === 'true') return;
    timeline.el.setAttribute('data-replayed', 'true');
    timeline.setLive();
    transcript.setLive();
    replayed = true;
    try {
      performance.mark('timeline-rendered');
    } catch {
      // marks are best effort
    }
  }

  return {
    el,
    model,
    push,
    token,
    setTab,
    refreshRun,
    refreshNames,
    markReplayed,
    renderCost,
    flush: () => schedule.flush(),
    tick: (now) => timeline.tick(now),
    onRender: (fn) => listeners.push(fn),
    clearInspector: () => {
      inspector.clear();
      timeline.clearSelection();
    },
    get tab() {
      return tab;
    },
    destroy: () => schedule.cancel(),
  };
}
