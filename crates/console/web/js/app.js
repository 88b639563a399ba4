// Agentry console: hash router, navigation, keyboard shortcuts, viewer mode, token sign-in.
// Plain ES modules served as they are in the repository (crates/console/web): no build step.

import { applyRole } from './api.js';
import { initAuth, showIdentity } from './login.js';
import { parseRoute } from './routes.js';
import { setConn } from './sse.js';
import { mountRuns } from './runs.js';
import { mountAgent } from './agent.js';
import { mountNodes } from './nodes.js';
import { mountCost } from './cost.js';
import { mountReplay } from './replay.js';

const VIEWS = { runs: mountRuns, agent: mountAgent, nodes: mountNodes, cost: mountCost, replay: mountReplay };
const NAV = { runs: 'runs', agent: 'runs', nodes: 'nodes', cost: 'cost', replay: 'replay' };
const TITLES = { runs: 'Runs', agent: 'Agent', nodes: 'Nodes', cost: 'Cost', replay: 'Replay' };

const main = document.getElementById('main');
let current = null; // {route, view}

function route({ remount = false } = {}) {
  const r = parseRoute(location.hash);
  if (!remount && current && current.route.view === r.view && (r.view !== 'agent' || current.route.agentId === r.agentId) && current.view.update) {
    current.view.update(r);
    current.route = r;
    return;
  }
  if (current) {
    try {
      current.view.unmount?.();
    } catch (err) {
      console.error(err);
    }
  }
  setConn('idle', 'no live stream on this page');
  for (const link of document.querySelectorAll('[data-nav]')) {
    link.classList.toggle('active', link.dataset.nav === NAV[r.view]);
    if (link.dataset.nav === NAV[r.view]) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${r.view === 'agent' ? 'Agent ' + r.agentId.slice(0, 8) : TITLES[r.view]} · Agentry`;
  main.scrollTop = 0;
  try {
    current = { route: r, view: VIEWS[r.view](main, r) };
  } catch (err) {
    console.error(err);
    main.textContent = `This view failed: ${err.message}`;
    current = { route: r, view: {} };
  }
}

// Keyboard: `g` then r / n / c / p goes to a view; views handle their own keys (/, r, 1-3, Esc).
let pendingG = 0;
document.addEventListener('keydown', (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  const typing = t instanceof HTMLElement && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
  if (typing || document.querySelector('[data-testid=confirm-dialog], [data-testid=signin-dialog]')) return;
  if (pendingG && Date.now() - pendingG < 1500) {
    pendingG = 0;
    const to = { r: '#/runs', n: '#/nodes', c: '#/cost', p: '#/replay' }[ev.key];
    if (to) {
      ev.preventDefault();
      location.hash = to;
      return;
    }
  }
  if (ev.key === 'g') {
    pendingG = Date.now();
    return;
  }
  if (ev.key === '?') {
    document.getElementById('help')?.toggleAttribute('hidden');
    return;
  }
  if (current?.view.key?.(ev)) ev.preventDefault();
});

document.getElementById('help-button')?.addEventListener('click', () => document.getElementById('help')?.toggleAttribute('hidden'));
document.getElementById('help')?.addEventListener('click', (ev) => ev.currentTarget.setAttribute('hidden', ''));
window.addEventListener('hashchange', () => route());
// A token accepted by the sign-in dialog: the current view starts over with it.
initAuth({ onSignedIn: () => route({ remount: true }) });
applyRole().then(showIdentity);
route();
