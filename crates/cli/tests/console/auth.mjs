// The console against a hub with tokens (crates/cli/tests/console_auth.rs drives it): without
// a token the sign-in dialog asks for one; a wrong token is refused with the hub's message and
// stored nowhere; the tenant's client token lists its tenant's agent and not the other
// tenant's, and follows the agent's trace live over SSE with `access_token`; the other
// tenant's agent does not exist for it; what its role may not do (cordon a node) is refused
// with the hub's message; "Sign out" forgets the token; a viewer token hides every write
// action.
//
// Environment: AGENTRY_CONSOLE_URL (the hub's HTTP origin), AGENTRY_ACME_AGENT (the tenant's
// agent, held by the model mid-run), AGENTRY_GLOBEX_AGENT (the other tenant's), AGENTRY_CLIENT_TOKEN,
// AGENTRY_CLIENT_LABEL (its identity as the header shows it), AGENTRY_VIEWER_TOKEN,
// AGENTRY_WRONG_TOKEN, AGENTRY_WRONG_MESSAGE (the hub's refusal of it),
// AGENTRY_CLIENT_DENIED (the hub's refusal of CordonNode to the client), AGENTRY_SCREENSHOT_DIR.
//
// Protocol: @@ signin → @@ listed {agents, identity} → @@ held {steps} ← go →
// @@ completed {steps, traceRequests} → @@ viewer {identity, hidden} → @@ done {requests, paths}.

import { env, main, launch, openContext, report, receive, screenshot, waitForText, waitForContains, timeline } from './lib.mjs';

const origin = env('AGENTRY_CONSOLE_URL');
const acmeAgent = env('AGENTRY_ACME_AGENT');
const globexAgent = env('AGENTRY_GLOBEX_AGENT');
const clientToken = env('AGENTRY_CLIENT_TOKEN');
const clientLabel = env('AGENTRY_CLIENT_LABEL');
const viewerToken = env('AGENTRY_VIEWER_TOKEN');
const wrongToken = env('AGENTRY_WRONG_TOKEN');
const wrongMessage = env('AGENTRY_WRONG_MESSAGE');
const clientDenied = env('AGENTRY_CLIENT_DENIED');

const DIALOG = '[data-testid=signin-dialog]';
const TIMELINE = '[data-testid=agent-view] [data-testid=timeline]';
const WRITE_ACTIONS = ['action-cancel', 'action-pause', 'action-resume', 'action-fork', 'action-send', 'send-input'];

/** Types `token` into the dialog (found by its accessible label) and presses Sign in. */
async function signIn(page, token) {
  await page.waitForSelector(DIALOG);
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Returns what this tab stored: the sessionStorage and localStorage entries. */
async function storage(page) {
  return page.evaluate(() => ({
    session: Object.fromEntries(Object.entries(sessionStorage)),
    local: Object.fromEntries(Object.entries(localStorage)),
  }));
}

/** Returns the header's identity text, or null when it is hidden. */
async function identity(page) {
  return page.$eval('[data-testid=identity]', (el) => (el.hidden ? null : el.querySelector('[data-testid=identity-name]').textContent.trim()));
}

await main(async (state) => {
  const browser = await launch(state);
  // The real tokens must never come back in a response body or show in the page.
  const { context, audit } = await openContext(browser, origin, [clientToken, viewerToken]);
  const page = await context.newPage();
  audit.watch(page);

  // 1. No token: the sign-in dialog, with an accessible password field and button.
  await page.goto(`${origin}/#/runs`);
  await page.waitForSelector(DIALOG);
  const dialogs = await page.getByRole('dialog', { name: 'Sign in to Agentry' }).count();
  const fieldType = await page.getByLabel('Access token').getAttribute('type');
  if (dialogs !== 1 || fieldType !== 'password') throw new Error(`the sign-in dialog: ${dialogs} dialog(s), field type ${fieldType}`);
  if ((await identity(page)) !== null) throw new Error('the header shows an identity before sign-in');
  await screenshot(page, 'signin');
  report('signin');

  // 2. A wrong token: refused with the hub's message, the dialog stays, nothing is stored.
  await signIn(page, wrongToken);
  await waitForContains(page, '[data-testid=signin-error]', wrongMessage);
  await page.waitForSelector(DIALOG);
  const afterWrong = await storage(page);
  if (Object.keys(afterWrong.session).length || Object.keys(afterWrong.local).length) {
    throw new Error(`a refused token was stored: ${JSON.stringify(afterWrong)}`);
  }

  // 3. The tenant's token: its agent is listed, the other tenant's is not.
  await page.getByLabel('Access token').fill(clientToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector(DIALOG, { state: 'detached' });
  await page.waitForSelector('[data-testid=runs-view][data-rendered="true"]');
  const row = `[data-testid=runs-table] tr[data-agent-id="${acmeAgent}"]`;
  await page.waitForSelector(row);
  await waitForText(page, `${row} [data-testid=run-status]`, 'running');
  const agents = await page.$$eval('[data-testid=runs-table] tr[data-agent-id]', (rows) => rows.map((r) => r.dataset.agentId));
  if (agents.includes(globexAgent)) throw new Error(`the other tenant's agent is listed: ${JSON.stringify(agents)}`);
  await waitForText(page, '[data-testid=identity-name]', clientLabel.toLowerCase());
  const stored = await storage(page);
  if (Object.values(stored.session).join() !== clientToken || Object.keys(stored.local).length) {
    throw new Error(`after sign-in the tab stores ${JSON.stringify(Object.keys(stored.session))} in sessionStorage and ${JSON.stringify(Object.keys(stored.local))} in localStorage`);
  }
  await screenshot(page, 'signed-in');
  report('listed', { agents, identity: await identity(page) });

  // 4. The agent's trace, live: the timeline grows while the page stays, over SSE.
  await page.click(row);
  await page.waitForSelector(`[data-testid=agent-view][data-agent-id="${acmeAgent}"]`);
  await waitForText(page, '[data-testid=agent-status]', 'running');
  await waitForText(page, '[data-testid=conn-status]', 'live');
  await page.waitForSelector(`${TIMELINE} [data-testid=timeline-step][data-kind=tool]`);
  if (!(await page.isVisible('[data-testid=action-cancel]'))) throw new Error('a client token sees no Cancel action');
  const held = await timeline(page, '[data-testid=agent-view]');
  report('held', { steps: held.steps });
  await receive('go');
  await page.waitForFunction(([selector, before]) => Number(document.querySelector(selector)?.dataset.steps) > before, [TIMELINE, held.steps]);
  await waitForText(page, '[data-testid=agent-status]', 'completed');
  const completed = await timeline(page, '[data-testid=agent-view]');
  const traceTokens = audit.requests
    .map((request) => new URL(request.url))
    .filter((url) => url.pathname === '/api/v1/trace')
    .map((url) => url.searchParams.get('access_token'));
  if (!traceTokens.length || traceTokens.some((token) => token !== clientToken)) {
    throw new Error(`${traceTokens.length} trace requests, not all with the signed-in token as access_token`);
  }
  report('completed', { steps: completed.steps, traceRequests: traceTokens.length });

  // 5. The other tenant's agent does not exist for this token.
  await page.goto(`${origin}/#/agents/${globexAgent}`);
  await page.waitForSelector(`[data-testid=agent-view][data-agent-id="${globexAgent}"]`);
  await waitForContains(page, '[data-testid=agent-view] [data-testid=view-error]', 'not found');

  // What the role may not do is refused by the hub, and the page says why in its words.
  await page.click('[data-testid=nav-nodes]');
  const cordon = '[data-testid=nodes-table] tr[data-node-id] [data-testid=node-cordon]';
  await page.waitForSelector(cordon);
  await page.click(cordon);
  await page.click('[data-testid=confirm-dialog] [data-testid=confirm-ok]');
  await waitForContains(page, '[data-testid=toast][data-kind=error]', clientDenied);
  await page.click('[data-testid=toast][data-kind=error]');

  // 6. Sign out: the token is gone, the dialog is back.
  await page.click('[data-testid=sign-out]');
  await page.waitForSelector(DIALOG);
  const afterSignOut = await storage(page);
  if (Object.keys(afterSignOut.session).length) throw new Error(`sign-out left ${JSON.stringify(Object.keys(afterSignOut.session))}`);

  // 7. A viewer: no write action anywhere, the hub's refusal of ListNodes shown as it is.
  await signIn(page, viewerToken);
  await page.waitForSelector(DIALOG, { state: 'detached' });
  await page.waitForFunction(() => document.body.classList.contains('viewer'));
  await page.goto(`${origin}/#/agents/${acmeAgent}`);
  await page.waitForSelector(`[data-testid=agent-view][data-agent-id="${acmeAgent}"]`);
  await waitForText(page, '[data-testid=agent-status]', 'completed');
  // The viewer follows the trace too: the whole timeline of the completed run.
  await page.waitForFunction(([selector, steps]) => Number(document.querySelector(selector)?.dataset.steps) === steps, [TIMELINE, completed.steps]);
  const shown = [];
  for (const id of WRITE_ACTIONS) if (await page.isVisible(`[data-testid=${id}]`)) shown.push(id);
  if (shown.length) throw new Error(`a viewer sees the write actions ${JSON.stringify(shown)}`);
  if (!(await page.isVisible('.viewer-badge'))) throw new Error('no viewer badge for a viewer');
  await screenshot(page, 'viewer');
  await page.click('[data-testid=nav-nodes]');
  await page.waitForSelector('[data-testid=nodes-table] tr[data-node-id]');
  if (await page.isVisible('[data-testid=nodes-table] [data-testid=node-cordon]')) throw new Error('a viewer sees Cordon');
  report('viewer', { identity: await identity(page), hidden: WRITE_ACTIONS });

  // Every request went to the hub's console paths; the only error statuses outside the API
  // calls are the refusals this scenario provoked (whoami without or with a wrong token, the
  // other tenant's trace, the trace of a token signed out).
  const summary = await audit.finish({ strict: false });
  const expected = /^(401|404) for [^ ]*\/api\/v1\/(whoami|trace)(\?|$)/;
  const unexpected = summary.violations.filter((violation) => !expected.test(violation));
  if (unexpected.length) throw new Error(`audit: ${unexpected.join('; ')}`);
  report('done', { requests: summary.requests, paths: summary.paths, apiErrors: summary.apiErrors });
});
