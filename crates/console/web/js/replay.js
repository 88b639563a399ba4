// Replay view: a trace file (dropped, or picked) rendered with the same trace panel as the
// agent page — timeline, transcript, cost, inspector — entirely in the browser: no request to
// the hub. Bad lines are listed (line number and reason) and skipped.

import { h, replaceChildren } from './dom.js';
import { fmtInt, shortId } from './format.js';
import { parseTraceText } from './jsonl.js';
import { createTracePanel } from './trace_panel.js';

// The last file replayed stays on screen when coming back to the view.
let last = null;

export function mountReplay(container, route) {
  let panel = null;
  const fileInput = h('input', { type: 'file', accept: '.jsonl,.json,.ndjson,.log,.txt,application/x-ndjson,application/json,text/plain', 'data-testid': 'replay-file', class: 'file-input', id: 'replay-file' });
  const drop = h(
    'div',
    { class: 'drop', 'data-testid': 'replay-drop', tabindex: '0', role: 'button', 'aria-label': 'drop a trace file here, or press Enter to pick one' },
    h('strong', null, 'Drop a trace file here'),
    h('span', { class: 'muted' }, ' — the lines of ', h('code', null, 'agentry trace AGENT --jsonl'), ' or a Go agentry trace — or '),
    h('label', { for: 'replay-file', class: 'link' }, 'pick one'),
    fileInput,
    h('div', { class: 'muted small' }, 'Nothing is sent anywhere: the file is read and rendered in this page.'),
  );
  const summary = h('div', { class: 'replay-summary', 'data-testid': 'replay-summary' });
  const errors = h('div', { class: 'replay-errors', 'data-testid': 'replay-errors', hidden: true });
  const slot = h('div', { class: 'replay-slot' });
  const view = h('section', { class: 'view replay-view', 'data-testid': 'replay-view' }, h('div', { class: 'toolbar' }, h('h2', null, 'Replay a trace file')), drop, summary, errors, slot);
  replaceChildren(container, view);

  function render(name, text) {
    const parsed = parseTraceText(text);
    last = { name, text };
    const agents = [...new Set(parsed.events.map((e) => e.agentId))];
    const runs = [...new Set(parsed.events.map((e) => e.runId))];
    replaceChildren(
      summary,
      h('strong', null, name),
      ` — ${fmtInt(parsed.events.length)} events`,
      `, ${runs.length} run${runs.length === 1 ? '' : 's'}`,
      `, ${agents.length} agent${agents.length === 1 ? '' : 's'}${agents.length ? ' (' + agents.map((a) => shortId(a, 12)).join(', ') + ')' : ''}`,
      parsed.ephemeral ? `, ${parsed.ephemeral} ephemeral line(s) skipped` : '',
      parsed.errors.length ? h('span', { class: 'error-text' }, `, ${parsed.errors.length} bad line(s) skipped`) : '',
    );
    errors.hidden = parsed.errors.length === 0;
    const shown = parsed.errors.slice(0, 200);
    replaceChildren(
      errors,
      h('h3', null, 'Bad lines'),
      h(
        'ul',
        null,
        shown.map((e) => h('li', { 'data-testid': 'replay-error', 'data-line': String(e.line) }, h('span', { class: 'mono' }, `${name}:${e.line}`), ': ', e.reason)),
      ),
      parsed.errors.length > shown.length ? h('p', { class: 'muted' }, `… and ${parsed.errors.length - shown.length} more`) : null,
    );
    panel?.destroy();
    panel = createTracePanel({
      rootAgentId: parsed.events[0]?.agentId ?? '',
      nodeName: (id) => (id ? shortId(id) : ''),
      runInput: () => '(not in the trace file)',
      onTab: (tab) => history.replaceState(null, '', tab === 'timeline' ? '#/replay' : `#/replay/${tab}`),
    });
    replaceChildren(slot, panel.el);
    panel.setTab(route.tab ?? 'timeline');
    panel.push(parsed.events);
    panel.flush();
    panel.markReplayed();
  }

  async function readFile(file) {
    if (!file) return;
    try {
      render(file.name, await file.text());
    } catch (err) {
      errors.hidden = false;
      replaceChildren(errors, h('p', { class: 'error-text' }, `Could not read ${file.name}: ${err.message}`));
    }
  }

  fileInput.addEventListener('change', () => readFile(fileInput.files?.[0]));
  drop.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      fileInput.click();
    }
  });
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (ev) => {
      ev.preventDefault();
      if (ev.dataTransfer) ev.dataTransfer.dropEffect = 'copy';
      drop.classList.add('over');
    });
  }
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    readFile(ev.dataTransfer?.files?.[0]);
  });
  // A file dropped outside the zone must not navigate away from the console.
  const guard = (ev) => {
    if (ev.dataTransfer?.types?.includes('Files')) ev.preventDefault();
  };
  window.addEventListener('dragover', guard);
  window.addEventListener('drop', guard);

  if (last) render(last.name, last.text);

  return {
    update(newRoute) {
      if (panel && newRoute.tab && newRoute.tab !== panel.tab) panel.setTab(newRoute.tab);
    },
    unmount() {
      panel?.destroy();
      window.removeEventListener('dragover', guard);
      window.removeEventListener('drop', guard);
    },
    key(ev) {
      if (!panel) return false;
      if (ev.key === '1') panel.setTab('timeline', true);
      else if (ev.key === '2') panel.setTab('transcript', true);
      else if (ev.key === '3') panel.setTab('cost', true);
      else if (ev.key === 'Escape') panel.clearInspector();
      else return false;
      return true;
    },
  };
}
