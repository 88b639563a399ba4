// Hash routes (pure): `#/runs`, `#/agents/<id>[/timeline|transcript|cost]`, `#/nodes`,
// `#/cost`, `#/replay`; an optional `?query` after the path (`#/runs?status=running`).

export const TABS = ['timeline', 'transcript', 'cost'];

/** Parses a location hash into `{view, agentId, tab, query}`; unknown paths are the runs view. */
export function parseRoute(hash) {
  let text = String(hash ?? '').replace(/^#/, '');
  let query = '';
  const q = text.indexOf('?');
  if (q >= 0) {
    query = text.slice(q + 1);
    text = text.slice(0, q);
  }
  const parts = text.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const [head, id, tab] = parts;
  switch (head) {
    case 'agents':
      if (id) return { view: 'agent', agentId: id, tab: TABS.includes(tab) ? tab : 'timeline', query };
      return { view: 'runs', query };
    case 'nodes':
      return { view: 'nodes', query };
    case 'cost':
      return { view: 'cost', query };
    case 'replay':
      return { view: 'replay', tab: TABS.includes(id) ? id : 'timeline', query };
    default:
      return { view: 'runs', query };
  }
}

/** The hash of an agent page. */
export function agentHref(agentId, tab) {
  const base = `#/agents/${encodeURIComponent(agentId)}`;
  return tab && tab !== 'timeline' ? `${base}/${tab}` : base;
}
