//! Trace events. Names keep the Go agentry's vocabulary (DESIGN.md §3).

use serde_json::Value;

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
    /// The run was reassigned to another node. Data: `{from_node_id, to_node_id, epoch}`.
    pub const RUN_MOVED: &str = "run_moved";
    /// Streaming model output; ephemeral (never persisted, no seq).
    pub const TOKEN: &str = "token";

    /// Returns whether an event of this type ends its run.
    pub fn ends_run(kind: &str) -> bool {
        kind == RUN_FINISHED || kind == RUN_FAILED
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
}

impl EventDraft {
    /// Returns an event of `kind` with `data`, stamped now.
    pub fn now(kind: &str, data: Value) -> Self {
        Self { kind: kind.to_owned(), data, ts_ms: crate::clock::now_ms() }
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
}
