//! Trace events. Names keep the Go agentry's vocabulary (DESIGN.md §3).

use serde_json::Value;

use crate::TraceParent;
use crate::ids::{AgentId, RunId};

/// Event type names.
pub mod kind {
    /// A node started (or resumed) a run. Data: `{node_id, epoch, resumed}`.
    pub const RUN_STARTED: &str = "run_started";
    /// A model call begins a step. Data: `{step}`.
    pub const STEP_START: &str = "step_start";
    /// A model request. Data: `{step, model}`.
    pub const MODEL_START: &str = "model_start";
    /// Token usage of one model call. Data: `{step, model, prompt_tokens, completion_tokens, total_tokens, latency_ms}`.
    pub const USAGE: &str = "usage";
    /// A tool call begins. Data: `{step, tool_call_id, name, arguments, idempotency_key}`.
    pub const TOOL_START: &str = "tool_start";
    /// A tool call ended. Data: `{step, tool_call_id, name, output, is_error, duration_ms}`.
    pub const TOOL_END: &str = "tool_end";
    /// The model's final answer. Data: `{content}`.
    pub const FINAL: &str = "final";
    /// The run completed. Data: `{steps, prompt_tokens, completion_tokens}`.
    pub const RUN_FINISHED: &str = "run_finished";
    /// The run failed. Data: `{error}`.
    pub const RUN_FAILED: &str = "run_failed";
    /// The hub took the run back from its node (lease expired, node left or drained) to place
    /// it again; written by the hub. Data: `{from_node_id, reason, epoch}` (`epoch` is the new
    /// one: the old node is fenced).
    pub const RUN_MOVED: &str = "run_moved";
    /// An operator cancelled the run; written by the hub; ends the run. Data: `{reason}`.
    pub const RUN_CANCELLED: &str = "run_cancelled";
    /// An operator paused the run; written by the hub. Data: `{reason, epoch}`.
    pub const RUN_PAUSED: &str = "run_paused";
    /// An operator resumed a paused run; written by the hub. Data: `{}`.
    pub const RUN_RESUMED: &str = "run_resumed";
    /// On resume, a tool call had a committed `tool_start` but no result: the executor that ran
    /// it died. Data: `{step, tool_call_id, name, idempotency_key, policy}` where `policy` is
    /// the tool's interrupt policy (`agentry_runtime::tools::InterruptPolicy`) applied (`retry`, `fail` or `ask`).
    pub const TOOL_INTERRUPTED: &str = "tool_interrupted";
    /// Streaming model output; ephemeral (never persisted, no seq).
    pub const TOKEN: &str = "token";
    /// Older turns of the conversation were summarised to fit the model's context window (agentry's
    /// name): `{covers, text, tokens_before, tokens_after, model}` — the summary `text` stands
    /// for the agent's first `covers` messages in every later prompt.
    pub const SUMMARY: &str = "summary";
    /// A model call did not fit the run's budget: the run was paused
    /// (`{budget_id, needed_tokens, needed_cost_usd, used_tokens, used_cost_usd, reserved_tokens,
    /// max_tokens, max_cost_usd}`).
    pub const BUDGET_EXCEEDED: &str = "budget_exceeded";
    /// The tool policy holds a call for a person's decision: the run waits
    /// (`waiting_approval`). Data: [`crate::approval::ApprovalRequest`].
    pub const APPROVAL_REQUESTED: &str = "approval_requested";
    /// Someone (or the expiry) decided on a held call; written by the hub, which re-queues the
    /// run. Data: [`crate::approval::ApprovalDecision`].
    pub const APPROVAL_DECIDED: &str = "approval_decided";

    /// The first event of a fork's trace (`AgentHub.Fork`), written by the hub. Data:
    /// `{agent_id, seq, message_count, run_id, step}`: the agent forked from, the seq of its
    /// trace the fork branches at, how many messages of its conversation were copied, the run
    /// the fork continues (empty when it starts a new one) and that run's last copied step.
    pub const FORKED_FROM: &str = "forked_from";

    /// Returns whether an event of this type ends its run.
    pub fn ends_run(kind: &str) -> bool {
        kind == RUN_FINISHED || kind == RUN_FAILED || kind == RUN_CANCELLED
    }
}

/// Returns the kind of a JSON value as error messages about event data name it: `null`, `a
/// boolean`, `a number`, `a string`, `an array` or `an object`.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An event produced by a node or the hub, before the store assigns its `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    /// Event type name (see [`kind`]).
    pub kind: String,
    /// Payload, a JSON object.
    pub data: Value,
    /// When it happened, milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// The span that produced it (trace id and span id), when known.
    pub trace: Option<TraceParent>,
}

impl EventDraft {
    /// Returns an event of `kind` with `data`, stamped now, its span not yet known.
    pub fn now(kind: &str, data: Value) -> Self {
        Self { kind: kind.to_owned(), data, ts_ms: crate::clock::now_ms(), trace: None }
    }
}

/// A persisted trace event.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    /// Per-agent, gap-free sequence number from 1.
    pub seq: u64,
    /// Agent the event belongs to.
    pub agent_id: AgentId,
    /// Run it belongs to.
    pub run_id: RunId,
    /// Event type name.
    pub kind: String,
    /// Payload, a JSON object.
    pub data: Value,
    /// When it happened, milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// The span that produced it (trace id and span id), when known.
    pub trace: Option<TraceParent>,
}
