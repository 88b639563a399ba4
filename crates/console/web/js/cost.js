// Cost view: GetCost by model and by agent over a window (1 h, 24 h, 7 d, all), and a heat-map
// of use over time (rows = models, columns = time buckets; tokens or USD).

import { call } from './api.js';
import { h, refresher, reloadOnR, replaceChildren } from './dom.js';
import { dateTime, fmtInt, fmtUsd, shortId } from './format.js';
import { WINDOWS, costRequest, costRow, heatmap, intensity, sumRows } from './cost_model.js';
import { agentHref } from './routes.js';

let state = { window: '24h', metric: 'tokens' };

export function mountCost(container, route) {
  let destroyed = false;
  let heatRows = [];
  const params = new URLSearchParams(route.query ?? '');
  if (WINDOWS[params.get('window')]) state.window = params.get('window');
  if (params.get('metric') === 'usd' || params.get('metric') === 'tokens') state.metric = params.get('metric');

  const windowButtons = Object.entries(WINDOWS).map(([key, w]) =>
    h('button', { type: 'button', class: 'chip', 'data-testid': 'cost-window', 'data-window': key, onclick: () => setWindow(key) }, w.label),
  );
  const metricButtons = ['tokens', 'usd'].map((m) =>
    h('button', { type: 'button', class: 'chip', 'data-testid': 'heat-metric', 'data-metric': m, onclick: () => setMetric(m) }, m === 'usd' ? 'USD' : 'tokens'),
  );
  const byModelEl = h('div', { class: 'cost-table' });
  const byAgentEl = h('div', { class: 'cost-table' });
  const heatEl = h('div', { class: 'heatmap-wrap' });
  const errorEl = h('div', { class: 'banner error', hidden: true });
  const totalEl = h('span', { class: 'muted info' });
  const view = h(
    'section',
    { class: 'view cost-view', 'data-testid': 'cost-view' },
    h('div', { class: 'toolbar' }, h('h2', null, 'Cost'), h('div', { class: 'filters', role: 'group', 'aria-label': 'window' }, windowButtons), h('button', { type: 'button', class: 'btn', title: 'Refresh (r)', onclick: () => load() }, 'Refresh'), totalEl),
    errorEl,
    h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h3', null, 'Use over time'), h('div', { class: 'filters', role: 'group', 'aria-label': 'metric' }, metricButtons)), heatEl),
    h('div', { class: 'cost-columns' }, h('div', { class: 'card' }, h('h3', null, 'By model'), byModelEl), h('div', { class: 'card' }, h('h3', null, 'By agent (root, sub-agents rolled up)'), byAgentEl)),
  );
  replaceChildren(container, view);

  function syncButtons() {
    for (const b of windowButtons) b.setAttribute('aria-pressed', b.dataset.window === state.window ? 'true' : 'false');
    for (const b of metricButtons) b.setAttribute('aria-pressed', b.dataset.metric === state.metric ? 'true' : 'false');
    const hash = `#/cost?window=${state.window}&metric=${state.metric}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
  }

  function setWindow(key) {
    state = { ...state, window: key };
    syncButtons();
    view.setAttribute('data-rendered', 'false');
    load();
  }

  function setMetric(m) {
    state = { ...state, metric: m };
    syncButtons();
    renderHeat();
  }

  function costTable(rows, keyLabel, keyCell, testid) {
    const total = sumRows(rows);
    return h(
      'table',
      { class: 'grid', 'data-testid': testid },
      h('thead', null, h('tr', null, [keyLabel, 'calls', 'input', 'output', 'tokens', 'USD'].map((c, i) => h('th', { class: i ? 'num' : '' }, c)))),
      h(
        'tbody',
        null,
        rows.length
          ? rows.map((r) =>
              h('tr', { 'data-key': r.key }, h('td', null, keyCell(r)), h('td', { class: 'num' }, fmtInt(r.calls)), h('td', { class: 'num' }, fmtInt(r.inputTokens)), h('td', { class: 'num' }, fmtInt(r.outputTokens)), h('td', { class: 'num' }, fmtInt(r.totalTokens)), h('td', { class: 'num' }, fmtUsd(r.costUsd))),
            )
          : h('tr', null, h('td', { colspan: '6', class: 'muted' }, 'No model calls in this window.')),
      ),
      rows.length > 1
        ? h('tfoot', null, h('tr', null, h('td', null, 'total'), h('td', { class: 'num' }, fmtInt(total.calls)), h('td', { class: 'num' }, fmtInt(total.inputTokens)), h('td', { class: 'num' }, fmtInt(total.outputTokens)), h('td', { class: 'num' }, fmtInt(total.totalTokens)), h('td', { class: 'num' }, fmtUsd(total.costUsd))))
        : null,
    );
  }

  function bucketLabel(ms, bucketMs) {
    const text = dateTime(ms);
    if (bucketMs >= 86400000) return text.slice(0, 10);
    return text.slice(0, 16);
  }

  function renderHeat() {
    const map = heatmap(heatRows, { windowKey: state.window, now: Date.now(), metric: state.metric });
    if (!map.models.length) {
      replaceChildren(heatEl, h('div', { class: 'heatmap empty', 'data-testid': 'cost-heatmap' }, 'No model calls in this window.'));
      return;
    }
    const cols = map.buckets.length;
    const labelEvery = Math.max(1, Math.ceil(cols / 8));
    const grid = h('div', { class: 'heatmap', 'data-testid': 'cost-heatmap', 'data-metric': state.metric, style: { '--cols': cols } });
    for (let i = 0; i < map.models.length; i++) {
      const model = map.models[i];
      grid.appendChild(h('div', { class: 'heat-label', title: model }, model));
      for (let j = 0; j < cols; j++) {
        const cell = map.cells[i][j];
        const when = bucketLabel(map.buckets[j], map.bucketMs);
        const value = cell ? (state.metric === 'usd' ? cell.costUsd : cell.totalTokens) : 0;
        const title = cell
          ? `${model} · ${when}\n${fmtInt(cell.totalTokens)} tokens (${fmtInt(cell.inputTokens)} in, ${fmtInt(cell.outputTokens)} out) · ${fmtUsd(cell.costUsd)} · ${fmtInt(cell.calls)} calls`
          : `${model} · ${when}\nno calls`;
        grid.appendChild(
          h('div', {
            class: cell ? 'heat-cell' : 'heat-cell empty',
            'data-testid': 'heat-cell',
            'data-model': model,
            'data-bucket': new Date(map.buckets[j]).toISOString(),
            title,
            style: { '--i': intensity(value, map.max).toFixed(3) },
          }),
        );
      }
    }
    grid.appendChild(h('div', { class: 'heat-label' }));
    for (let j = 0; j < cols; j++) {
      grid.appendChild(h('div', { class: 'heat-axis' }, j % labelEvery === 0 ? bucketLabel(map.buckets[j], map.bucketMs).slice(map.bucketMs >= 86400000 ? 5 : 11) : ''));
    }
    const legend = h(
      'div',
      { class: 'heat-legend muted' },
      `max ${state.metric === 'usd' ? fmtUsd(map.max) : fmtInt(map.max) + ' tokens'} per ${WINDOWS[state.window].bucketMs >= 86400000 ? 'day' : WINDOWS[state.window].bucketMs >= 3600000 ? 'hour' : 'minute'}`,
      h('span', { class: 'heat-scale' }, [0.1, 0.3, 0.5, 0.7, 1].map((i) => h('span', { class: 'heat-cell', style: { '--i': i } }))),
    );
    replaceChildren(heatEl, grid, legend);
  }

  const refresh = refresher(load, 30000);

  async function load() {
    refresh.cancel();
    const w = state.window;
    try {
      const [byModel, byAgent, buckets] = await Promise.all([
        call('GetCost', costRequest('COST_GROUPING_MODEL', w)),
        call('GetCost', costRequest('COST_GROUPING_AGENT', w)),
        call('GetCost', costRequest('COST_GROUPING_MODEL', w, true)),
      ]);
      if (destroyed || w !== state.window) return;
      errorEl.hidden = true;
      const models = (byModel.rows ?? []).map(costRow);
      const agents = (byAgent.rows ?? []).map(costRow);
      heatRows = (buckets.rows ?? []).map(costRow);
      replaceChildren(byModelEl, costTable(models, 'model', (r) => r.key, 'cost-by-model'));
      replaceChildren(byAgentEl, costTable(agents, 'root agent', (r) => h('a', { href: agentHref(r.key), class: 'link mono', title: r.key }, shortId(r.key)), 'cost-by-agent'));
      renderHeat();
      const t = sumRows(models);
      totalEl.textContent = `${WINDOWS[w].label}: ${fmtInt(t.calls)} calls · ${fmtInt(t.totalTokens)} tokens · ${fmtUsd(t.costUsd)}`;
      view.setAttribute('data-rendered', 'true');
    } catch (err) {
      if (destroyed) return;
      errorEl.hidden = false;
      errorEl.textContent = `Could not load costs: ${err.message}`;
    } finally {
      if (!destroyed) refresh.schedule();
    }
  }

  syncButtons();
  load();

  return {
    unmount() {
      destroyed = true;
      refresh.stop();
    },
    key: reloadOnR(load),
  };
}
