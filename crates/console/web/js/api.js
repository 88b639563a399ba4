// The hub's API as the console uses it: Connect unary JSON calls
// (`POST agentry.v1.AgentHub/<Method>`), the SSE trace URL, and who the user is.
// Relative URLs only: the page and the API share one origin (and any path prefix).
// Every request carries the tab's access token (auth.js); a refusal for want of one is
// reported to the sign-in dialog.

import { authHeaders, getToken, isUnauthenticated, parseWhoami, reportUnauthenticated, withAccessToken } from './auth.js';
import { shortId } from './format.js';

/** A failed call: `code` is the Connect code (`not_found`, `unavailable`, …). */
export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * Returns the error of a failed answer: its Connect `{code, message}` when the body is one,
 * else `http_<status>` and the body's text.
 */
function failure(res, text) {
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  const message = json && typeof json.message === 'string' ? json.message : text || `${res.status} ${res.statusText}`;
  return new ApiError(json?.code ?? `http_${res.status}`, message, res.status);
}

/**
 * Sends a request with the tab's token (`token` overrides it: the sign-in dialog tries one
 * before storing it); a network failure is an `unavailable` ApiError. Resolves to
 * `{res, text, sent}` (`sent`: the token sent).
 */
async function send(url, init, token = getToken()) {
  const sent = token;
  let res;
  try {
    res = await fetch(url, { ...init, headers: authHeaders(sent, init.headers) });
  } catch (err) {
    throw new ApiError('unavailable', `hub unreachable (${err.message ?? err})`, 0);
  }
  return { res, text: await res.text(), sent };
}

/** Calls `AgentHub.<method>` with `body` (proto3 JSON); resolves to the response message. */
export async function call(method, body = {}) {
  const { res, text, sent } = await send(`agentry.v1.AgentHub/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) {
    const err = failure(res, text);
    if (isUnauthenticated(err.status, err.code)) reportUnauthenticated(err.message, sent);
    throw err;
  }
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    return {};
  }
}

/**
 * The URL of an agent's live trace (Server-Sent Events), with the tab's token as
 * `access_token` (EventSource cannot send headers). `token` defaults to the stored one.
 */
export function traceUrl(agentId, { afterSeq = 0, follow = true, ephemeral = true, runId = '' } = {}, token = getToken()) {
  const p = new URLSearchParams({ agent_id: agentId, after_seq: String(afterSeq) });
  if (runId) p.set('run_id', runId);
  if (follow) p.set('follow', 'true');
  if (ephemeral) p.set('include_ephemeral', 'true');
  return withAccessToken(`api/v1/trace?${p}`, token);
}

/**
 * Asks the hub who `token` (default: the stored one) stands for: `GET api/v1/whoami`. Resolves
 * to the identity (see `parseWhoami`); a hub without the endpoint (404) is the anonymous admin.
 * Rejects with the ApiError of a refusal (`unauthenticated` for a missing or unknown token).
 */
export async function whoami(token = getToken()) {
  const { res, text } = await send('api/v1/whoami', { headers: { Accept: 'application/json' } }, token);
  if (res.status === 404) return parseWhoami(null);
  if (!res.ok) throw failure(res, text);
  try {
    return parseWhoami(JSON.parse(text));
  } catch {
    return parseWhoami(null);
  }
}

/**
 * Viewer mode (the one place that decides it): the role of `whoami` — `viewer` hides every
 * action (elements with class `requires-write`); an error or any other role means full
 * access (the hub refuses what the role may not do anyway). `body.dataset.role` names the
 * role. Resolves to the identity, or null when the hub asks for a token (reported to the
 * sign-in dialog).
 */
export async function applyRole(root = document.body) {
  let who = parseWhoami(null);
  const sent = getToken();
  try {
    who = await whoami(sent);
  } catch (err) {
    if (isUnauthenticated(err.status, err.code)) {
      reportUnauthenticated(err.message, sent);
      return null;
    }
  }
  root.classList.toggle('viewer', who.role === 'viewer');
  root.dataset.role = who.role;
  return who;
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
