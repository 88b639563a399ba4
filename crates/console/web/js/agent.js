// Agent page (`#/agents/<id>`): header with the live status, actions (cancel, pause, resume,
// send, approvals), and the trace panel fed by the live SSE stream.

import { call, nodeName, nodeNames } from './api.js';
import { confirmAndRun, h, replaceChildren, statusBadge, toast } from './dom.js';
import { dateTime, fmtInt, fmtUsd, isActiveStatus, num, oneLine, parseTs, prettyJson, runStatusName, shortId } from './format.js';
import { agentHref } from './routes.js';
import { TraceStream } from './sse.js';
import { createTracePanel } from './trace_panel.js';

/** Event types after which the agent's status may have changed (GetAgent is read again). */
const LIFECYCLE = new Set([
  'run_started',
  'run_finished',
  'run_failed',
  'run_cancelled',
  'run_paused',
  'run_resumed',
  'run_moved',
  'approval_requested',
  'approval_decided',
  'budget_exceeded',
]);

const ACTOR = 'console';

export function mountAgent(container, route) {
  const agentId = route.agentId;
  let agent = null;
  let destroyed = false;
  let stream = null;
  let replayTarget = null; // lastSeq from GetAgent: the backlog is replayed once reached
  let replayed = false;
  let refetchTimer = 0;
  let pollTimer = 0;
  let tickTimer = 0;
  let status = '';
  let notFound = false;
  let approvalsKey = '';
  const runInputs = new Map();
  const inputRequests = new Set();

  // Header.
  const statusEl = h('span', { class: 'agent-status', 'data-testid': 'agent-status' }, '');
  const title = h('h1', { class: 'agent-title' }, h('span', { class: 'muted' }, 'agent '), h('span', { class: 'mono', title: agentId }, agentId));
  const meta = h('dl', { class: 'agent-meta' });
  const errorEl = h('div', { class: 'banner error', 'data-testid': 'view-error', hidden: true });

  // Actions.
  const cancelBtn = h('button', { type: 'button', class: 'btn btn-danger requires-write', 'data-testid': 'action-cancel', onclick: () => act('cancel') }, 'Cancel run');
  const pauseBtn = h('button', { type: 'button', class: 'btn requires-write', 'data-testid': 'action-pause', onclick: () => act('pause') }, 'Pause');
  const resumeBtn = h('button', { type: 'button', class: 'btn requires-write', 'data-testid': 'action-resume', onclick: () => act('resume') }, 'Resume');
  const forkBtn = h('button', { type: 'button', class: 'btn requires-write', 'data-testid': 'action-fork', onclick: () => fork() }, 'Fork');
  const sendInput = h('input', { type: 'text', class: 'send-input', 'data-testid': 'send-input', placeholder: 'Send a message to this agent…', 'aria-label': 'message' });
  const sendBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'action-send', onclick: () => send() }, 'Send');
  sendInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') send();
  });
  const approvalsEl = h('div', { class: 'approvals requires-write', 'data-testid': 'approvals' });
  const actions = h(
    'div',
    { class: 'actions requires-write' },
    h('div', { class: 'action-group' }, cancelBtn, pauseBtn, resumeBtn, forkBtn),
    h('div', { class: 'action-group send' }, sendInput, sendBtn),
  );

  // Cost extras: budget and the agent tree's total.
  const budgetEl = h('div', { class: 'budget', 'data-testid': 'budget' });
  const treeEl = h('div', { class: 'tree-cost', 'data-testid': 'tree-cost' });
  const costExtra = h('div', { class: 'cost-extra' }, budgetEl, treeEl);

  const panel = createTracePanel({
    rootAgentId: agentId,
    nodeName,
    runInput: (runId) => runInputs.get(runId) ?? null,
    costExtra,
    onTab: (tab) => {
      history.replaceState(null, '', agentHref(agentId, tab));
      if (tab === 'cost') loadTreeCost();
    },
    onRendered: (model, change) => afterRender(model, change),
  });

  const view = h(
    'section',
    { class: 'view agent-view', 'data-testid': 'agent-view', 'data-agent-id': agentId },
    h('header', { class: 'agent-header' }, h('div', { class: 'agent-title-row' }, title, statusEl), meta),
    errorEl,
    actions,
    approvalsEl,
    panel.el,
  );
  replaceChildren(container, view);
  panel.setTab(route.tab);
  setStatus('');

  function setStatus(s) {
    status = s;
    replaceChildren(statusEl, statusBadge(s));
    statusEl.dataset.status = s;
    view.dataset.status = s;
    // Buttons stay usable (the hub refuses what does not apply, and says why in a toast);
    // the ones that do not apply are dimmed.
    cancelBtn.classList.toggle('inapplicable', !isActiveStatus(s));
    pauseBtn.classList.toggle('inapplicable', !(s === 'queued' || s === 'running'));
    resumeBtn.classList.toggle('inapplicable', s !== 'paused');
    if (s === 'waiting_approval') loadApprovals();
    else {
      approvalsKey = '';
      replaceChildren(approvalsEl);
    }
  }

  function renderMeta() {
    if (!agent) return;
    const run = agent.latestRun ?? {};
    const labels = Object.entries(agent.labels ?? {});
    const item = (k, v) => (v === null || v === undefined || v === '' ? null : [h('dt', null, k), h('dd', null, v)]);
    replaceChildren(
      meta,
      item('model', agent.spec?.model),
      item('tools', (agent.spec?.tools ?? []).join(', ')),
      item('labels', labels.length ? labels.map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`)) : null),
      item('parent', agent.parentId ? h('a', { href: agentHref(agent.parentId), class: 'link mono', 'data-testid': 'agent-parent' }, shortId(agent.parentId)) : null),
      item('created', dateTime(parseTs(agent.createdAt))),
      item('latest run', run.runId ? h('span', { class: 'mono', title: run.runId }, shortId(run.runId)) : null),
      item('node', run.nodeId ? h('span', { title: run.nodeId }, nodeName(run.nodeId)) : null),
      item('events', fmtInt(agent.lastSeq)),
      item('imported from', agent.importedFrom),
      item(
        'forked from',
        agent.forkedFrom
          ? [h('a', { href: agentHref(agent.forkedFrom), class: 'link mono', 'data-testid': 'agent-forked-from' }, shortId(agent.forkedFrom)), ` at seq ${num(agent.forkedAtSeq)}`]
          : null,
      ),
      item(run.status && runStatusName(run.status) === 'queued' ? 'waiting' : 'error', run.error || run.waitReason ? h('span', { class: 'error-text', title: run.error || run.waitReason }, oneLine(run.error || run.waitReason, 160)) : null),
    );
    renderBudget();
  }

  function bar(used, max, label) {
    const pct = max > 0 ? Math.min(100, (used / max) * 100) : 0;
    return h(
      'div',
      { class: 'budget-row' },
      h('span', { class: 'budget-label' }, label),
      h('div', { class: `progress${pct >= 90 ? ' high' : ''}`, role: 'progressbar', 'aria-valuenow': String(Math.round(pct)), 'aria-valuemin': '0', 'aria-valuemax': '100' }, h('div', { class: 'progress-fill', style: { width: `${pct}%` } })),
      h('span', { class: 'budget-pct' }, `${pct.toFixed(1)}%`),
    );
  }

  function renderBudget() {
    const b = agent?.budget;
    if (!b) {
      replaceChildren(budgetEl, h('h3', null, 'Budget'), h('p', { class: 'muted' }, 'No budget: model calls are unlimited.'));
      return;
    }
    const used = num(b.usedTokens);
    const reserved = num(b.reservedTokens);
    const rows = [];
    if (b.maxTokens !== undefined) rows.push(bar(used + reserved, num(b.maxTokens), `${fmtInt(used)} used + ${fmtInt(reserved)} reserved of ${fmtInt(b.maxTokens)} tokens`));
    if (b.maxCostUsd !== undefined) rows.push(bar(num(b.usedCostUsd), num(b.maxCostUsd), `${fmtUsd(b.usedCostUsd)} of ${fmtUsd(b.maxCostUsd)}`));
    if (!rows.length) rows.push(h('p', { class: 'muted' }, `${fmtInt(used)} tokens, ${fmtUsd(b.usedCostUsd)} used (no limit)`));
    replaceChildren(budgetEl, h('h3', null, 'Budget ', h('span', { class: 'muted mono', title: b.budgetId }, shortId(b.budgetId))), rows);
  }

  let rootId = null;
  async function loadTreeCost() {
    try {
      if (!rootId) {
        // The agent at the top of the tree: GetCost by agent is keyed by it.
        let current = agent ?? (await call('GetAgent', { agentId })).agent;
        for (let depth = 0; current?.parentId && depth < 16; depth++) {
          current = (await call('GetAgent', { agentId: current.parentId })).agent;
        }
        rootId = current?.agentId ?? agentId;
      }
      const res = await call('GetCost', { by: 'COST_GROUPING_AGENT' });
      if (destroyed) return;
      const row = (res.rows ?? []).find((r) => r.key === rootId);
      replaceChildren(
        treeEl,
        h('h3', null, 'Agent tree total'),
        h('p', { class: 'muted' }, rootId === agentId ? 'This agent and its sub-agents, all time.' : ['Root agent ', h('a', { href: agentHref(rootId), class: 'link mono' }, shortId(rootId)), ' and all its sub-agents, all time.']),
        row
          ? h('p', { 'data-testid': 'tree-cost-total' }, `${fmtInt(row.calls)} calls · ${fmtInt(row.totalTokens)} tokens (${fmtInt(row.inputTokens)} in, ${fmtInt(row.outputTokens)} out) · ${fmtUsd(row.costUsd)}`)
          : h('p', { class: 'muted', 'data-testid': 'tree-cost-total' }, 'No model calls recorded for this tree.'),
      );
    } catch (err) {
      if (!destroyed) replaceChildren(treeEl, h('h3', null, 'Agent tree total'), h('p', { class: 'error-text' }, err.message));
    }
  }

  async function loadAgent() {
    try {
      const res = await call('GetAgent', { agentId });
      if (destroyed) return null;
      agent = res.agent ?? null;
      errorEl.hidden = true;
      if (agent?.latestRun?.runId && agent.latestRun.input) runInputs.set(agent.latestRun.runId, agent.latestRun.input);
      renderMeta();
      setStatus(runStatusName(agent?.latestRun?.status));
      return agent;
    } catch (err) {
      if (destroyed) return null;
      errorEl.hidden = false;
      errorEl.textContent = err.code === 'not_found' ? `Agent ${agentId} not found.` : `Could not load the agent: ${err.message}`;
      if (err.code === 'not_found' || err.code === 'invalid_argument') notFound = true;
      return null;
    }
  }

  function refetchSoon() {
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(loadAgent, 200);
  }

  function poll() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      if (document.visibilityState === 'visible') await loadAgent();
      if (!destroyed) poll();
    }, 5000);
  }

  async function loadApprovals() {
    const runId = agent?.latestRun?.runId;
    if (!runId) return;
    try {
      const res = await call('ListApprovals', { pendingOnly: true, runId });
      if (destroyed) return;
      const pending = res.approvals ?? [];
      // Re-render only when the list changed (a button being clicked stays in place).
      const key = JSON.stringify(pending.map((a) => [a.runId, a.toolCallId]));
      if (key === approvalsKey && approvalsEl.childElementCount) return;
      approvalsKey = key;
      replaceChildren(
        approvalsEl,
        pending.length ? h('h3', null, 'Waiting for approval') : null,
        pending.map((a) =>
          h(
            'div',
            { class: 'approval', 'data-testid': 'approval', 'data-tool-call-id': a.toolCallId },
            h('div', { class: 'approval-what' }, h('code', null, a.tool), ' ', h('span', { class: 'muted' }, a.rule ? `rule: ${a.rule}${a.ruleReason ? ' — ' + a.ruleReason : ''}` : '')),
            h('pre', { class: 'code small' }, prettyJson(a.arguments || '{}')),
            h(
              'div',
              { class: 'approval-buttons' },
              h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'action-approve', onclick: () => decide(a, true) }, 'Approve'),
              h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'action-deny', onclick: () => decide(a, false) }, 'Deny'),
            ),
          ),
        ),
      );
    } catch (err) {
      if (!destroyed) replaceChildren(approvalsEl, h('p', { class: 'error-text' }, `Could not list approvals: ${err.message}`));
    }
  }

  async function decide(approval, approved) {
    const verb = approved ? 'Approve' : 'Deny';
    const done = await confirmAndRun({
      title: `${verb} ${approval.tool} call`,
      body: h('div', null, h('p', null, `${verb} the held call ${approval.toolCallId} of run ${shortId(approval.runId)}?`), h('pre', { class: 'code small' }, prettyJson(approval.arguments || '{}'))),
      ok: verb,
      danger: !approved,
      input: { label: 'Reason (optional)', placeholder: approved ? '' : 'shown to the model' },
      call: (reason) => call('Approve', { runId: approval.runId, toolCallId: approval.toolCallId, approved, reason, actor: ACTOR }),
      success: () => `${approved ? 'Approved' : 'Denied'} ${approval.tool} call`,
    });
    if (done) {
      await loadAgent();
      loadApprovals();
    }
  }

  async function act(kind) {
    const run = agent?.latestRun;
    if (!run?.runId) {
      toast('error', 'This agent has no run.');
      return;
    }
    const runId = run.runId;
    const specs = {
      cancel: {
        title: 'Cancel run',
        body: `Cancel run ${runId}? It stops for good (status cancelled).`,
        ok: 'Cancel run',
        danger: true,
        input: { label: 'Reason (optional)', placeholder: 'cancelled from the console' },
        call: (reason) => call('CancelRun', { runId, reason: reason || 'cancelled from the console' }),
        success: () => `Run ${shortId(runId)} cancelled`,
      },
      pause: {
        title: 'Pause run',
        body: `Pause run ${runId}? It leaves its node and waits until resumed.`,
        ok: 'Pause',
        input: { label: 'Reason (optional)', placeholder: '' },
        call: (reason) => call('PauseRun', { runId, reason }),
        success: () => `Run ${shortId(runId)} paused`,
      },
      resume: {
        title: 'Resume run',
        body: `Resume run ${runId}? It is queued again and continues from its last commit.`,
        ok: 'Resume',
        input: { label: 'Raise the budget by N tokens (optional)', placeholder: '0' },
        call: (extra) => {
          const body = { runId };
          const n = Number(String(extra ?? '').trim() || '0');
          if (!Number.isInteger(n) || n < 0) throw new Error(`"${extra}" is not a whole number of tokens`);
          if (n > 0) body.addTokens = String(n);
          return call('ResumeRun', body);
        },
        success: () => `Run ${shortId(runId)} resumed`,
      },
    };
    const done = await confirmAndRun(specs[kind]);
    if (done) {
      if (done.run && agent) {
        agent.latestRun = { ...agent.latestRun, ...done.run };
        setStatus(runStatusName(done.run.status));
      }
      loadAgent();
    }
  }

  /** Forks the agent (`AgentHub.Fork`, one fork) after a seq, then opens the fork. */
  async function fork() {
    const done = await confirmAndRun({
      title: 'Fork agent',
      body: `Fork agent ${agentId}? A new agent shares its conversation up to the seq you give (empty: its last commit), copied without asking the model again, and continues from there.`,
      ok: 'Fork',
      input: { label: 'After seq (optional)', placeholder: String(num(agent?.lastSeq)) },
      call: (seqText) => {
        const body = { agentId, count: 1 };
        const text = String(seqText ?? '').trim();
        if (text) {
          const seq = Number(text);
          if (!Number.isInteger(seq) || seq < 1) throw new Error(`"${seqText}" is not a seq (a whole number from 1)`);
          body.atSeq = String(seq);
        }
        return call('Fork', body);
      },
      success: (res) => `Forked: agent ${shortId(res.forks?.[0]?.agentId ?? '')}`,
    });
    const forkId = done?.forks?.[0]?.agentId;
    if (forkId) location.hash = agentHref(forkId);
  }

  async function send() {
    const text = sendInput.value;
    if (!text.trim()) {
      sendInput.focus();
      return;
    }
    const done = await confirmAndRun({
      title: 'Send message',
      body: h('div', null, h('p', null, `Send to agent ${shortId(agentId)} (queued behind an active run):`), h('pre', { class: 'code small' }, text)),
      ok: 'Send',
      call: async () => {
        const res = await call('SendMessage', { agentId, input: text });
        if (res.accepted === false) throw new Error('the hub did not accept the message');
        return res;
      },
      success: (res) => `Message sent: run ${shortId(res.runId)}`,
    });
    if (done) {
      sendInput.value = '';
      if (done.runId) runInputs.set(done.runId, text);
      loadAgent();
    }
  }

  function fetchInputs(model, change) {
    for (const run of change.runs) {
      if (runInputs.has(run.id) || inputRequests.has(run.id) || !run.userEntry || run.userEntry.text !== null) continue;
      inputRequests.add(run.id);
      call('GetRun', { runId: run.id })
        .then((res) => {
          if (destroyed) return;
          runInputs.set(run.id, res.run?.input ?? '');
          panel.refreshRun(run.id);
        })
        .catch(() => {
          runInputs.set(run.id, '(input unavailable)');
          if (!destroyed) panel.refreshRun(run.id);
        });
    }
  }

  function afterRender(model, change) {
    fetchInputs(model, change);
    if (!replayed && replayTarget !== null && model.lastSeq >= replayTarget) {
      replayed = true;
      panel.markReplayed();
      tick();
    }
  }

  /** While a run is active, the time axis runs to now: open steps (a model call, a held tool call) grow. */
  function tick() {
    if (isActiveStatus(status) && status !== 'paused') panel.tick(Date.now());
  }

  function onEvents(events) {
    panel.push(events);
    if (replayed && events.some((e) => LIFECYCLE.has(e.type))) {
      // Live: show the status the events say at once, then the hub's word.
      const s = panel.model.status;
      if (s) setStatus(s);
      refetchSoon();
    }
  }

  async function start() {
    const [a] = await Promise.all([
      loadAgent(),
      nodeNames().then(() => {
        if (destroyed) return;
        panel.refreshNames();
        renderMeta();
      }),
    ]);
    if (destroyed) return;
    if (notFound) {
      // Nothing to follow; the banner says why.
      panel.markReplayed();
      return;
    }
    replayTarget = a ? num(a.lastSeq) : null;
    if (panel.tab === 'cost') loadTreeCost();
    if (replayTarget === 0) {
      replayed = true;
      panel.markReplayed();
    }
    stream = new TraceStream(agentId, {
      onEvents,
      onToken: (e) => panel.token(e),
      onEnd: () => {
        if (!replayed) {
          replayed = true;
          panel.flush();
          panel.markReplayed();
        }
      },
      finished: () => !!agent?.importedFrom && panel.model.lastSeq >= num(agent.lastSeq),
      onError: (err) => {
        errorEl.hidden = false;
        errorEl.textContent = `Trace: ${err.message}`;
      },
    }).start();
    if (replayTarget === null) {
      // GetAgent failed: consider the backlog replayed once the stream is quiet.
      let last = -1;
      const quiet = setInterval(() => {
        if (destroyed || replayed) return clearInterval(quiet);
        if (panel.model.lastSeq === last) {
          replayed = true;
          panel.markReplayed();
          clearInterval(quiet);
        }
        last = panel.model.lastSeq;
      }, 300);
    }
    poll();
    tickTimer = setInterval(tick, 1000);
  }
  start();

  return {
    update(newRoute) {
      if (newRoute.tab !== panel.tab) {
        panel.setTab(newRoute.tab);
        if (newRoute.tab === 'cost') loadTreeCost();
      }
    },
    unmount() {
      destroyed = true;
      stream?.close();
      clearTimeout(refetchTimer);
      clearTimeout(pollTimer);
      clearInterval(tickTimer);
      panel.destroy();
    },
    key(ev) {
      if (ev.key === '1') panel.setTab('timeline', true);
      else if (ev.key === '2') panel.setTab('transcript', true);
      else if (ev.key === '3') panel.setTab('cost', true);
      else if (ev.key === 'Escape') panel.clearInspector();
      else return false;
      return true;
    },
  };
}
