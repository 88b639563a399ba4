// DOM helpers: `h(tag, attrs, ...children)` builds elements with text nodes only (event data is
// never parsed as HTML), the toast area and the in-page confirmation dialog.

/**
 * Creates an element. `attrs`: `class`, `style` (object of properties, custom properties
 * allowed), `on<event>` functions, booleans (`hidden`, `disabled`: set when true), `dataset`
 * object, anything else as an attribute. Children: nodes, strings (as text), numbers, arrays;
 * null / undefined / false are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'style' && typeof value === 'object') {
        for (const [p, v] of Object.entries(value)) el.style.setProperty(p, String(v));
      } else if (key === 'dataset') {
        for (const [d, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[d] = String(v);
      } else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (value === true) el.setAttribute(key, '');
      else if (key === 'value' && 'value' in el) el.value = String(value);
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children (see `h`). */
export function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

/** Removes every child of `el`, then appends `children`. */
export function replaceChildren(el, ...children) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return append(el, children);
}

/** Sets `el.textContent` only when it differs (keeps selection and avoids layout work). */
export function setText(el, text) {
  const t = text === undefined || text === null ? '' : String(text);
  if (el.textContent !== t) el.textContent = t;
}

/** Sets or removes an attribute only when it changes. */
export function setAttr(el, name, value) {
  if (value === null || value === undefined || value === false) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else {
    const v = value === true ? '' : String(value);
    if (el.getAttribute(name) !== v) el.setAttribute(name, v);
  }
}

let toastArea = null;

/** Shows a toast: `kind` `ok` or `error`; it goes away after a while or on click. */
export function toast(kind, text) {
  if (!toastArea || !toastArea.isConnected) {
    toastArea = h('div', { class: 'toasts', 'aria-live': 'polite' });
    document.body.appendChild(toastArea);
  }
  const el = h('div', { class: `toast toast-${kind}`, 'data-testid': 'toast', 'data-kind': kind, role: kind === 'error' ? 'alert' : 'status' }, text);
  el.addEventListener('click', () => el.remove());
  toastArea.appendChild(el);
  setTimeout(() => el.remove(), kind === 'error' ? 12000 : 6000);
  return el;
}

/**
 * Asks for confirmation in an in-page dialog. `options`: `title`, `body` (text or node),
 * `ok` (button label), `danger` (red button), `input` (`{label, placeholder, value}`: a text
 * field whose value is returned). Resolves to `{ok: boolean, value: string}`.
 */
export function confirmDialog({ title, body, ok = 'Confirm', danger = false, input = null }) {
  return new Promise((resolve) => {
    const previous = document.activeElement;
    const field = input ? h('input', { type: 'text', class: 'dialog-input', placeholder: input.placeholder ?? '', value: input.value ?? '', 'data-testid': 'confirm-input' }) : null;
    const okButton = h('button', { type: 'button', class: danger ? 'btn btn-danger' : 'btn btn-primary', 'data-testid': 'confirm-ok' }, ok);
    const cancelButton = h('button', { type: 'button', class: 'btn', 'data-testid': 'confirm-cancel' }, 'Cancel');
    const dialog = h(
      'div',
      { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'data-testid': 'confirm-dialog' },
      h('h2', { class: 'dialog-title' }, title),
      h('div', { class: 'dialog-body' }, body ?? ''),
      field ? h('label', { class: 'dialog-field' }, h('span', null, input.label ?? ''), field) : null,
      h('div', { class: 'dialog-buttons' }, cancelButton, okButton),
    );
    const backdrop = h('div', { class: 'backdrop' }, dialog);
    const close = (result) => {
      document.removeEventListener('keydown', onKey, true);
      backdrop.remove();
      if (previous && previous.focus) previous.focus();
      resolve({ ok: result, value: field ? field.value : '' });
    };
    const onKey = (ev) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        ev.stopPropagation();
        close(false);
      } else if (ev.key === 'Enter' && document.activeElement !== cancelButton) {
        ev.preventDefault();
        ev.stopPropagation();
        close(true);
      }
    };
    okButton.addEventListener('click', () => close(true));
    cancelButton.addEventListener('click', () => close(false));
    backdrop.addEventListener('click', (ev) => {
      if (ev.target === backdrop) close(false);
    });
    document.addEventListener('keydown', onKey, true);
    document.body.appendChild(backdrop);
    (field ?? okButton).focus();
  });
}

/**
 * Confirms, then runs `call` and reports the outcome in a toast. `success(result)` returns the
 * text of the ok toast. Resolves to the result, or null when declined or failed.
 */
export async function confirmAndRun({ title, body, ok, danger, input, call, success }) {
  const answer = await confirmDialog({ title, body, ok, danger, input });
  if (!answer.ok) return null;
  try {
    const result = await call(answer.value);
    toast('ok', success ? success(result) : `${title}: done`);
    return result;
  } catch (err) {
    toast('error', `${title} failed: ${err.message ?? err}`);
    return null;
  }
}

/**
 * Batches renders into one per animation frame (with a timer fallback for hidden tabs), or one
 * per `slow()` milliseconds while `slow()` returns a positive number (a backlog being replayed:
 * fewer, larger renders).
 */
export function frameScheduler(render, slow = () => 0) {
  let scheduled = false;
  let frame = 0;
  let timer = 0;
  const run = () => {
    if (!scheduled) return;
    scheduled = false;
    cancelAnimationFrame(frame);
    clearTimeout(timer);
    render();
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    const wait = slow();
    if (wait > 0) {
      timer = setTimeout(run, wait);
      return;
    }
    frame = requestAnimationFrame(run);
    timer = setTimeout(run, 250);
  };
  schedule.flush = run;
  schedule.cancel = () => {
    scheduled = false;
    cancelAnimationFrame(frame);
    clearTimeout(timer);
  };
  return schedule;
}

/** A status badge: `<span class="badge s-running">running</span>`. */
export function statusBadge(status, attrs = {}) {
  return h('span', { class: `badge s-${status || 'none'}`, ...attrs }, status || 'none');
}

/**
 * Calls `load` again `ms` milliseconds after each `schedule()` — only while the page is visible
 * (a hidden page waits another period, so a background tab makes no requests). `cancel()` drops
 * the pending call (a load started by hand), `stop()` ends it for good. Returns
 * `{ schedule, cancel, stop }`.
 */
export function refresher(load, ms) {
  let timer = 0;
  let stopped = false;
  function schedule() {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(() => {
      if (document.visibilityState === 'visible') load();
      else schedule();
    }, ms);
  }
  return {
    schedule,
    cancel() {
      clearTimeout(timer);
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** A view's key handler for `r`: calls `load`; returns whether it handled the key. */
export function reloadOnR(load) {
  return (ev) => {
    if (ev.key !== 'r') return false;
    load();
    return true;
  };
}
