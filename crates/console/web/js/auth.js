// The console's access token and who it stands for. No DOM here (login.js draws the sign-in
// dialog and the header), so the rules are unit-tested under Node.
//
// - The token is kept per tab in `sessionStorage` (never `localStorage`: it goes away with the
//   tab and is not shared with other tabs), under `TOKEN_KEY`.
// - Every `fetch` sends it as `Authorization: Bearer <token>` (RFC 6750 §2.1); the SSE trace
//   URL carries it as `access_token` (RFC 6750 §2.3), because `EventSource` cannot set headers.
//   The hub takes it out of the query before anything logs the URL.
// - A call the hub answers `unauthenticated` (HTTP 401) reports it to the listeners of
//   `onUnauthenticated` (the sign-in dialog); the stored token is dropped when it was the one
//   refused (not when a newer one was stored meanwhile).

/** The `sessionStorage` key of the token. */
export const TOKEN_KEY = 'agentry.accessToken';

/** Returns the tab's `sessionStorage`, or null where there is none (Node, privacy modes). */
function sessionStore() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null; // a browser refusing storage throws on access
  }
}

/** Returns the stored token, or '' when there is none. */
export function getToken(storage = sessionStore()) {
  try {
    return storage?.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

/** Stores `token` for this tab; an empty one is removed. */
export function setToken(token, storage = sessionStore()) {
  try {
    if (token) storage?.setItem(TOKEN_KEY, token);
    else storage?.removeItem(TOKEN_KEY);
  } catch {
    // No storage: the token lasts as long as nothing reloads the page.
  }
}

/** Forgets the stored token (sign out). */
export function clearToken(storage = sessionStore()) {
  setToken('', storage);
}

/**
 * Returns the token a user typed or pasted: trimmed, without a leading `Bearer ` (a copied
 * header value). Empty when nothing remains.
 */
export function normalizeToken(text) {
  const trimmed = String(text ?? '').trim();
  return trimmed.replace(/^bearer(\s+|$)/i, '').trim();
}

/** Returns `headers` (a plain object, not changed) plus `Authorization: Bearer <token>` when there is a token. */
export function authHeaders(token, headers = {}) {
  return token ? { ...headers, Authorization: `Bearer ${token}` } : { ...headers };
}

/** Returns `url` with `access_token=<token>` appended to its query when there is a token. */
export function withAccessToken(url, token) {
  if (!token) return url;
  const separator = url.includes('?') ? '&' : '?';
  return `${url}${separator}access_token=${encodeURIComponent(token)}`;
}

/**
 * Returns the identity of a `GET api/v1/whoami` answer: `{identity, role, tenant, authenticated}`
 * (`tenant` null for every tenant). A missing or odd answer (an older hub) is the anonymous
 * admin without authentication, which keeps every action visible.
 */
export function parseWhoami(json) {
  const text = (value, fallback) => (typeof value === 'string' && value ? value : fallback);
  return {
    identity: text(json?.identity, 'anonymous'),
    role: text(json?.role, 'admin'),
    tenant: text(json?.tenant, null),
    authenticated: json?.authenticated === true,
  };
}

/** Returns the header's label of an identity: `actor · role`, with ` · tenant` when it has one. */
export function identityLabel(who) {
  return [who.identity, who.role, who.tenant].filter(Boolean).join(' · ');
}

/** Returns whether a failed answer (HTTP `status`, Connect `code`) asks for a token. */
export function isUnauthenticated(status, code) {
  return status === 401 || code === 'unauthenticated';
}

const listeners = new Set();

/** Calls `listener(message)` whenever a call is refused for want of a valid token; returns an unsubscribe function. */
export function onUnauthenticated(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * Reports that the hub refused `sentToken` ('' when none was sent) with `message`: drops the
 * stored token when it is still the refused one, then tells the listeners.
 */
export function reportUnauthenticated(message, sentToken, storage = sessionStore()) {
  if (sentToken && getToken(storage) === sentToken) clearToken(storage);
  for (const listener of [...listeners]) {
    try {
      listener(message);
    } catch (err) {
      console.error(err);
    }
  }
}
