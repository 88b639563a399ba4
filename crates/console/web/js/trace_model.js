// The pure model of a trace (no DOM): events in, timeline steps, transcript entries, run
// segments and per-model / per-run cost out. The agent page feeds it the live SSE stream one
// event at a time, the replay view feeds it a whole file; both render what `add` reports as
// changed, so nothing is rebuilt per event.
//
// Steps (the rows of the timeline waterfall), from the events of the followed (root) agent:
//   model     step_start (or model_start when there is none) opens it; model_start names the
//             model; usage closes it (end = usage ts; tokens, cost, latency, attempts). Without a
//             usage event it ends at the next event of the same run. A second model call for the
//             same (run, step) is a retry (attempt 2, 3, …), as is usage.attempts > 1.
//   tool      tool_start opens it (keyed by tool_call_id), tool_end closes it (output, is_error);
//             a tool_end without a tool_start (a call the policy refused) is a zero-length step.
//             A second tool_start for the same call id (re-run after an interruption) is a retry.
//             A tool named `agent` (or `spawn_agent`, `subagent`) is shown as kind subagent.
//   subagent  events of another agent than the root one (a file mixing agents, parent links):
//             one step per child agent, spanning its first to its last event.
//   moved     run_moved: a marker with the node it left (from_node_id) and the node it went to
//             (to_node_id, or the node of the run's next run_started).
//   approval  approval_requested opens it, approval_decided (same tool_call_id) closes it.
// run_moved, run_paused, run_failed, run_cancelled and run_finished close every open step of
// the run (open tool calls are marked cut). Runs are split in segments, one per run_started
// (node, epoch); every event is annotated with the node and epoch of its run's segment.

import { num, parseTs } from './format.js';

/** Tool names whose calls start a sub-agent. */
export const SUBAGENT_TOOLS = new Set(['agent', 'parallel_agents', 'spawn_agent', 'subagent', 'sub_agent']);

/** Event types that end a run. */
export const RUN_END_TYPES = new Set(['run_finished', 'run_failed', 'run_cancelled']);

function parseData(data, type, dataIsText) {
  let value = data;
  if (dataIsText && typeof value === 'string') {
    if (value === '') return {};
    try {
      value = JSON.parse(value);
    } catch {
      return { value: data };
    }
  }
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    return type === 'final' ? { content: value } : { value };
  }
  return value;
}

/**
 * Normalizes an event of the gateway (TraceEvent JSON: camelCase, `seq` a string, `data` JSON
 * text) or of a trace file (snake_case, `data` an object). Returns
 * `{seq, ts, tsText, type, agentId, runId, parentAgentId, traceId, spanId, data, node, epoch}`.
 */
export function normalizeEvent(raw, { dataIsText } = {}) {
  const type = String(raw.type ?? '');
  const text = dataIsText ?? typeof raw.data === 'string';
  const tsText = typeof raw.ts === 'string' ? raw.ts : raw.ts === undefined || raw.ts === null ? '' : String(raw.ts);
  return {
    seq: num(raw.seq),
    ts: parseTs(raw.ts),
    tsText,
    type,
    agentId: String(raw.agentId ?? raw.agent_id ?? ''),
    runId: String(raw.runId ?? raw.run_id ?? ''),
    parentAgentId: String(raw.parentAgentId ?? raw.parent_agent_id ?? ''),
    traceId: String(raw.traceId ?? raw.trace_id ?? ''),
    spanId: String(raw.spanId ?? raw.span_id ?? ''),
    data: parseData(raw.data, type, text),
    node: '',
    epoch: null,
  };
}

/** Normalizes a gateway TraceEvent (its `data` is JSON text). */
export function fromGateway(raw) {
  return normalizeEvent(raw, { dataIsText: true });
}

function str(v) {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function first(data, ...keys) {
  for (const k of keys) {
    if (data[k] !== undefined && data[k] !== null) return data[k];
  }
  return undefined;
}

function emptyCost() {
  return { calls: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, costUsd: 0 };
}

function addCost(into, usage) {
  into.calls += 1;
  into.inputTokens += usage.inputTokens;
  into.outputTokens += usage.outputTokens;
  into.totalTokens += usage.totalTokens;
  into.costUsd += usage.costUsd;
}

/** Reads the token counts of a `usage` event's data (agentry and OpenAI-style names). */
export function usageOf(data) {
  const inputTokens = num(first(data, 'prompt_tokens', 'input_tokens', 'promptTokens'));
  const outputTokens = num(first(data, 'completion_tokens', 'output_tokens', 'completionTokens'));
  const total = first(data, 'total_tokens', 'totalTokens');
  return {
    model: str(first(data, 'model', 'response_model')) || '-',
    inputTokens,
    outputTokens,
    totalTokens: total === undefined ? inputTokens + outputTokens : num(total),
    costUsd: num(first(data, 'cost_usd', 'costUsd', 'cost')),
    latencyMs: first(data, 'latency_ms', 'duration_ms') === undefined ? null : num(first(data, 'latency_ms', 'duration_ms')),
    attempts: num(data.attempts) || 1,
  };
}

/** A change report: what `add` created or modified, for the renderers. */
function newChange() {
  return { steps: new Set(), entries: new Set(), runs: new Set(), bounds: false, cost: false, status: false, streaming: new Set() };
}

function mergeChange(into, from) {
  for (const k of ['steps', 'entries', 'runs', 'streaming']) for (const v of from[k]) into[k].add(v);
  into.bounds ||= from.bounds;
  into.cost ||= from.cost;
  into.status ||= from.status;
  return into;
}

export class TraceModel {
  /** `rootAgentId`: the followed agent (default: the agent of the first event). */
  constructor({ rootAgentId = '' } = {}) {
    this.rootAgentId = rootAgentId;
    this.events = [];
    this.bySeq = new Map();
    this.lastSeq = 0;
    this.steps = [];
    this.entries = [];
    this.runs = new Map();
    this.subagents = new Map();
    this.minTs = Infinity;
    this.maxTs = -Infinity;
    this.lastTs = NaN;
    this.status = '';
    this.deadLettered = false;
    this.order = 0;
    this.costModels = new Map();
    this.costTotal = emptyCost();
    this.streams = new Map();
  }

  /** Adds events in order; returns the merged change report. */
  addMany(events) {
    const change = newChange();
    for (const e of events) {
      const c = this.add(e);
      if (c) mergeChange(change, c);
    }
    return change;
  }

  /**
   * Adds one normalized event. Returns the change report, or null when the event was a
   * duplicate (seq <= the last one seen) and was ignored.
   */
  add(e) {
    if (e.seq === 0 && e.type === 'token') return this.token(e);
    if (e.seq > 0 && e.seq <= this.lastSeq) return null;
    if (e.seq > 0) this.lastSeq = e.seq;
    const change = newChange();
    if (!Number.isFinite(e.ts)) e.ts = Number.isFinite(this.lastTs) ? this.lastTs : 0;
    this.lastTs = e.ts;
    if (e.ts < this.minTs) {
      this.minTs = e.ts;
      change.bounds = true;
    }
    if (e.ts > this.maxTs) {
      this.maxTs = e.ts;
      change.bounds = true;
    }
    this.events.push(e);
    if (e.seq > 0) this.bySeq.set(e.seq, e);
    if (!this.rootAgentId) this.rootAgentId = e.agentId;
    if (e.agentId && e.agentId !== this.rootAgentId) {
      this.addSubagentEvent(e, change);
    } else {
      this.addRootEvent(e, change);
    }
    return change;
  }

  /** An ephemeral `token` event: streaming model text, per run. */
  token(e) {
    const change = newChange();
    const key = e.runId || '-';
    const text = str(first(e.data, 'text', 'content', 'delta'));
    const s = this.streams.get(key) ?? { runId: key, step: num(e.data.step), text: '' };
    if (num(e.data.step) !== s.step) {
      s.step = num(e.data.step);
      s.text = '';
    }
    s.text += text;
    this.streams.set(key, s);
    change.streaming.add(key);
    return change;
  }

  newStep(kind, e, run, fields = {}) {
    const step = {
      id: this.steps.length + 1,
      order: ++this.order,
      kind,
      seq: e.seq,
      runId: e.runId,
      agentId: e.agentId,
      node: run ? run.node : '',
      start: e.ts,
      end: null,
      open: true,
      error: false,
      cut: false,
      attempt: 1,
      label: kind,
      detail: '',
      events: [e],
      ...fields,
    };
    this.steps.push(step);
    if (run) run.steps.push(step);
    return step;
  }

  newEntry(role, e, fields = {}) {
    const entry = { id: this.entries.length + 1, order: ++this.order, role, seq: e.seq, runId: e.runId, events: [e], ...fields };
    this.entries.push(entry);
    return entry;
  }

  runOf(e, change) {
    let run = this.runs.get(e.runId);
    if (!run) {
      run = {
        id: e.runId,
        index: this.runs.size + 1,
        order: ++this.order,
        firstSeq: e.seq,
        start: e.ts,
        end: null,
        status: 'queued',
        error: '',
        node: '',
        epoch: null,
        segments: [],
        steps: [],
        openModel: null,
        modelSteps: new Map(),
        tools: new Map(),
        approvals: new Map(),
        pendingMove: null,
        userEntry: null,
        cost: emptyCost(),
        models: new Map(),
      };
      this.runs.set(e.runId, run);
      change.runs.add(run);
    }
    return run;
  }

  closeSegment(run, ts, change) {
    const seg = run.segments[run.segments.length - 1];
    if (seg && seg.end === null) {
      seg.end = ts;
      change.runs.add(run);
    }
  }

  /** Closes the run's open steps at `ts` (run moved, paused or ended). */
  cutOpen(run, ts, change) {
    for (const step of run.steps) {
      if (step.open && (step.kind === 'model' || step.kind === 'tool' || step.kind === 'subagent')) {
        step.end = Math.max(ts, step.start);
        step.open = false;
        if (step.kind !== 'model' || !step.usage) step.cut = true;
        change.steps.add(step);
      }
    }
    run.openModel = null;
  }

  setStatus(run, status, change) {
    run.status = status;
    change.runs.add(run);
    // The agent's status is that of its latest run.
    const latest = [...this.runs.values()].pop();
    if (latest === run && this.status !== status) {
      this.status = status;
      change.status = true;
    }
  }

  addRootEvent(e, change) {
    const run = this.runOf(e, change);
    const d = e.data;
    // Annotate with the node and epoch of the run's current segment.
    if (e.type === 'run_started') {
      e.node = str(first(d, 'node_id', 'node'));
      e.epoch = d.epoch === undefined ? null : num(d.epoch);
    } else {
      e.node = run.node;
      e.epoch = run.epoch;
    }
    if (e.ts > (run.end ?? -Infinity)) {
      run.end = e.ts;
      change.runs.add(run);
    }
    // A model call without usage ends at the next event of its run.
    const openModel = run.openModel;
    const sameCall =
      openModel &&
      (e.type === 'model_start' || e.type === 'usage') &&
      (d.step === undefined || openModel.step === undefined || num(d.step) === openModel.step) &&
      !(e.type === 'model_start' && openModel.model);
    if (openModel && !sameCall) {
      openModel.end = Math.max(e.ts, openModel.start);
      openModel.open = false;
      change.steps.add(openModel);
      run.openModel = null;
    }
    switch (e.type) {
      case 'run_started': {
        this.closeSegment(run, e.ts, change);
        run.node = e.node;
        run.epoch = e.epoch;
        run.segments.push({ node: e.node, epoch: e.epoch, start: e.ts, end: null, resumed: d.resumed === true, seq: e.seq });
        if (run.pendingMove) {
          run.pendingMove.to = e.node;
          change.steps.add(run.pendingMove);
          run.pendingMove = null;
        }
        if (!run.userEntry) {
          const input = first(d, 'input', 'prompt', 'message', 'task');
          run.userEntry = this.newEntry('user', e, { text: input === undefined ? null : str(input) });
          change.entries.add(run.userEntry);
        }
        this.setStatus(run, 'running', change);
        break;
      }
      case 'step_start':
        this.openModelStep(e, run, change);
        break;
      case 'model_start': {
        let step = sameCall ? openModel : null;
        if (!step) step = this.openModelStep(e, run, change);
        else step.events.push(e);
        step.model = str(first(d, 'model', 'provider_model', 'reference'));
        step.label = step.model || 'model';
        if (Array.isArray(d.fallbacks) && d.fallbacks.length) step.fallbacks = d.fallbacks;
        change.steps.add(step);
        break;
      }
      case 'usage': {
        const u = usageOf(d);
        let step = sameCall ? openModel : null;
        if (step) {
          step.events.push(e);
        } else {
          // A usage without its model call (e.g. a summary's, or a trace that has no step_start).
          step = this.newStep('model', e, run, { step: d.step === undefined ? undefined : num(d.step) });
          step.start = u.latencyMs !== null ? e.ts - u.latencyMs : e.ts;
        }
        step.usage = u;
        if (!step.model) {
          step.model = u.model;
          step.label = u.model;
        }
        if (u.attempts > 1) step.retries = u.attempts - 1;
        step.end = Math.max(e.ts, step.start);
        step.open = false;
        run.openModel = null;
        change.steps.add(step);
        addCost(this.costTotal, u);
        addCost(run.cost, u);
        const m = this.costModels.get(u.model) ?? { model: u.model, ...emptyCost() };
        addCost(m, u);
        this.costModels.set(u.model, m);
        const rm = run.models.get(u.model) ?? { model: u.model, ...emptyCost() };
        addCost(rm, u);
        run.models.set(u.model, rm);
        change.cost = true;
        change.runs.add(run);
        break;
      }
      case 'tool_start': {
        const callId = str(first(d, 'tool_call_id', 'call_id', 'id')) || `${e.runId}#${e.seq}`;
        const name = str(first(d, 'name', 'tool')) || 'tool';
        const args = first(d, 'arguments', 'args', 'input');
        const previous = run.tools.get(callId);
        const kind = SUBAGENT_TOOLS.has(name) ? 'subagent' : 'tool';
        const step = this.newStep(kind, e, run, {
          callId,
          name,
          label: name,
          step: d.step === undefined ? undefined : num(d.step),
          arguments: args === undefined ? '' : str(args),
          attempt: previous ? previous.step.attempt + 1 : 1,
        });
        if (Array.isArray(d.children) && d.children.length > 0) {
          // A delegation: the sub-agents it started (`{agent_id, run_id, role}` each).
          step.children = d.children.map((c) => ({ agentId: str(c.agent_id), role: str(c.role) }));
          if (step.children.length === 1) step.childAgentId = step.children[0].agentId;
          step.label = `${name}: ${step.children.map((c) => c.role).join(', ')}`;
        }
        change.steps.add(step);
        let entry = previous?.entry;
        if (entry) {
          entry.events.push(e);
          entry.attempt = step.attempt;
        } else {
          entry = this.newEntry('tool', e, { name, callId, arguments: step.arguments, output: null, isError: false });
        }
        change.entries.add(entry);
        run.tools.set(callId, { step, entry });
        break;
      }
      case 'tool_end': {
        const callId = str(first(d, 'tool_call_id', 'call_id', 'id'));
        const name = str(first(d, 'name', 'tool')) || 'tool';
        let found = callId ? run.tools.get(callId) : undefined;
        if (!found && !callId) {
          // No call id (older traces): the latest open call of that tool.
          for (const t of [...run.tools.values()].reverse()) {
            if (t.step.name === name && t.step.open) {
              found = t;
              break;
            }
          }
        }
        const output = first(d, 'output', 'result', 'content', 'value');
        const isError = d.is_error === true || (d.error !== undefined && d.error !== null && d.error !== false && d.error !== '');
        let step = found?.step;
        if (!step || !step.open) {
          // Refused by the policy (no tool_start), or an interrupted call answered by its policy.
          const dur = num(d.duration_ms);
          step = this.newStep(SUBAGENT_TOOLS.has(name) ? 'subagent' : 'tool', e, run, {
            callId: callId || `${e.runId}#${e.seq}`,
            name,
            label: name,
            step: d.step === undefined ? undefined : num(d.step),
            arguments: found?.step.arguments ?? '',
            refused: !found,
            attempt: found ? found.step.attempt + 1 : 1,
          });
          step.start = e.ts - dur;
        } else {
          step.events.push(e);
        }
        step.end = Math.max(e.ts, step.start);
        step.open = false;
        step.error = isError;
        step.output = output === undefined ? '' : str(output);
        if (d.duration_ms !== undefined) step.durationMs = num(d.duration_ms);
        if (d.policy) step.policy = d.policy;
        change.steps.add(step);
        let entry = found?.entry;
        if (entry) entry.events.push(e);
        else entry = this.newEntry('tool', e, { name, callId, arguments: step.arguments, output: null, isError: false });
        entry.output = step.output;
        entry.isError = isError;
        change.entries.add(entry);
        run.tools.set(step.callId, { step, entry });
        break;
      }
      case 'tool_interrupted': {
        const callId = str(first(d, 'tool_call_id', 'call_id', 'id'));
        const found = run.tools.get(callId);
        if (found) {
          const step = found.step;
          step.events.push(e);
          step.interrupted = str(d.policy) || 'interrupted';
          step.error = true;
          if (step.open) {
            step.end = Math.max(e.ts, step.start);
            step.open = false;
            step.cut = true;
          }
          change.steps.add(step);
        }
        this.note(e, change, `tool call ${str(d.name)} interrupted (policy ${str(d.policy)})`);
        break;
      }
      case 'approval_requested': {
        const callId = str(first(d, 'tool_call_id', 'call_id', 'id')) || `${e.runId}#${e.seq}`;
        const name = str(first(d, 'name', 'tool')) || 'tool';
        const step = this.newStep('approval', e, run, {
          callId,
          name,
          label: `approval ${name}`,
          arguments: str(first(d, 'arguments', 'args')),
          state: 'pending',
          rule: str(first(d, 'rule', 'reason')),
          expires: d.expires_ms === undefined ? null : num(d.expires_ms),
        });
        run.approvals.set(callId, step);
        change.steps.add(step);
        // A run waiting for approval holds no node: its segment ends here.
        this.closeSegment(run, e.ts, change);
        this.note(e, change, `approval requested: ${name}`, 'approval');
        this.setStatus(run, 'waiting_approval', change);
        break;
      }
      case 'approval_decided': {
        const callId = str(first(d, 'tool_call_id', 'call_id', 'id'));
        const step = run.approvals.get(callId);
        const actor = str(d.actor);
        const state = d.approved === true ? 'approved' : actor === 'system:expiry' ? 'expired' : 'denied';
        if (step) {
          step.events.push(e);
          step.end = Math.max(e.ts, step.start);
          step.open = false;
          step.state = state;
          step.actor = actor;
          step.reason = str(d.reason);
          step.error = state !== 'approved';
          change.steps.add(step);
        }
        this.note(e, change, `${state} by ${actor || 'anonymous'}${d.reason ? ': ' + str(d.reason) : ''}`, 'approval');
        this.setStatus(run, 'queued', change);
        break;
      }
      case 'run_moved': {
        this.cutOpen(run, e.ts, change);
        this.closeSegment(run, e.ts, change);
        const from = str(first(d, 'from_node_id', 'from'));
        const to = str(first(d, 'to_node_id', 'to'));
        const step = this.newStep('moved', e, run, {
          from,
          to: to || null,
          reason: str(d.reason),
          label: 'moved',
          newEpoch: d.epoch === undefined ? null : num(d.epoch),
        });
        step.end = e.ts;
        step.open = false;
        run.pendingMove = to ? null : step;
        change.steps.add(step);
        this.setStatus(run, 'queued', change);
        break;
      }
      case 'run_paused':
        this.cutOpen(run, e.ts, change);
        this.closeSegment(run, e.ts, change);
        this.note(e, change, `run paused${d.reason ? ': ' + str(d.reason) : ''}`);
        this.setStatus(run, 'paused', change);
        break;
      case 'run_resumed':
        this.note(e, change, 'run resumed');
        this.setStatus(run, 'queued', change);
        break;
      case 'forked_from':
        this.note(e, change, `forked from agent ${str(d.agent_id)} at seq ${num(d.seq)} (${num(d.message_count)} messages shared)`);
        break;
      case 'budget_exceeded':
        this.note(e, change, 'budget exceeded: the run is paused', 'error');
        break;
      case 'summary':
        this.note(e, change, `context summarised (${num(d.covers)} messages, ${num(d.tokens_before)} → ${num(d.tokens_after)} tokens)`);
        break;
      case 'final': {
        const text = first(d, 'content', 'text', 'output');
        const entry = this.newEntry('assistant', e, { text: text === undefined ? '' : str(text) });
        change.entries.add(entry);
        if (this.streams.delete(e.runId || '-')) change.streaming.add(e.runId || '-');
        break;
      }
      case 'run_finished':
        this.cutOpen(run, e.ts, change);
        this.closeSegment(run, e.ts, change);
        this.setStatus(run, 'completed', change);
        break;
      case 'run_failed': {
        this.cutOpen(run, e.ts, change);
        this.closeSegment(run, e.ts, change);
        run.error = str(first(d, 'error', 'reason', 'value'));
        run.deadLettered = d.dead_letter === true || d.dead_lettered === true;
        this.note(e, change, `run failed: ${run.error}`, 'error');
        this.setStatus(run, 'failed', change);
        break;
      }
      case 'run_cancelled':
        this.cutOpen(run, e.ts, change);
        this.closeSegment(run, e.ts, change);
        run.error = str(d.reason);
        this.note(e, change, `run cancelled${d.reason ? ': ' + str(d.reason) : ''}`);
        this.setStatus(run, 'cancelled', change);
        break;
      default:
        break;
    }
  }

  openModelStep(e, run, change) {
    const stepNo = e.data.step === undefined ? undefined : num(e.data.step);
    const key = stepNo === undefined ? `#${e.seq}` : String(stepNo);
    const previous = run.modelSteps.get(key);
    const step = this.newStep('model', e, run, {
      step: stepNo,
      model: '',
      label: stepNo === undefined ? 'model' : `model #${stepNo}`,
      attempt: previous ? previous.attempt + 1 : 1,
    });
    run.modelSteps.set(key, step);
    run.openModel = step;
    change.steps.add(step);
    return step;
  }

  note(e, change, text, tone = '') {
    const entry = this.newEntry('note', e, { text, tone, type: e.type });
    change.entries.add(entry);
    return entry;
  }

  addSubagentEvent(e, change) {
    let step = this.subagents.get(e.agentId);
    e.node = str(first(e.data, 'node_id')) || '';
    if (!step) {
      step = this.newStep('subagent', e, null, { label: `agent ${e.agentId.slice(0, 8)}`, childAgentId: e.agentId, status: 'running' });
      step.node = e.node;
      this.subagents.set(e.agentId, step);
    } else {
      step.events.push(e);
    }
    if (e.ts > (step.end ?? -Infinity)) step.end = e.ts;
    if (e.type === 'usage') {
      step.tokens = (step.tokens ?? 0) + usageOf(e.data).totalTokens;
    }
    if (RUN_END_TYPES.has(e.type)) {
      step.open = false;
      step.status = e.type === 'run_finished' ? 'completed' : e.type === 'run_failed' ? 'failed' : 'cancelled';
      step.error = e.type === 'run_failed';
    }
    if (e.type === 'run_started' && e.node) step.node = e.node;
    step.detail = `${step.events.length} events`;
    change.steps.add(step);
  }

  /** Per-model cost of the root agent's usage events, costliest first. */
  costByModel() {
    return [...this.costModels.values()].sort((a, b) => b.costUsd - a.costUsd || b.totalTokens - a.totalTokens || a.model.localeCompare(b.model));
  }

  /** Per-run cost, in run order: `{runId, index, status, calls, inputTokens, …, models: [...]}`. */
  costByRun() {
    return [...this.runs.values()].map((r) => ({
      runId: r.id,
      index: r.index,
      status: r.status,
      ...r.cost,
      models: [...r.models.values()],
    }));
  }

  /** Time bounds `{min, max}` of the events seen (ms). */
  bounds() {
    if (!Number.isFinite(this.minTs)) return { min: 0, max: 0 };
    return { min: this.minTs, max: this.maxTs };
  }
}

/** The steps of a list of events (pure). */
export function buildSteps(events, options) {
  const m = new TraceModel(options);
  m.addMany(events);
  return m.steps;
}

/** The transcript entries of a list of events (pure). */
export function buildTranscript(events, options) {
  const m = new TraceModel(options);
  m.addMany(events);
  return m.entries;
}

/** Per-model cost of a list of events (pure). */
export function costByModel(events, options) {
  const m = new TraceModel(options);
  m.addMany(events);
  return m.costByModel();
}

/**
 * Horizontal placement of a step on the shared time axis, in percent of the axis:
 * `{left, width}`; an open step runs to `bounds.max`. (The renderer does the same with CSS
 * custom properties so that a new bound moves every bar without touching them.)
 */
export function layoutStep(step, bounds) {
  const span = Math.max(1, bounds.max - bounds.min);
  const start = Math.min(Math.max(step.start, bounds.min), bounds.max);
  const end = step.end === null ? bounds.max : Math.min(Math.max(step.end, start), bounds.max);
  return { left: ((start - bounds.min) / span) * 100, width: ((end - start) / span) * 100 };
}

/** Duration of a step in ms (null while open). */
export function stepDuration(step) {
  if (step.end === null) return null;
  return Math.max(0, step.end - step.start);
}
