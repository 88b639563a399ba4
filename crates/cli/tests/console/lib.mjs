// Shared helpers of the console's browser scripts (run by crates/cli/tests/console.rs through
// agentry_test_util::browser): launching Debian's chromium through playwright-core, the line
// protocol with the Rust test, and the audit of every request the pages make.
//
// Protocol: `report(name, value)` prints `@@ name JSON` (the test awaits it);
// `receive(command)` waits for a line `command [JSON]` on stdin and returns the parsed JSON.
// A failure prints `@@ fail MESSAGE` (one line of text) and exits 1 (see `main`).

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

/** Returns the environment variable `name`; throws when it is unset. */
export function env(name) {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

const require = createRequire(path.join(env('AGENTRY_PLAYWRIGHT_DIR'), 'node_modules') + '/');
const { chromium } = require('playwright-core');

/** How long one wait for the page may take (ms). */
export const WAIT = Number(process.env.AGENTRY_BROWSER_WAIT_MS || 20000);

// ---- line protocol -------------------------------------------------------------------------

/** Tells the test that the scenario reached `name`, with `value` as JSON. */
export function report(name, value) {
  const text = value === undefined ? '' : ` ${JSON.stringify(value)}`;
  process.stdout.write(`@@ ${name}${text}\n`);
}

const pending = [];
const waiters = [];
let stdinClosed = false;
const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => (waiters.length ? waiters.shift()(line) : pending.push(line)));
input.on('close', () => {
  stdinClosed = true;
  while (waiters.length) waiters.shift()(null);
});

/** Waits for the test's next command line; it must be `command`; returns its JSON argument. */
export async function receive(command) {
  const line = pending.length ? pending.shift() : stdinClosed ? null : await new Promise((r) => waiters.push(r));
  if (line === null) throw new Error(`stdin closed while waiting for the command ${command}`);
  const [got, ...rest] = line.split(' ');
  if (got !== command) throw new Error(`expected the command ${command}, got ${line}`);
  return rest.length ? JSON.parse(rest.join(' ')) : null;
}

/** Every audit made, for the failure message of `main`. */
const audits = [];

/** Runs `scenario`; on an error reports `@@ fail`, and exits 1 after closing the browser. */
export async function main(scenario) {
  const state = { browser: null };
  try {
    await scenario(state);
    input.close();
    await state.browser?.close();
  } catch (error) {
    // Strip the terminal colours of playwright's call logs; add what the audits saw.
    const message = String(error?.message ?? error).replace(/\u001b\[[0-9;]*m/g, '');
    const seen = [...new Set(audits.flatMap((audit) => audit.violations))];
    const audited = seen.length && !message.startsWith('audit:') ? ` | and the audit saw: ${seen.join('; ')}` : '';
    const lines = message.split('\n').filter((line) => line.trim()).slice(0, 12);
    process.stdout.write(`@@ fail ${lines.join(' | ')}${audited}\n`);
    console.error(error?.stack ?? error);
    await state.browser?.close().catch(() => {});
    process.exit(1);
  }
}

// ---- the browser -----------------------------------------------------------------------------

/** Launches headless Debian chromium (no browser download: AGENTRY_CHROMIUM). */
export async function launch(state) {
  state.browser = await chromium.launch({
    executablePath: env('AGENTRY_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  return state.browser;
}

/**
 * Records every request of a browser context and checks it: only the console's origin and
 * paths (`/`, `/index.html`, `/favicon.ico`, `/assets/…`, `/agentry.v1.AgentHub/<Method>`,
 * `/api/v1/trace`), no page error, and no response body (all but the SSE streams, whose
 * content the Rust test checks itself) nor page text containing a forbidden string (the
 * cluster's PostgreSQL and NATS URLs).
 */
export class Audit {
  constructor(context, origin, forbidden) {
    audits.push(this);
    this.origin = new URL(origin).origin;
    this.forbidden = forbidden.filter((text) => text);
    this.requests = [];
    this.violations = [];
    this.bodies = [];
    this.apiErrors = [];
    context.on('request', (request) => this.#request(request));
    context.on('response', (response) => this.#response(response));
    context.on('page', (page) => this.watch(page));
  }

  /** Fails on the page's uncaught errors (pages opened through the context are watched). */
  watch(page) {
    if (page.__audited) return;
    page.__audited = true;
    page.setDefaultTimeout(WAIT);
    page.on('pageerror', (error) => this.violations.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') console.error(`[page console.error] ${message.text()}`);
    });
  }

  #request(request) {
    const url = request.url();
    this.requests.push({ url, method: request.method(), type: request.resourceType(), at: Date.now() });
    if (url.startsWith('data:') || url.startsWith('blob:')) return;
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      this.violations.push(`a request to an unparsable URL: ${url}`);
      return;
    }
    if (parsed.origin !== this.origin) {
      this.violations.push(`a request to another origin than the hub's ${this.origin}: ${request.method()} ${url}`);
      return;
    }
    const allowed = [
      /^\/$/,
      /^\/index\.html$/,
      /^\/favicon\.ico$/,
      /^\/assets\/[A-Za-z0-9._\/-]+$/,
      /^\/agentry\.v1\.AgentHub\/[A-Za-z]+$/,
      /^\/api\/v1\/trace$/,
      /^\/api\/v1\/whoami$/,
    ];
    if (!allowed.some((pattern) => pattern.test(parsed.pathname))) {
      this.violations.push(`a request to a path that is not the console's: ${request.method()} ${url}`);
    }
  }

  #response(response) {
    const url = response.url();
    if (!url.startsWith(this.origin)) return;
    const status = response.status();
    const pathname = new URL(url).pathname;
    if (status >= 400) {
      if (pathname.startsWith('/agentry.v1.')) this.apiErrors.push(`${status} ${pathname}`);
      else if (pathname !== '/favicon.ico') this.violations.push(`${status} for ${url}`);
    }
    const type = response.headers()['content-type'] || '';
    if (type.includes('text/event-stream')) return;
    this.bodies.push(
      response.text().then(
        (body) => this.#scan(`the response of ${url}`, body),
        () => {}, // a body the page dropped (navigation) is gone: nothing to scan
      ),
    );
  }

  #scan(where, text) {
    for (const secret of this.forbidden) {
      if (text.includes(secret)) this.violations.push(`${where} contains ${JSON.stringify(secret)}`);
    }
  }

  /** Scans the page's whole DOM (text and attributes) for the forbidden strings. */
  async scanDom(page, label) {
    const html = await page.evaluate(() => document.documentElement.outerHTML + document.body.innerText);
    this.#scan(`the DOM of ${label}`, html);
  }

  /** Returns the requests made since `since` (an index of `requests`). */
  since(index) {
    return this.requests.slice(index).filter((request) => !request.url.startsWith('data:'));
  }

  /**
   * Waits for the response bodies, then throws on any violation (unless `strict` is false: they
   * are then in the summary); returns a summary.
   */
  async finish({ strict = true } = {}) {
    await Promise.all(this.bodies);
    const violations = [...new Set(this.violations)];
    if (strict && violations.length) throw new Error(`audit: ${violations.join('; ')}`);
    const paths = [...new Set(this.requests.map((request) => new URL(request.url).pathname))].sort();
    return { requests: this.requests.length, paths, apiErrors: this.apiErrors, violations };
  }
}

/** Opens a browser context with a fixed viewport, audited. */
export async function openContext(browser, origin, forbidden) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const audit = new Audit(context, origin, forbidden);
  return { context, audit };
}

/** Saves a screenshot of `page` as `<dir>/<name>.png` (the Rust test copies them to docs/). */
export async function screenshot(page, name) {
  const dir = env('AGENTRY_SCREENSHOT_DIR');
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`) });
}

// ---- waits on the DOM contract ---------------------------------------------------------------

/** Waits until `selector`'s text, trimmed and lower-cased, is `text`; returns it. */
export async function waitForText(page, selector, text) {
  try {
    await page.waitForFunction(
      ([selector, text]) => document.querySelector(selector)?.textContent.trim().toLowerCase() === text,
      [selector, text],
    );
  } catch (error) {
    const seen = await page.$eval(selector, (element) => element.textContent.trim()).catch(() => '(absent)');
    throw new Error(`${selector} never read ${JSON.stringify(text)} (it reads ${JSON.stringify(seen)}): ${error.message}`);
  }
}

/** Waits until `selector` (the first match) contains `text`. */
export async function waitForContains(page, selector, text) {
  try {
    await page.waitForFunction(
      ([selector, text]) => [...document.querySelectorAll(selector)].some((e) => e.textContent.includes(text)),
      [selector, text],
    );
  } catch (error) {
    const seen = await page.$$eval(selector, (all) => all.map((e) => e.textContent.trim().slice(0, 200)));
    throw new Error(`no ${selector} contains ${JSON.stringify(text)} (seen: ${JSON.stringify(seen)}): ${error.message}`);
  }
}

/** Returns the timeline under `scope`: its data-steps and its steps' kinds and seqs. */
export async function timeline(page, scope = '') {
  return page.$eval(`${scope} [data-testid=timeline]`.trim(), (element) => ({
    steps: Number(element.dataset.steps),
    elements: [...element.querySelectorAll('[data-testid=timeline-step]')].map((step) => ({
      kind: step.dataset.kind,
      seq: Number(step.dataset.seq),
    })),
  }));
}

/** Clicks `selector` under `scope` when the page has it (tabs the layout may not need). */
export async function clickIfPresent(page, selector) {
  const element = await page.$(selector);
  if (element) await element.click();
  return Boolean(element);
}
