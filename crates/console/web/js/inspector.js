// The inspector side panel: the raw event(s) of the selected step, message or run — seq, type,
// time, run, node, epoch and the pretty JSON of `data`.

import { h, replaceChildren } from './dom.js';
import { clockTime, dateTime, prettyJson } from './format.js';
import { agentHref } from './routes.js';

export function createInspector({ nodeName, onClose }) {
  const body = h('div', { class: 'insp-body' });
  const closeButton = h('button', { type: 'button', class: 'btn btn-small', title: 'Close (Esc)', 'aria-label': 'close inspector' }, '×');
  const el = h('aside', { class: 'inspector', 'data-testid': 'inspector' }, h('div', { class: 'insp-head' }, h('h3', null, 'Inspector'), closeButton), body);
  closeButton.addEventListener('click', () => {
    clear();
    onClose?.();
  });

  function clear() {
    replaceChildren(body, h('p', { class: 'muted' }, 'Click a step or a message to see its events.'));
    el.classList.remove('has-selection');
  }

  function field(label, value, testid) {
    return [h('dt', null, label), h('dd', testid ? { 'data-testid': testid } : null, value === null || value === undefined || value === '' ? '—' : String(value))];
  }

  function showEvent(event, chips, index) {
    chips.forEach((c, i) => c.classList.toggle('active', i === index));
    const node = event.node ? `${nodeName(event.node)} (${event.node})` : '';
    return [
      h(
        'dl',
        { class: 'insp-fields' },
        field('seq', event.seq, 'inspector-seq'),
        field('type', event.type, 'inspector-type'),
        field('ts', event.tsText || (Number.isFinite(event.ts) ? `${dateTime(event.ts)}.${String(event.ts % 1000).padStart(3, '0')}` : '')),
        field('run', event.runId, 'inspector-run'),
        field('node', node, 'inspector-node'),
        field('epoch', event.epoch, 'inspector-epoch'),
        field('agent', event.agentId),
        event.parentAgentId ? field('parent', event.parentAgentId) : null,
        event.traceId ? field('trace', `${event.traceId}${event.spanId ? ' / ' + event.spanId : ''}`) : null,
        event.line ? field('line', event.line) : null,
      ),
      h('pre', { class: 'json', 'data-testid': 'inspector-json' }, prettyJson(event.data)),
    ];
  }

  /** Shows a selection: `{kind:'step', step}`, `{kind:'entry', entry}` or `{kind:'run', run}`. */
  function show(item) {
    let title = '';
    let events = [];
    let extra = null;
    if (item.kind === 'step') {
      const s = item.step;
      title = `${s.kind}: ${s.label}`;
      events = s.events;
      if (s.children?.length > 1) {
        extra = h('span', null, s.children.map((c) => h('a', { href: agentHref(c.agentId), class: 'link', style: 'margin-right:1em' }, `${c.role} ${c.agentId.slice(0, 8)}`)));
      } else if (s.childAgentId) extra = h('a', { href: agentHref(s.childAgentId), class: 'link' }, `open agent ${s.childAgentId}`);
    } else if (item.kind === 'entry') {
      title = `${item.entry.role} message`;
      events = item.entry.events;
    } else if (item.kind === 'run') {
      const r = item.run;
      title = `run ${r.id}`;
      events = r.segments.map((s) => s.seq).filter(Boolean).map((seq) => item.model?.bySeq.get(seq)).filter(Boolean);
      extra = h('div', { class: 'muted' }, `${r.status}${r.error ? ': ' + r.error : ''}`);
    }
    if (!events.length) {
      replaceChildren(body, h('h4', null, title), extra, h('p', { class: 'muted' }, 'No events.'));
      return;
    }
    const detail = h('div', { class: 'insp-event' });
    const chips = events.map((e, i) =>
      h('button', { type: 'button', class: 'chip', title: clockTime(e.ts), onclick: () => replaceChildren(detail, showEvent(e, chips, i)) }, `#${e.seq} ${e.type}`),
    );
    replaceChildren(body, h('h4', null, title), extra, events.length > 1 ? h('div', { class: 'insp-chips' }, chips) : null, detail);
    replaceChildren(detail, showEvent(events[0], chips, 0));
    el.classList.add('has-selection');
  }

  clear();
  return { el, show, clear };
}
