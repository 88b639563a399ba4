//! The node's span of a run execution: `invoke_agent`, after the OpenTelemetry semantic
//! conventions for generative AI agents
//! (<https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-agent-spans/>). Its parent is the
//! span named by the run's trace context (carried in the task's `traceparent` header), so every
//! execution of a run — the first, and each resumption on another node after a failover — is
//! part of the run's one trace. The loop's `chat` and `execute_tool` spans nest inside it.

use tracing::Span;
use tracing::field::Empty;

use agentry_broker::Task;
use agentry_core::NodeId;
use agentry_runtime::agent_loop::RunRequest;

/// Returns the `invoke_agent` span of executing `task` on `node_id`.
///
/// `trace_id` is a plain field as well, so log lines inside the span carry the run's trace id
/// even when no span is exported.
pub fn invoke_agent(node_id: NodeId, task: &Task) -> Span {
    let trace_id = task.trace_parent.map(|parent| parent.trace_id_hex()).unwrap_or_default();
    let span = tracing::info_span!(
        "invoke_agent",
        otel.name = "invoke_agent",
        otel.kind = "internal",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.id = %task.agent_id,
        gen_ai.conversation.id = %task.agent_id,
        gen_ai.request.model = Empty,
        agentry.run_id = %task.run_id,
        agentry.epoch = i64::try_from(task.epoch).unwrap_or(i64::MAX),
        agentry.node_id = %node_id,
        trace_id,
        run_id = %task.run_id,
        epoch = task.epoch,
    );
    if let Some(parent) = &task.trace_parent {
        agentry_telemetry::propagation::set_parent(&span, parent);
    }
    span
}

/// Records what the current `invoke_agent` span executes: the agent's model reference.
pub fn record_request(request: &RunRequest) {
    Span::current().record("gen_ai.request.model", request.spec.model.as_str());
}
