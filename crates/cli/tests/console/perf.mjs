// Performance report of the console (crates/cli/tests/console.rs drives it): measured, never
// asserted. With AGENTRY_AGENT_COUNT agents in the cluster:
// - time from navigation start to the first render of the runs view
//   (`performance.mark('runs-rendered')` when the console sets it, else the first frame where
//   `[data-testid=runs-view][data-rendered=true]` holds rows), at the console's page size, and
//   with the page size 1000 (the hub's ListAgents maximum) when the console offers a choice;
// - the agents listed across all pages (must be all of them), and how long one ListAgents of
//   1000 takes from the page (data only);
// - time from navigation start to the whole timeline of the imported run
//   AGENTRY_IMPORTED_AGENT (`performance.mark('timeline-rendered')` when set, else the first
//   frame with AGENTRY_TOOL_STEPS tool steps and `data-replayed=true` if the timeline sets it).
// Prints `@@ perf JSON`.

import { env, main, launch, openContext, report, screenshot } from './lib.mjs';

const origin = env('AGENTRY_CONSOLE_URL');
const agentCount = Number(env('AGENTRY_AGENT_COUNT'));
const importedId = env('AGENTRY_IMPORTED_AGENT');
const toolSteps = Number(env('AGENTRY_TOOL_STEPS'));

/** Returns the startTime of the mark `name` (ms since navigation start), or null. */
async function mark(page, name) {
  return page.evaluate((name) => performance.getEntriesByName(name, 'mark').at(-1)?.startTime ?? null, name);
}

/** Returns the agent ids of the rows of the runs table. */
async function rowIds(page) {
  return page.$$eval('[data-testid=runs-table] tr[data-agent-id]', (rows) => rows.map((row) => row.dataset.agentId));
}

/** Opens the runs view at `hash` in a fresh page; returns the page and the render time. */
async function firstRender(context, hash) {
  const page = await context.newPage();
  await page.goto(`${origin}/${hash}`);
  const observed = await (
    await page.waitForFunction(
      () => {
        const view = document.querySelector('[data-testid=runs-view][data-rendered="true"]');
        const rows = document.querySelectorAll('[data-testid=runs-table] tr[data-agent-id]').length;
        return view && rows > 0 ? performance.now() : false;
      },
      undefined,
      { polling: 'raf' },
    )
  ).jsonValue();
  const marked = await mark(page, 'runs-rendered');
  const rows = (await rowIds(page)).length;
  return { page, figure: { ms: round(marked ?? observed), source: marked === null ? 'observed' : 'mark', rows } };
}

/** Pages through the runs table with next-page; returns the distinct agent ids seen. */
async function listAll(page) {
  const seen = new Set(await rowIds(page));
  let pages = 1;
  for (;;) {
    const next = await page.$('[data-testid=next-page]');
    if (!next || !(await next.isEnabled()) || !(await next.isVisible())) break;
    const first = (await rowIds(page))[0];
    await next.click();
    await page.waitForFunction(
      (first) => {
        const row = document.querySelector('[data-testid=runs-table] tr[data-agent-id]');
        return row && row.dataset.agentId !== first;
      },
      first,
    );
    pages += 1;
    for (const id of await rowIds(page)) seen.add(id);
    if (pages > agentCount) throw new Error('next-page never ends');
  }
  return { listed: seen.size, pages };
}

const round = (ms) => Math.round(ms * 10) / 10;

await main(async (state) => {
  const browser = await launch(state);
  const { context, audit } = await openContext(browser, origin, []);
  const result = { agents: agentCount };

  // The runs view at the console's own page size, then through every page.
  const { page, figure } = await firstRender(context, '#/runs');
  const pagingStarted = Date.now();
  const listing = await listAll(page);
  result.runs = { firstRender: figure, ...listing, allPagesMs: Date.now() - pagingStarted };
  // For comparison, the hub's answer to one ListAgents of 1000 (the data only, no rendering).
  result.runs.listAgents1000 = await page.evaluate(async () => {
    const started = performance.now();
    const response = await fetch('agentry.v1.AgentHub/ListAgents', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ limit: 1000 }),
    });
    const body = await response.json();
    return { ms: Math.round((performance.now() - started) * 10) / 10, agents: body.agents?.length ?? 0 };
  });
  await page.close();

  // A page of 1000 when the console offers that size (a page-size control or a `limit` in the
  // route); recorded as absent otherwise.
  const sizes = await (async () => {
    const probe = await context.newPage();
    await probe.goto(`${origin}/#/runs`);
    await probe.waitForSelector('[data-testid=runs-view][data-rendered="true"]');
    const select = await probe.$('[data-testid=page-size]');
    const options = select ? await select.$$eval('option', (all) => all.map((o) => o.value)) : [];
    await probe.close();
    return options;
  })();
  if (sizes.includes('1000')) {
    const big = await context.newPage();
    await big.goto(`${origin}/#/runs`);
    await big.waitForSelector('[data-testid=runs-view][data-rendered="true"]');
    const started = await big.evaluate(() => performance.now());
    await big.selectOption('[data-testid=page-size]', '1000');
    const done = await (
      await big.waitForFunction(
        () => document.querySelectorAll('[data-testid=runs-table] tr[data-agent-id]').length >= 1000 && performance.now(),
        undefined,
        { polling: 'raf' },
      )
    ).jsonValue();
    result.runs.page1000 = { ms: round(done - started), from: 'page-size change', rows: (await rowIds(big)).length };
    await big.close();
  } else {
    result.runs.page1000 = { absent: `the runs view offers page sizes ${JSON.stringify(sizes)}` };
  }

  // The imported 500-step run's whole timeline.
  const agent = await context.newPage();
  await agent.goto(`${origin}/#/agents/${importedId}`);
  const observed = await (
    await agent.waitForFunction(
      (toolSteps) => {
        const timeline = document.querySelector('[data-testid=agent-view] [data-testid=timeline]');
        if (!timeline) return false;
        const tools = timeline.querySelectorAll('[data-testid=timeline-step][data-kind=tool]').length;
        const replayed = !timeline.hasAttribute('data-replayed') || timeline.dataset.replayed === 'true';
        return tools >= toolSteps && replayed ? performance.now() : false;
      },
      toolSteps,
      { polling: 'raf', timeout: 60000 },
    )
  ).jsonValue();
  const marked = await mark(agent, 'timeline-rendered');
  const counts = await agent.$eval('[data-testid=agent-view] [data-testid=timeline]', (timeline) => ({
    steps: Number(timeline.dataset.steps),
    toolSteps: timeline.querySelectorAll('[data-testid=timeline-step][data-kind=tool]').length,
    modelSteps: timeline.querySelectorAll('[data-testid=timeline-step][data-kind=model]').length,
    replayedAttribute: timeline.dataset.replayed ?? null,
  }));
  result.timeline = { ms: round(marked ?? observed), source: marked === null ? 'observed' : 'mark', ...counts };
  await screenshot(agent, 'perf-timeline');
  await agent.close();

  // The origin and content rules are console.mjs's to enforce; here they are only noted.
  const summary = await audit.finish({ strict: false });
  result.requests = summary.requests;
  if (summary.violations.length) result.auditNotes = summary.violations;
  report('perf', result);
});
