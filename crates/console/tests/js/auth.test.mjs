// Unit tests of the console's token handling (auth.js) and of the requests api.js builds with
// it: the per-tab storage, the Authorization header, the SSE URL's access_token, the whoami
// identity, and the report of an `unauthenticated` refusal (fetch and sessionStorage stubbed).
import test from 'node:test';
import assert from 'node:assert/strict';

import {
  TOKEN_KEY,
  authHeaders,
  clearToken,
  getToken,
  identityLabel,
  isUnauthenticated,
  normalizeToken,
  onUnauthenticated,
  parseWhoami,
  reportUnauthenticated,
  setToken,
  withAccessToken,
} from '../../web/js/auth.js';
import { ApiError, call, traceUrl, whoami } from '../../web/js/api.js';

/** A `Storage` over a Map. */
function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
    removeItem: (key) => items.delete(key),
    items,
  };
}

/** Installs `storage` as the global sessionStorage and a fetch answering with `respond(url, init)`; returns the requests seen. */
function stubBrowser(storage, respond) {
  const seen = [];
  globalThis.sessionStorage = storage;
  globalThis.fetch = async (url, init = {}) => {
    seen.push({ url, init });
    const { status = 200, body = {} } = respond(url, init);
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, statusText: String(status) });
  };
  return seen;
}

test.afterEach(() => {
  delete globalThis.sessionStorage;
  delete globalThis.fetch;
});

test('the token lives in the given session storage, never elsewhere', () => {
  const storage = memoryStorage();
  assert.equal(getToken(storage), '');
  setToken('s3cret', storage);
  assert.equal(getToken(storage), 's3cret');
  assert.deepEqual([...storage.items.keys()], [TOKEN_KEY]);
  clearToken(storage);
  assert.equal(getToken(storage), '');
  assert.equal(storage.items.size, 0);
  // No storage at all (Node, a browser refusing it): no token, no exception.
  assert.equal(getToken(null), '');
  setToken('ignored', null);
  const throwing = { getItem() { throw new Error('denied'); }, setItem() { throw new Error('denied'); }, removeItem() {} };
  assert.equal(getToken(throwing), '');
  setToken('x', throwing);
});

test('typed tokens are trimmed and lose a pasted Bearer prefix', () => {
  assert.equal(normalizeToken('  abc  '), 'abc');
  assert.equal(normalizeToken('Bearer abc'), 'abc');
  assert.equal(normalizeToken('bearer   abc '), 'abc');
  assert.equal(normalizeToken(''), '');
  assert.equal(normalizeToken(undefined), '');
  assert.equal(normalizeToken('Bearer '), '');
});

test('headers carry the bearer token only when there is one', () => {
  const base = { Accept: 'application/json' };
  assert.deepEqual(authHeaders('', base), { Accept: 'application/json' });
  assert.deepEqual(authHeaders('t0k', base), { Accept: 'application/json', Authorization: 'Bearer t0k' });
  assert.deepEqual(base, { Accept: 'application/json' }, 'the given headers are not changed');
  assert.deepEqual(authHeaders('t0k'), { Authorization: 'Bearer t0k' });
});

test('the SSE URL carries the token as access_token, percent-encoded', () => {
  assert.equal(withAccessToken('api/v1/trace?agent_id=a', ''), 'api/v1/trace?agent_id=a');
  assert.equal(withAccessToken('api/v1/trace?agent_id=a', 'a b&c=d'), 'api/v1/trace?agent_id=a&access_token=a%20b%26c%3Dd');
  assert.equal(withAccessToken('api/v1/trace', 'x'), 'api/v1/trace?access_token=x');
  const url = traceUrl('agent-1', { afterSeq: 7 }, 'tok/+=');
  const query = new URLSearchParams(url.split('?')[1]);
  assert.equal(query.get('agent_id'), 'agent-1');
  assert.equal(query.get('after_seq'), '7');
  assert.equal(query.get('follow'), 'true');
  assert.equal(query.get('access_token'), 'tok/+=');
  assert.ok(!traceUrl('agent-1', {}, '').includes('access_token'), 'no token, no parameter');
});

test('the trace URL and calls use the stored token by default', async () => {
  const storage = memoryStorage();
  setToken('stored-token', storage);
  const seen = stubBrowser(storage, () => ({ body: { agents: [] } }));
  assert.equal(new URLSearchParams(traceUrl('a').split('?')[1]).get('access_token'), 'stored-token');
  assert.deepEqual(await call('ListAgents', { limit: 5 }), { agents: [] });
  assert.equal(seen.length, 1);
  assert.equal(seen[0].url, 'agentry.v1.AgentHub/ListAgents');
  assert.equal(seen[0].init.headers.Authorization, 'Bearer stored-token');
  assert.equal(seen[0].init.headers['Content-Type'], 'application/json');
  assert.equal(seen[0].init.body, '{"limit":5}');
});

test('whoami answers an identity; an older hub is the anonymous admin', () => {
  assert.deepEqual(parseWhoami({ identity: 'alice', role: 'viewer', tenant: 'acme', authenticated: true }), {
    identity: 'alice',
    role: 'viewer',
    tenant: 'acme',
    authenticated: true,
  });
  assert.deepEqual(parseWhoami({ identity: 'root', role: 'admin', tenant: null, authenticated: true }).tenant, null);
  assert.deepEqual(parseWhoami(null), { identity: 'anonymous', role: 'admin', tenant: null, authenticated: false });
  assert.equal(parseWhoami({ role: 7 }).role, 'admin');
  assert.equal(identityLabel({ identity: 'alice', role: 'viewer', tenant: 'acme' }), 'alice · viewer · acme');
  assert.equal(identityLabel({ identity: 'root', role: 'admin', tenant: null }), 'root · admin');
});

test('whoami tries a given token without storing it, and rejects with the hub message', async () => {
  const storage = memoryStorage();
  const seen = stubBrowser(storage, (url, init) =>
    init.headers.Authorization === 'Bearer good'
      ? { body: { identity: 'alice', role: 'client', tenant: 'acme', authenticated: true } }
      : { status: 401, body: { code: 'unauthenticated', message: 'unknown token' } },
  );
  const who = await whoami('good');
  assert.equal(who.identity, 'alice');
  assert.equal(seen[0].url, 'api/v1/whoami');
  assert.equal(getToken(storage), '', 'trying a token stores nothing');
  await assert.rejects(whoami('bad'), (err) => err instanceof ApiError && err.code === 'unauthenticated' && err.message === 'unknown token' && err.status === 401);
});

test('an unauthenticated call drops the refused token and tells the sign-in dialog', async () => {
  const storage = memoryStorage();
  setToken('revoked', storage);
  stubBrowser(storage, () => ({ status: 401, body: { code: 'unauthenticated', message: 'unknown token' } }));
  const messages = [];
  const stop = onUnauthenticated((message) => messages.push(message));
  try {
    await assert.rejects(call('ListAgents'), (err) => err.code === 'unauthenticated' && err.message === 'unknown token');
    assert.deepEqual(messages, ['unknown token']);
    assert.equal(getToken(storage), '', 'the refused token is forgotten');
  } finally {
    stop();
  }
});

test('a refusal of an older token keeps the newer one', () => {
  const storage = memoryStorage();
  setToken('new', storage);
  const messages = [];
  const stop = onUnauthenticated((message) => messages.push(message));
  reportUnauthenticated('expired', 'old', storage);
  reportUnauthenticated('missing token', '', storage);
  stop();
  reportUnauthenticated('after unsubscribe', 'new', storage);
  assert.deepEqual(messages, ['expired', 'missing token']);
  assert.equal(getToken(storage), '', 'the last report refused the stored token itself');
});

test('a permission refusal is an error with the hub message, not a sign-in', async () => {
  stubBrowser(memoryStorage(), () => ({ status: 403, body: { code: 'permission_denied', message: 'role viewer may not call Spawn' } }));
  const messages = [];
  const stop = onUnauthenticated((message) => messages.push(message));
  try {
    await assert.rejects(call('Spawn', {}), (err) => err.code === 'permission_denied' && err.message === 'role viewer may not call Spawn' && err.status === 403);
    assert.deepEqual(messages, []);
  } finally {
    stop();
  }
  assert.equal(isUnauthenticated(401, 'http_401'), true);
  assert.equal(isUnauthenticated(400, 'unauthenticated'), true);
  assert.equal(isUnauthenticated(403, 'permission_denied'), false);
});

test('an unreachable hub is unavailable; a body that is not JSON keeps its text', async () => {
  globalThis.fetch = async () => {
    throw new TypeError('Failed to fetch');
  };
  await assert.rejects(call('ListAgents'), (err) => err.code === 'unavailable' && err.status === 0);
  stubBrowser(memoryStorage(), () => ({ status: 502, body: 'bad gateway' }));
  await assert.rejects(call('ListAgents'), (err) => err.code === 'http_502' && err.message === 'bad gateway');
});
