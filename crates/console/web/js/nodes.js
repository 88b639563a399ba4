// Nodes view: ListNodes every 2 s while visible; cordon, uncordon and drain (confirmed).

import { call, rememberNodes } from './api.js';
import { confirmAndRun, h, refresher, reloadOnR, replaceChildren, setText } from './dom.js';
import { ago, dateTime, nodeStateName, num, parseTs, shortId } from './format.js';

const REFRESH_MS = 2000;

export function mountNodes(container) {
  let destroyed = false;
  const tbody = h('tbody');
  const info = h('span', { class: 'muted info' });
  const errorEl = h('div', { class: 'banner error', 'data-testid': 'view-error', hidden: true });
  const emptyEl = h('div', { class: 'empty-state', hidden: true }, 'No node has joined yet.');
  const view = h(
    'section',
    { class: 'view nodes-view', 'data-testid': 'nodes-view' },
    h('div', { class: 'toolbar' }, h('h2', null, 'Nodes'), h('button', { type: 'button', class: 'btn', title: 'Refresh (r)', onclick: () => load() }, 'Refresh'), info),
    errorEl,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'grid nodes', 'data-testid': 'nodes-table' },
        h('thead', null, h('tr', null, ['name', 'id', 'state', 'slots', 'running', 'labels', 'last heartbeat', ''].map((c) => h('th', null, c)))),
        tbody,
      ),
      emptyEl,
    ),
  );
  replaceChildren(container, view);
  const rows = new Map();

  function action(node, kind) {
    const label = { cordon: 'Cordon', uncordon: 'Uncordon', drain: 'Drain' }[kind];
    const what = {
      cordon: 'No new run will be placed on it; its runs continue.',
      uncordon: 'It receives new runs again.',
      drain: 'No new run will be placed on it, runs placed there but not started move to other nodes, running ones finish.',
    }[kind];
    const method = { cordon: 'CordonNode', uncordon: 'UncordonNode', drain: 'DrainNode' }[kind];
    return confirmAndRun({
      title: `${label} node ${node.name || shortId(node.nodeId)}`,
      body: `${label} node ${node.name} (${node.nodeId})? ${what}`,
      ok: label,
      danger: kind === 'drain',
      call: async () => {
        const res = await call(method, { nodeId: node.nodeId });
        // Show the new state at once (before the toast), the next refresh confirms it.
        if (res.node && !destroyed) row({ ...node, ...res.node });
        return res;
      },
      success: (res) => `${label}: ${node.name || shortId(node.nodeId)} is ${nodeStateName(res.node?.state)}${kind === 'drain' ? `, ${num(res.movedRuns)} run(s) moved` : ''}`,
    }).then(() => load());
  }

  function row(node) {
    let r = rows.get(node.nodeId);
    if (!r) {
      const cells = {
        name: h('td', { class: 'strong' }),
        id: h('td', { class: 'mono', title: node.nodeId }, shortId(node.nodeId)),
        state: h('td', { 'data-testid': 'node-state' }),
        slots: h('td', { class: 'num' }),
        running: h('td', { class: 'num' }),
        labels: h('td', { class: 'labels' }),
        heartbeat: h('td', { class: 'nowrap' }),
        actions: h('td', { class: 'row-actions requires-write' }),
      };
      r = { tr: h('tr', { 'data-node-id': node.nodeId }, Object.values(cells)), cells, node, key: '' };
      r.cordon = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'node-cordon', onclick: () => action(r.node, 'cordon') }, 'Cordon');
      r.uncordon = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'node-uncordon', onclick: () => action(r.node, 'uncordon') }, 'Uncordon');
      r.drain = h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-testid': 'node-drain', onclick: () => action(r.node, 'drain') }, 'Drain');
      cells.actions.append(r.cordon, r.uncordon, r.drain);
      rows.set(node.nodeId, r);
    }
    r.node = node;
    const state = nodeStateName(node.state);
    const labels = Object.entries(node.labels ?? {});
    setText(r.cells.name, node.name);
    replaceChildren(r.cells.state, h('span', { class: `badge n-${state}` }, state));
    setText(r.cells.slots, num(node.slots));
    setText(r.cells.running, num(node.running));
    const key = JSON.stringify(labels);
    if (key !== r.key) {
      r.key = key;
      replaceChildren(r.cells.labels, labels.map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`)));
    }
    setText(r.cells.heartbeat, ago(node.lastHeartbeat));
    r.cells.heartbeat.title = dateTime(parseTs(node.lastHeartbeat));
    const gone = state === 'dead' || state === 'left';
    r.cordon.hidden = gone || state !== 'ready';
    r.uncordon.hidden = gone || state === 'ready';
    r.drain.hidden = gone || state === 'draining';
    r.tr.dataset.state = state;
    return r.tr;
  }

  const refresh = refresher(load, REFRESH_MS);

  async function load() {
    refresh.cancel();
    try {
      const res = await call('ListNodes', {});
      if (destroyed) return;
      const nodes = res.nodes ?? [];
      rememberNodes(nodes);
      errorEl.hidden = true;
      const order = { ready: 0, cordoned: 1, draining: 2, dead: 3, left: 4, unknown: 5 };
      nodes.sort((a, b) => order[nodeStateName(a.state)] - order[nodeStateName(b.state)] || (a.name ?? '').localeCompare(b.name ?? ''));
      const seen = new Set(nodes.map((n) => n.nodeId));
      for (const [id, r] of rows) {
        if (!seen.has(id)) {
          r.tr.remove();
          rows.delete(id);
        }
      }
      nodes.forEach((n, i) => {
        const tr = row(n);
        if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
      });
      emptyEl.hidden = nodes.length > 0;
      const live = nodes.filter((n) => ['ready', 'cordoned', 'draining'].includes(nodeStateName(n.state)));
      const slots = live.reduce((s, n) => s + num(n.slots), 0);
      const running = live.reduce((s, n) => s + num(n.running), 0);
      setText(info, `${live.length} live of ${nodes.length} · ${running}/${slots} slots busy`);
      view.setAttribute('data-rendered', 'true');
    } catch (err) {
      if (destroyed) return;
      errorEl.hidden = false;
      errorEl.textContent = `Could not list nodes: ${err.message}`;
    } finally {
      if (!destroyed) refresh.schedule();
    }
  }
  load();

  return {
    unmount() {
      destroyed = true;
      refresh.stop();
    },
    key: reloadOnR(load),
  };
}
