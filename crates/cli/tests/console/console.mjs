// The console against a live cluster (crates/cli/tests/console.rs drives it): the runs view
// lists a run started over gRPC, its timeline grows live without a reload while the test holds
// and then releases the model, the transcript shows the tool call and its result, the
// inspector shows an event, a cancel from the console ends another run, the nodes and cost
// views show the cluster, and a dropped (and a chosen) JSONL trace renders in the replay view
// without any request. Every request goes to the hub's origin only, and nothing the pages get
// holds the cluster's PostgreSQL or NATS address. Screenshots of each view are saved.
//
// Environment: AGENTRY_CONSOLE_URL (the hub's HTTP origin), AGENTRY_AGENT_ID (the live run's
// agent), AGENTRY_ECHO_TEXT (what its echo call echoes), AGENTRY_FINAL_TEXT (its answer),
// AGENTRY_NODE_IDS (JSON list), AGENTRY_FORBIDDEN (JSON list of strings the pages must never
// receive), AGENTRY_SCREENSHOT_DIR.
//
// Protocol: @@ listed → @@ held {steps} ← go → @@ completed {steps, seqs} ← cancel {agent, trace}
// → @@ cancelled → @@ done {requests, paths}.

import fs from 'node:fs';
import path from 'node:path';
import {
  env,
  main,
  launch,
  openContext,
  report,
  receive,
  screenshot,
  waitForText,
  waitForContains,
  timeline,
  clickIfPresent,
} from './lib.mjs';

const origin = env('AGENTRY_CONSOLE_URL');
const agentId = env('AGENTRY_AGENT_ID');
const echoText = env('AGENTRY_ECHO_TEXT');
const finalText = env('AGENTRY_FINAL_TEXT');
const nodeIds = JSON.parse(env('AGENTRY_NODE_IDS'));
const forbidden = JSON.parse(env('AGENTRY_FORBIDDEN'));

const TIMELINE = '[data-testid=agent-view] [data-testid=timeline]';

await main(async (state) => {
  const browser = await launch(state);
  const { context, audit } = await openContext(browser, origin, forbidden);
  const page = await context.newPage();
  audit.watch(page);

  // 1. The runs view lists the run started over gRPC.
  await page.goto(`${origin}/#/runs`);
  await page.waitForSelector('[data-testid=runs-view][data-rendered="true"]');
  const row = `[data-testid=runs-table] tr[data-agent-id="${agentId}"]`;
  await page.waitForSelector(row);
  await waitForText(page, `${row} [data-testid=run-status]`, 'running');
  await screenshot(page, 'runs');
  report('listed');

  // 2. Its page: the timeline shows step 0 (the model call and the echo call) while the
  // model holds step 1.
  await page.click(row);
  await page.waitForSelector(`[data-testid=agent-view][data-agent-id="${agentId}"]`);
  if (!page.url().endsWith(`#/agents/${agentId}`)) throw new Error(`clicking the row opened ${page.url()}`);
  await waitForText(page, '[data-testid=agent-status]', 'running');
  await waitForText(page, '[data-testid=conn-status]', 'live');
  await page.waitForSelector(`${TIMELINE} [data-testid=timeline-step][data-kind=tool]`);
  const held = await timeline(page, '[data-testid=agent-view]');
  if (!(held.steps >= 2) || held.elements.length !== held.steps) {
    throw new Error(`the held run's timeline: ${JSON.stringify(held)}`);
  }
  // A reload would lose this: the growth below must come with the same document.
  await page.evaluate(() => (window.__agentryConsoleTest = 'same document'));
  const documentsBefore = audit.requests.filter((r) => r.type === 'document').length;
  report('held', { steps: held.steps });
  await receive('go');

  // The test opened the gate: the run completes, the timeline gains its last step live.
  await page.waitForFunction(
    ([selector, before]) => Number(document.querySelector(selector)?.dataset.steps) > before,
    [TIMELINE, held.steps],
  );
  await waitForText(page, '[data-testid=agent-status]', 'completed');
  const same = await page.evaluate(() => window.__agentryConsoleTest);
  const documentsAfter = audit.requests.filter((r) => r.type === 'document').length;
  if (same !== 'same document' || documentsAfter !== documentsBefore) {
    throw new Error(`the page reloaded while the run went on (marker ${same}, documents ${documentsBefore} → ${documentsAfter})`);
  }
  const completed = await timeline(page, '[data-testid=agent-view]');
  if (completed.elements.length !== completed.steps) throw new Error(`data-steps vs steps: ${JSON.stringify(completed)}`);
  await screenshot(page, 'agent');

  // 3. The transcript: the echo call and its result, and the answer.
  await clickIfPresent(page, '[data-testid=tab-transcript]');
  await page.waitForSelector('[data-testid=transcript] [data-testid=tool-call][data-tool=echo]', { state: 'attached' });
  await page.waitForSelector('[data-testid=transcript] [data-testid=tool-result][data-tool=echo]', { state: 'attached' });
  await waitForContains(page, '[data-testid=transcript] [data-testid=tool-call][data-tool=echo]', echoText);
  await waitForContains(page, '[data-testid=transcript] [data-testid=tool-result][data-tool=echo]', echoText);
  await waitForContains(page, '[data-testid=transcript] [data-testid=msg][data-role=assistant]', finalText);
  // The result is a collapsible <details>: open them all for the picture.
  await page.$$eval('[data-testid=transcript] details', (all) => all.forEach((d) => (d.open = true)));
  await screenshot(page, 'transcript');

  // The inspector: clicking the tool step shows its event's JSON.
  await clickIfPresent(page, '[data-testid=tab-timeline]');
  await page.click(`${TIMELINE} [data-testid=timeline-step][data-kind=tool]`);
  await page.waitForSelector('[data-testid=inspector] [data-testid=inspector-json]');
  await waitForContains(page, '[data-testid=inspector] [data-testid=inspector-json]', 'echo');
  await screenshot(page, 'inspector');
  report('completed', { steps: completed.steps, seqs: completed.elements.map((e) => e.seq) });

  // 3b. Fork the completed agent from the console (after its last commit): the fork opens,
  // names its origin, and completes from the copied conversation.
  await page.click('[data-testid=action-fork]');
  await page.waitForSelector('[data-testid=confirm-dialog]');
  await page.click('[data-testid=confirm-dialog] [data-testid=confirm-ok]');
  await page.waitForFunction(
    (source) => {
      const view = document.querySelector('[data-testid=agent-view]');
      return view?.dataset.agentId && view.dataset.agentId !== source;
    },
    agentId,
  );
  const forkId = await page.$eval('[data-testid=agent-view]', (view) => view.dataset.agentId);
  await waitForContains(page, '[data-testid=agent-forked-from]', agentId.slice(0, 8));
  await waitForText(page, '[data-testid=agent-status]', 'completed');
  await page.click('[data-testid=toast][data-kind=ok]');
  await page.waitForSelector('[data-testid=toast]', { state: 'detached' });
  report('forked', { agent: forkId });

  // 4. Cancel from the console: another agent, held by the model, opened from the runs view.
  const { agent: cancelId, trace: tracePath } = await receive('cancel');
  await page.click('[data-testid=nav-runs]');
  await page.waitForSelector('[data-testid=runs-view][data-rendered="true"]');
  const cancelRow = `[data-testid=runs-table] tr[data-agent-id="${cancelId}"]`;
  await page.waitForSelector(cancelRow);
  await page.click(cancelRow);
  await page.waitForSelector(`[data-testid=agent-view][data-agent-id="${cancelId}"]`);
  await waitForText(page, '[data-testid=agent-status]', 'running');
  await page.click('[data-testid=action-cancel]');
  await page.waitForSelector('[data-testid=confirm-dialog]');
  await page.click('[data-testid=confirm-dialog] [data-testid=confirm-ok]');
  await page.waitForSelector('[data-testid=toast][data-kind=ok]');
  // A toast goes away when clicked: out of the later pictures.
  await page.click('[data-testid=toast][data-kind=ok]');
  await page.waitForSelector('[data-testid=toast]', { state: 'detached' });
  await waitForText(page, '[data-testid=agent-status]', 'cancelled');
  await audit.scanDom(page, 'the cancelled agent');
  report('cancelled');

  // 5. The nodes view: both nodes, ready.
  await page.click('[data-testid=nav-nodes]');
  await page.waitForSelector('[data-testid=nodes-view] [data-testid=nodes-table]');
  await page.waitForFunction(
    (ids) => ids.every((id) => document.querySelector(`[data-testid=nodes-table] tr[data-node-id="${id}"]`)),
    nodeIds,
  );
  const nodes = await page.$$eval('[data-testid=nodes-table] tr[data-node-id]', (rows) =>
    rows.map((row) => ({ id: row.dataset.nodeId, state: row.querySelector('[data-testid=node-state]')?.textContent.trim() })),
  );
  if (nodes.length !== 2 || !nodes.every((node) => node.state?.toLowerCase() === 'ready')) {
    throw new Error(`the nodes view shows ${JSON.stringify(nodes)}, not 2 ready nodes ${JSON.stringify(nodeIds)}`);
  }
  await audit.scanDom(page, 'the nodes view');
  await screenshot(page, 'nodes');

  // The cost view: the scripted model's calls, by model and in the heat-map.
  await page.click('[data-testid=nav-cost]');
  await page.waitForSelector('[data-testid=cost-view]');
  await waitForContains(page, '[data-testid=cost-by-model]', 'scripted');
  try {
    await page.waitForFunction(() =>
      [...document.querySelectorAll('[data-testid=cost-heatmap] [data-testid=heat-cell][data-model*=scripted]')].some(
        (cell) => /[1-9]/.test(cell.title),
      ),
    );
  } catch (error) {
    const seen = await page.$eval('[data-testid=cost-heatmap]', (e) => e.outerHTML.slice(0, 600)).catch(() => '(absent)');
    throw new Error(`no heat-cell of the scripted model with tokens in the heat-map ${seen}: ${error.message}`);
  }
  await screenshot(page, 'cost');

  // 6. Replay: the live run's exported trace, dropped on the drop zone, then chosen with the
  // file input, each in a fresh page; no request while it renders.
  const text = fs.readFileSync(tracePath, 'utf8');
  const name = path.basename(tracePath);
  const replays = {};
  for (const how of ['drop', 'input']) {
    const replay = await context.newPage();
    audit.watch(replay);
    await replay.goto(`${origin}/#/replay`);
    await replay.waitForSelector('[data-testid=replay-view] [data-testid=replay-drop]');
    await replay.waitForSelector('[data-testid=replay-view] [data-testid=replay-file]', { state: 'attached' });
    // Whatever the page loads on its own is done before the file comes.
    await replay.waitForLoadState('networkidle');
    const before = audit.requests.length;
    if (how === 'drop') {
      const dataTransfer = await replay.evaluateHandle(
        ([name, text]) => {
          const transfer = new DataTransfer();
          transfer.items.add(new File([text], name, { type: 'application/x-ndjson' }));
          return transfer;
        },
        [name, text],
      );
      const zone = '[data-testid=replay-view] [data-testid=replay-drop]';
      for (const type of ['dragenter', 'dragover', 'drop']) await replay.dispatchEvent(zone, type, { dataTransfer });
    } else {
      await replay.setInputFiles('[data-testid=replay-view] [data-testid=replay-file]', tracePath);
    }
    const view = '[data-testid=replay-view]';
    await replay.waitForFunction(
      ([selector, steps]) => Number(document.querySelector(selector)?.dataset.steps) === steps,
      [`${view} [data-testid=timeline]`, completed.steps],
    );
    const rendered = await timeline(replay, view);
    const seqs = rendered.elements.map((e) => e.seq);
    if (JSON.stringify(seqs) !== JSON.stringify(completed.elements.map((e) => e.seq))) {
      throw new Error(`the ${how} replay's steps ${JSON.stringify(rendered)} differ from the live ones ${JSON.stringify(completed)}`);
    }
    if (how === 'drop') await screenshot(replay, 'replay');
    await clickIfPresent(replay, `${view} [data-testid=tab-transcript]`);
    await replay.waitForSelector(`${view} [data-testid=transcript] [data-testid=tool-call][data-tool=echo]`, { state: 'attached' });
    await waitForContains(replay, `${view} [data-testid=transcript] [data-testid=tool-result][data-tool=echo]`, echoText);
    await waitForContains(replay, `${view} [data-testid=transcript] [data-testid=msg][data-role=assistant]`, finalText);
    const made = audit.since(before);
    if (made.length) throw new Error(`the ${how} replay made requests: ${made.map((r) => `${r.method} ${r.url}`).join(', ')}`);
    replays[how] = rendered.steps;
    await replay.close();
  }

  await audit.scanDom(page, 'the console');
  const summary = await audit.finish();
  report('done', { ...summary, replays });
});
