// The hub's API as the console uses it: Connect unary JSON calls
// (`POST agentry.v1.AgentHub/<Method>`), the SSE trace URL, and the role of the user.
// Relative URLs only: the page and the API share one origin (and any path prefix).

import { shortId } from './format.js';

/** A failed call: `code` is the Connect code (`not_found`, `unavailable`, …). */
export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/** Calls `AgentHub.<method>` with `body` (proto3 JSON); resolves to the response message. */
export async function call(method, body = {}) {
  let res;
  try {
    res = await fetch(`agentry.v1.AgentHub/${method}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError('unavailable', `hub unreachable (${err.message ?? err})`, 0);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = null;
  }
  if (!res.ok) {
    const message = json && typeof json.message === 'string' ? json.message : text || `${res.status} ${res.statusText}`;
    throw new ApiError(json?.code ?? `http_${res.status}`, message, res.status);
  }
  return json ?? {};
}

/** The URL of an agent's live trace (Server-Sent Events). */
export function traceUrl(agentId, { afterSeq = 0, follow = true, ephemeral = true, runId = '' } = {}) {
  const p = new URLSearchParams({ agent_id: agentId, after_seq: String(afterSeq) });
  if (runId) p.set('run_id', runId);
  if (follow) p.set('follow', 'true');
  if (ephemeral) p.set('include_ephemeral', 'true');
  return `api/v1/trace?${p}`;
}

/**
 * Viewer mode (the one place that decides it): `GET api/v1/whoami` answering
 * `{"role":"viewer"}` hides every action (elements with class `requires-write`); a 404, an error
 * or any other role means full access. Returns the role.
 */
export async function applyRole(root = document.body) {
  let role = 'admin';
  try {
    const res = await fetch('api/v1/whoami', { headers: { Accept: 'application/json' } });
    if (res.ok) {
      const json = await res.json();
      if (json && typeof json.role === 'string') role = json.role;
    }
  } catch {
    // No whoami endpoint: full access.
  }
  root.classList.toggle('viewer', role === 'viewer');
  return role;
}

/** Node id → name, from ListNodes, cached for a few seconds (the timeline names nodes). */
let nodeCache = { at: 0, names: new Map(), promise: null };

export async function nodeNames(maxAgeMs = 10000) {
  if (Date.now() - nodeCache.at < maxAgeMs) return nodeCache.names;
  if (!nodeCache.promise) {
    nodeCache.promise = call('ListNodes', {})
      .then((res) => {
        const names = new Map();
        for (const n of res.nodes ?? []) names.set(n.nodeId, n.name || n.nodeId);
        nodeCache = { at: Date.now(), names, promise: null };
        return names;
      })
      .catch(() => {
        nodeCache.promise = null;
        return nodeCache.names;
      });
  }
  return nodeCache.promise;
}

/** Feeds the cache from a ListNodes answer obtained elsewhere (the Nodes view). */
export function rememberNodes(nodes) {
  const names = new Map();
  for (const n of nodes ?? []) names.set(n.nodeId, n.name || n.nodeId);
  nodeCache = { at: Date.now(), names, promise: null };
}

/** The name of a node id from the cache (the short id when unknown). */
export function nodeName(id) {
  if (!id) return '';
  return nodeCache.names.get(id) ?? shortId(id);
}
