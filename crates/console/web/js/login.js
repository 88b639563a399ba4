// Token sign-in: the dialog asking for an access token when the hub wants one, and the
// header's identity (`actor · role`) with "Sign out". The token rules (storage, headers, the
// SSE URL) are in auth.js; the calls in api.js.
//
// The dialog opens when a call is refused as `unauthenticated` (no token, or one the hub no
// longer knows): its message says why, in the hub's words. "Sign in" asks `GET api/v1/whoami`
// with the typed token first, and stores it for this tab only when the hub accepts it; a
// refused token keeps the dialog open with the hub's message. There is no way around it:
// without a valid token the console can show nothing.

import { applyRole, whoami } from './api.js';
import { clearToken, identityLabel, normalizeToken, onUnauthenticated, setToken } from './auth.js';
import { h } from './dom.js';

let dialog = null; // {backdrop, reason, error, input, button}
let signedIn = () => {};

/**
 * Wires the sign-in dialog and the header's identity. `onSignedIn(identity)` runs after a
 * token was accepted and stored (the app reloads its view with it).
 */
export function initAuth({ onSignedIn } = {}) {
  signedIn = onSignedIn ?? (() => {});
  onUnauthenticated((message) => showSignIn(message));
  document.querySelector('[data-testid=sign-out]')?.addEventListener('click', signOut);
}

/** Shows who is signed in (`who` from `whoami`; null or unauthenticated: nobody, hidden). */
export function showIdentity(who) {
  const el = document.querySelector('[data-testid=identity]');
  if (!el) return;
  const name = el.querySelector('[data-testid=identity-name]');
  el.hidden = !who?.authenticated;
  if (name) name.textContent = who?.authenticated ? identityLabel(who) : '';
  el.title = who?.authenticated ? `signed in as ${who.identity} (role ${who.role}${who.tenant ? `, tenant ${who.tenant}` : ''})` : '';
}

/** Forgets the tab's token and starts over: the hub asks for a new one. */
function signOut() {
  clearToken();
  location.reload();
}

/** Opens the sign-in dialog saying `message` (or updates the open one's). */
export function showSignIn(message) {
  showIdentity(null);
  if (dialog?.backdrop.isConnected) {
    dialog.reason.textContent = reasonText(message);
    return;
  }
  const input = h('input', {
    type: 'password',
    id: 'signin-token',
    class: 'dialog-input',
    name: 'access-token',
    autocomplete: 'current-password',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'signin-reason signin-error',
    'data-testid': 'signin-token',
  });
  const button = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'signin-submit' }, 'Sign in');
  const reason = h('p', { class: 'dialog-body', id: 'signin-reason', 'data-testid': 'signin-reason' }, reasonText(message));
  const error = h('p', { class: 'error-text', id: 'signin-error', role: 'alert', 'data-testid': 'signin-error', hidden: true });
  const form = h(
    'form',
    { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'signin-title', 'data-testid': 'signin-dialog', novalidate: true },
    h('h2', { class: 'dialog-title', id: 'signin-title' }, 'Sign in to Agentry'),
    reason,
    h('label', { class: 'dialog-field', for: 'signin-token' }, h('span', null, 'Access token'), input),
    error,
    h('div', { class: 'dialog-buttons' }, button),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submit();
  });
  const backdrop = h('div', { class: 'backdrop signin-backdrop' }, form);
  dialog = { backdrop, reason, error, input, button };
  document.body.appendChild(backdrop);
  input.focus();
}

/** Returns the dialog's explanation of the hub's refusal `message`. */
function reasonText(message) {
  const why = message ? ` The hub says: ${message}` : '';
  return `Enter an access token to use this console.${why}`;
}

/** Tries the typed token; stores it and closes the dialog when the hub accepts it. */
async function submit() {
  const { input, error, button } = dialog;
  const token = normalizeToken(input.value);
  const fail = (text) => {
    error.textContent = text;
    error.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    input.select();
  };
  if (!token) {
    fail('Enter an access token.');
    return;
  }
  button.disabled = true;
  error.hidden = true;
  let who;
  try {
    who = await whoami(token);
  } catch (err) {
    button.disabled = false;
    fail(err.code === 'unavailable' ? err.message : `The hub refused this token: ${err.message}`);
    return;
  }
  setToken(token);
  dialog.backdrop.remove();
  dialog = null;
  showIdentity(who);
  await applyRole();
  signedIn(who);
}
