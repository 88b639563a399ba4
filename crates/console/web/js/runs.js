// Runs view: agents with their latest run (ListAgents), status filters, search, pages.
// Refreshed every 5 s while the page is visible, and on demand.

import { call, nodeName, nodeNames } from './api.js';
import { h, replaceChildren, setText, statusBadge } from './dom.js';
import { RUN_STATUSES, ago, oneLine, parseTs, runStatusName, shortId, dateTime } from './format.js';
import { Pager, debounce, filtersToQuery, listAgentsRequest, queryToFilters } from './runs_model.js';
import { agentHref } from './routes.js';

const REFRESH_MS = 5000;
const STATUS_LABEL = { waiting_approval: 'waiting approval', dead_lettered: 'dead-lettered' };

// Filters survive leaving the view and coming back.
let saved = { statuses: new Set(), query: '' };

export function mountRuns(container, route) {
  const fromUrl = queryToFilters(route.query);
  const filters = route.query ? fromUrl : { statuses: new Set(saved.statuses), query: saved.query };
  const pager = new Pager();
  let timer = 0;
  let seqNo = 0;
  let destroyed = false;

  const filterButtons = RUN_STATUSES.map((s) =>
    h(
      'button',
      {
        type: 'button',
        class: `chip filter s-${s}`,
        'data-testid': 'status-filter',
        'data-status': s,
        'aria-pressed': filters.statuses.has(s) ? 'true' : 'false',
        onclick: () => toggle(s),
      },
      STATUS_LABEL[s] ?? s,
    ),
  );
  const search = h('input', {
    type: 'search',
    class: 'search',
    'data-testid': 'runs-search',
    placeholder: 'Search: id prefix, model, label or k=v   (/)',
    'aria-label': 'search agents',
    value: filters.query,
  });
  const refreshButton = h('button', { type: 'button', class: 'btn', 'data-testid': 'runs-refresh', title: 'Refresh (r)', onclick: () => load() }, 'Refresh');
  const info = h('span', { class: 'muted info' });
  const tbody = h('tbody');
  const tableEl = h(
    'table',
    { class: 'grid runs', 'data-testid': 'runs-table' },
    h('thead', null, h('tr', null, ['agent', 'model', 'labels', 'status', 'node', 'updated', 'error'].map((c) => h('th', null, c)))),
    tbody,
  );
  const emptyEl = h('div', { class: 'empty-state', hidden: true }, 'No agents match.');
  const errorEl = h('div', { class: 'banner error', 'data-testid': 'view-error', hidden: true });
  const prev = h('button', { type: 'button', class: 'btn', 'data-testid': 'prev-page', disabled: true, onclick: () => page(-1) }, '‹ Prev');
  const next = h('button', { type: 'button', class: 'btn', 'data-testid': 'next-page', disabled: true, onclick: () => page(1) }, 'Next ›');
  const pageLabel = h('span', { class: 'muted' }, 'page 1');
  const view = h(
    'section',
    { class: 'view runs-view', 'data-testid': 'runs-view' },
    h('div', { class: 'toolbar' }, h('div', { class: 'filters', role: 'group', 'aria-label': 'status filters' }, filterButtons), search, refreshButton, info),
    errorEl,
    h('div', { class: 'table-wrap' }, tableEl, emptyEl),
    h('div', { class: 'pager' }, prev, pageLabel, next),
  );
  replaceChildren(container, view);

  const rows = new Map(); // agent id → {tr, cells}

  function saveFilters() {
    saved = { statuses: new Set(filters.statuses), query: filters.query };
    const q = filtersToQuery(filters);
    const hash = q ? `#/runs?${q}` : '#/runs';
    if (location.hash !== hash) history.replaceState(null, '', hash);
  }

  function restart() {
    view.setAttribute('data-rendered', 'false');
    pager.reset();
    saveFilters();
    load();
  }

  function toggle(status) {
    if (filters.statuses.has(status)) filters.statuses.delete(status);
    else filters.statuses.add(status);
    for (const b of filterButtons) b.setAttribute('aria-pressed', filters.statuses.has(b.dataset.status) ? 'true' : 'false');
    restart();
  }

  const searchChanged = debounce(() => {
    filters.query = search.value;
    restart();
  }, 300);
  search.addEventListener('input', () => {
    view.setAttribute('data-rendered', 'false');
    searchChanged();
  });
  search.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      searchChanged.cancel();
      filters.query = search.value;
      restart();
    } else if (ev.key === 'Escape') {
      search.value = '';
      search.blur();
      searchChanged.cancel();
      filters.query = '';
      restart();
    }
  });

  function page(direction) {
    const token = direction > 0 ? pager.next() : pager.prev();
    if (token === null) return;
    view.setAttribute('data-rendered', 'false');
    load();
  }

  function row(agent) {
    const id = agent.agentId;
    let r = rows.get(id);
    if (!r) {
      const cells = {
        id: h('td', { class: 'mono' }, h('a', { href: agentHref(id), class: 'link', title: id }, shortId(id))),
        model: h('td'),
        labels: h('td', { class: 'labels' }),
        status: h('td', { 'data-testid': 'run-status' }),
        node: h('td', { class: 'mono' }),
        updated: h('td', { class: 'nowrap' }),
        error: h('td', { class: 'error-cell' }),
      };
      const tr = h('tr', { 'data-agent-id': id, tabindex: '0', class: 'clickable' }, Object.values(cells));
      tr.addEventListener('click', (ev) => {
        if (ev.target.closest('a')) return;
        location.hash = agentHref(id);
      });
      tr.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') location.hash = agentHref(id);
      });
      r = { tr, cells, key: '' };
      rows.set(id, r);
    }
    const run = agent.latestRun ?? {};
    const status = runStatusName(run.status);
    const labels = Object.entries(agent.labels ?? {});
    const updated = run.updatedAt || run.createdAt || agent.createdAt || '';
    const error = run.error || (status === 'queued' ? run.waitReason : '') || '';
    const key = JSON.stringify([agent.spec?.model, labels, status, run.nodeId, updated, error, agent.importedFrom]);
    if (key !== r.key) {
      r.key = key;
      setText(r.cells.model, agent.spec?.model ?? '');
      replaceChildren(r.cells.labels, labels.map(([k, v]) => h('span', { class: 'label', title: `${k}=${v}` }, `${k}=${oneLine(v, 24)}`)), agent.importedFrom ? h('span', { class: 'label imported', title: `import of ${agent.importedFrom}` }, 'import') : null);
      replaceChildren(r.cells.status, statusBadge(status));
      r.cells.error.title = error;
      setText(r.cells.error, oneLine(error, 90));
      r.tr.dataset.status = status;
    }
    setText(r.cells.node, run.nodeId ? nodeName(run.nodeId) : '');
    r.cells.node.title = run.nodeId ?? '';
    setText(r.cells.updated, ago(updated));
    r.cells.updated.title = dateTime(parseTs(updated));
    return r.tr;
  }

  async function load() {
    clearTimeout(timer);
    const mine = ++seqNo;
    const request = listAgentsRequest({ statuses: filters.statuses, query: filters.query, pageToken: pager.current });
    refreshButton.disabled = true;
    try {
      const [res] = await Promise.all([call('ListAgents', request), nodeNames()]);
      if (destroyed || mine !== seqNo) return;
      errorEl.hidden = true;
      const agents = res.agents ?? [];
      pager.loaded(res.nextPageToken);
      const seen = new Set();
      const trs = agents.map((a) => {
        seen.add(a.agentId);
        return row(a);
      });
      for (const [id, r] of rows) {
        if (!seen.has(id)) {
          r.tr.remove();
          rows.delete(id);
        }
      }
      // Put rows in order (appendChild moves existing ones).
      trs.forEach((tr, i) => {
        if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
      });
      emptyEl.hidden = agents.length > 0;
      prev.disabled = !pager.hasPrev;
      next.disabled = !pager.hasNext;
      setText(pageLabel, `page ${pager.page}`);
      setText(info, `${agents.length} agent${agents.length === 1 ? '' : 's'}${pager.hasNext ? '+' : ''} · updated ${new Date().toLocaleTimeString()}`);
      view.setAttribute('data-rendered', 'true');
      try {
        performance.mark('runs-rendered');
      } catch {
        // best effort
      }
    } catch (err) {
      if (destroyed || mine !== seqNo) return;
      errorEl.hidden = false;
      errorEl.textContent = `Could not list agents: ${err.message}`;
      view.setAttribute('data-rendered', 'true');
    } finally {
      if (!destroyed && mine === seqNo) {
        refreshButton.disabled = false;
        schedule();
      }
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (document.visibilityState === 'visible') load();
      else schedule();
    }, REFRESH_MS);
  }

  const onVisible = () => {
    if (document.visibilityState === 'visible') load();
  };
  document.addEventListener('visibilitychange', onVisible);

  saveFilters();
  load();

  return {
    unmount() {
      destroyed = true;
      clearTimeout(timer);
      searchChanged.cancel();
      document.removeEventListener('visibilitychange', onVisible);
    },
    key(ev) {
      if (ev.key === '/') {
        ev.preventDefault();
        search.focus();
        return true;
      }
      if (ev.key === 'r') {
        load();
        return true;
      }
      return false;
    },
  };
}
