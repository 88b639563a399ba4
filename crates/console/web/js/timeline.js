// The timeline waterfall: one row per step (see trace_model.js for how steps come from events)
// and one header row per run with its node segments, bars on a shared time axis.
//
// Rendering is incremental: `apply(change)` creates the rows of new steps (appended in order)
// and updates the rows of changed ones; nothing else is touched. Bars are placed with CSS custom
// properties: each bar holds its start/end (`--s`, `--e`, ms from the trace's origin) and the
// timeline holds the axis (`--lo`, `--hi`, `--span`), so a later event that stretches the axis
// moves every bar with one style change.

import { h, setAttr, setText, replaceChildren } from './dom.js';
import { clockTime, fmtCompact, fmtDuration, fmtUsd, hue, oneLine, shortId } from './format.js';
import { stepDuration } from './trace_model.js';

const KIND_ICON = { model: 'M', tool: 'T', subagent: 'A', moved: '⇄', approval: '?' };

function niceStep(span, count) {
  const raw = span / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

export function createTimeline({ onSelect, nodeName }) {
  const axis = h('div', { class: 'tl-axis' });
  const body = h('div', { class: 'tl-body' });
  const empty = h('div', { class: 'tl-empty' }, 'No events yet.');
  const el = h(
    'div',
    { class: 'timeline', 'data-testid': 'timeline', 'data-steps': '0', role: 'list' },
    h('div', { class: 'tl-head' }, h('div', { class: 'tl-head-label' }, 'step'), axis),
    body,
    empty,
  );
  const rows = new Map(); // step id → {row, name, meta, bar}
  const items = new WeakMap(); // row element → what selecting it shows
  let live = false; // after the backlog: keep the newest row in view while scrolled down
  let follow = true;
  body.addEventListener('scroll', () => {
    follow = body.scrollTop + body.clientHeight >= body.scrollHeight - 40;
  }, { passive: true });
  // One listener for every row (clicks and keys).
  body.addEventListener('click', (ev) => {
    const row = ev.target.closest('.tl-step, .tl-run');
    if (row && items.has(row)) select(row, items.get(row));
  });
  body.addEventListener('keydown', (ev) => {
    const row = ev.target.closest('.tl-step');
    if (!row) return;
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      select(row, items.get(row));
    } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      const down = ev.key === 'ArrowDown';
      let next = down ? row.nextElementSibling : row.previousElementSibling;
      while (next && !next.matches('.tl-step')) next = down ? next.nextElementSibling : next.previousElementSibling;
      if (next) {
        next.focus();
        select(next, items.get(next));
      }
    }
  });
  const runRows = new Map(); // run id → {row, label, track}
  let origin = null;
  let lo = 0;
  let hi = 0;
  let liveHi = 0;
  let count = 0;
  let selected = null;

  function rel(ts) {
    return origin === null || !Number.isFinite(ts) ? 0 : ts - origin;
  }

  function setBounds(bounds) {
    if (origin === null) origin = bounds.min;
    lo = rel(bounds.min);
    hi = Math.max(rel(bounds.max), liveHi);
    const span = Math.max(1, hi - lo);
    el.style.setProperty('--lo', String(lo));
    el.style.setProperty('--hi', String(hi));
    el.style.setProperty('--span', String(span));
    renderAxis(span);
  }

  function renderAxis(span) {
    const step = niceStep(span, 6);
    const ticks = [];
    for (let t = 0; t <= span + 1e-9; t += step) {
      ticks.push(h('span', { class: 'tl-tick', style: { left: `${(t / span) * 100}%` } }, t === 0 ? '0' : `+${fmtDuration(t)}`));
    }
    replaceChildren(axis, ticks);
  }

  /** Extends the axis to `now` while something is still running (open bars grow). */
  function tick(nowMs) {
    if (origin === null) return;
    liveHi = Math.max(liveHi, rel(nowMs));
    if (liveHi > hi) {
      hi = liveHi;
      const span = Math.max(1, hi - lo);
      el.style.setProperty('--hi', String(hi));
      el.style.setProperty('--span', String(span));
      renderAxis(span);
    }
  }

  function select(rowEl, item) {
    if (selected) selected.classList.remove('selected');
    selected = rowEl;
    if (rowEl) rowEl.classList.add('selected');
    onSelect?.(item);
  }

  function makeRunRow(run) {
    const label = h('div', { class: 'tl-run-label' });
    const track = h('div', { class: 'tl-track' });
    const row = h('div', { class: 'tl-run', 'data-run-id': run.id }, label, track);
    items.set(row, { kind: 'run', run });
    const entry = { row, label, track, segCount: -1 };
    runRows.set(run.id, entry);
    body.appendChild(row);
    return entry;
  }

  function updateRunRow(run) {
    const r = runRows.get(run.id) ?? makeRunRow(run);
    const nodes = [...new Set(run.segments.map((s) => nodeName(s.node)).filter(Boolean))];
    replaceChildren(
      r.label,
      h('span', { class: 'tl-run-title' }, `run ${shortId(run.id)}`),
      h('span', { class: `badge s-${run.status}` }, run.status),
      nodes.length ? h('span', { class: 'tl-node' }, nodes.join(' → ')) : null,
    );
    r.label.title = `run ${run.id}${run.error ? '\n' + run.error : ''}`;
    // Segments: one bar per run_started (node, epoch), in the node's color.
    const segs = run.segments.map((s) => {
      const name = nodeName(s.node) || 'node';
      return h(
        'div',
        {
          class: `tl-seg${s.end === null ? ' open' : ''}`,
          style: { '--s': rel(s.start), '--e': rel(s.end ?? s.start), '--h': hue(s.node) },
          title: `${name} (${s.node}) epoch ${s.epoch ?? '?'}${s.resumed ? ', resumed' : ''}`,
        },
        h('span', { class: 'tl-seg-name' }, name),
      );
    });
    replaceChildren(r.track, segs);
  }

  function makeRow(step) {
    const icon = h('span', { class: 'tl-icon', 'aria-hidden': 'true' }, KIND_ICON[step.kind] ?? '•');
    const name = h('span', { class: 'tl-name' });
    const meta = h('span', { class: 'tl-meta' });
    const bar = h('div', { class: 'tl-bar' });
    const row = h(
      'div',
      {
        class: `tl-step k-${step.kind}`,
        role: 'listitem',
        tabindex: '0',
        'data-testid': 'timeline-step',
        'data-kind': step.kind,
        'data-seq': String(step.seq),
        'data-run-id': step.runId,
      },
      h('div', { class: 'tl-label' }, icon, name, meta),
      h('div', { class: 'tl-track' }, bar),
    );
    items.set(row, { kind: 'step', step });
    const r = { row, name, meta, bar };
    rows.set(step.id, r);
    body.appendChild(row);
    count++;
    return r;
  }

  function describe(step) {
    const dur = stepDuration(step);
    const parts = [];
    let name = step.label;
    let title = '';
    switch (step.kind) {
      case 'model': {
        name = `${step.model || 'model'}${step.step !== undefined ? ' #' + step.step : ''}`;
        if (step.usage) {
          parts.push(`${fmtCompact(step.usage.totalTokens)} tok`);
          title += `${step.usage.inputTokens} in + ${step.usage.outputTokens} out tokens${step.usage.costUsd ? ', ' + fmtUsd(step.usage.costUsd) : ''}${step.usage.latencyMs !== null ? ', latency ' + fmtDuration(step.usage.latencyMs) : ''}\n`;
        }
        if (step.fallbacks) title += `fallbacks: ${step.fallbacks.map((f) => `${f.model}: ${f.error}`).join('; ')}\n`;
        break;
      }
      case 'tool':
      case 'subagent': {
        if (step.childAgentId) {
          name = `agent ${shortId(step.childAgentId)}`;
          parts.push(step.status ?? '', step.tokens ? `${fmtCompact(step.tokens)} tok` : '', step.detail);
        } else {
          name = `${step.name}(${oneLine(step.arguments, 60)})`;
          title += `${step.name} ${oneLine(step.arguments, 400)}\n`;
          if (step.refused) parts.push('refused');
          if (step.interrupted) parts.push(`interrupted (${step.interrupted})`);
          else if (step.cut) parts.push('cut');
          if (step.error && !step.refused && !step.interrupted) parts.push('error');
        }
        break;
      }
      case 'moved':
        name = `moved ${nodeName(step.from) || '?'} → ${step.to ? nodeName(step.to) : '…'}`;
        title += `${step.reason}\nnew epoch ${step.newEpoch ?? '?'}\n`;
        break;
      case 'approval':
        name = `approval ${step.name}`;
        parts.push(step.state + (step.actor ? ` by ${step.actor}` : ''));
        if (step.rule) title += `rule: ${step.rule}\n`;
        break;
      default:
        break;
    }
    if (step.attempt > 1) parts.push(`retry ${step.attempt - 1}`);
    if (step.retries) parts.push(`${step.retries} retried attempt${step.retries > 1 ? 's' : ''}`);
    if (step.kind !== 'moved') parts.unshift(step.open ? (step.kind === 'approval' ? 'waiting…' : 'running…') : fmtDuration(dur));
    title += `#${step.seq} at ${clockTime(step.start)}${dur !== null ? ', ' + fmtDuration(dur) : ''}${step.node ? ' on ' + nodeName(step.node) : ''}`;
    return { name, meta: parts.filter(Boolean).join(' · '), title };
  }

  function updateRow(step) {
    const r = rows.get(step.id) ?? makeRow(step);
    const d = describe(step);
    setText(r.name, d.name);
    setText(r.meta, d.meta);
    r.row.title = d.title;
    r.row.classList.toggle('open', step.open);
    r.row.classList.toggle('error', !!step.error);
    r.row.classList.toggle('retry', step.attempt > 1 || !!step.retries);
    r.row.classList.toggle('cut', !!step.cut);
    if (step.state) setAttr(r.row, 'data-state', step.state);
    const s = rel(step.start);
    const e = step.end === null ? s : rel(step.end);
    r.bar.style.setProperty('--s', String(s));
    r.bar.style.setProperty('--e', String(e));
    r.bar.classList.toggle('open', step.end === null || step.open);
  }

  /** Renders a change report of the model (new and changed steps and runs). */
  function apply(model, change) {
    if (change.bounds || origin === null) setBounds(model.bounds());
    const changed = [...change.runs].map((run) => ({ order: run.order, run })).concat([...change.steps].map((step) => ({ order: step.order, step })));
    changed.sort((a, b) => a.order - b.order);
    const before = count;
    for (const item of changed) {
      if (item.run) updateRunRow(item.run);
      else updateRow(item.step);
    }
    if (count) empty.hidden = true;
    el.setAttribute('data-steps', String(count));
    // Reading or setting the scroll position forces a layout: only for live rows, not while the
    // backlog is replayed.
    if (live && follow && count > before) body.scrollTop = body.scrollHeight;
  }

  /** The backlog is rendered: from now on new rows are kept in view (unless scrolled up). */
  function setLive() {
    live = true;
  }

  /** Re-renders the node names (after the node list arrived). */
  function refreshNames(model) {
    for (const run of model.runs.values()) updateRunRow(run);
    for (const step of model.steps) if (rows.has(step.id)) updateRow(step);
  }

  function clearSelection() {
    if (selected) selected.classList.remove('selected');
    selected = null;
  }

  return { el, apply, tick, refreshNames, clearSelection, setLive, get count() { return count; } };
}
