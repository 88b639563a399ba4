//! The loop's spans, following the OpenTelemetry semantic conventions for generative AI
//! (<https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/>): `chat {model}` per
//! model call (a `client` span) and `execute_tool {tool}` per tool call (`internal`), both
//! children of the node's `invoke_agent` span. Each covers the durable work of its step — the
//! call and the commit of its result — so the events a step commits name its span.
//!
//! They are plain `tracing` spans: the node's telemetry layer turns them into OpenTelemetry
//! spans (`otel.name`, `otel.kind` and `otel.status_code` are read by `tracing-opentelemetry`);
//! without export they only scope log lines.

use tracing::Span;
use tracing::field::Empty;

use agentry_core::ToolCall;
use agentry_core::models::Resolution;

use crate::model::Routed;

/// Returns the span of model call `step`, named after the first model of its chain.
pub(super) fn chat(step: u32, resolution: &Resolution) -> Span {
    let (provider, model) =
        resolution.chain.first().map(|target| (target.provider.as_str(), target.model.as_str())).unwrap_or_default();
    tracing::info_span!(
        "chat",
        otel.name = format!("chat {model}"),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = provider,
        gen_ai.request.model = model,
        gen_ai.response.model = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        error.type = Empty,
        agentry.step = i64::from(step),
    )
}

/// Records what answered: the model (after fallbacks), its usage and finish reason.
pub(super) fn record_answer(span: &Span, routed: &Routed) {
    let response = &routed.response;
    let model = response.model.as_deref().unwrap_or(&routed.target.model);
    span.record("gen_ai.response.model", model);
    // As i64: `tracing-opentelemetry` exports only signed integers as OTel int attributes.
    span.record("gen_ai.usage.input_tokens", i64::try_from(response.usage.prompt_tokens).unwrap_or(i64::MAX));
    span.record("gen_ai.usage.output_tokens", i64::try_from(response.usage.completion_tokens).unwrap_or(i64::MAX));
    if let Some(reason) = &response.finish_reason {
        // A JSON array of strings, as the convention's string[] attribute is rendered in text.
        span.record("gen_ai.response.finish_reasons", format!("[{reason:?}]"));
    }
    // A fallback may have answered from another provider.
    span.record("gen_ai.provider.name", routed.target.provider.as_str());
}

/// Records a model call that failed on every model of its chain (`error.type` =
/// `model_unavailable`; the reasons are in the run's `run_failed` event, not in a label).
pub(super) fn record_failure(span: &Span) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", "model_unavailable");
}

/// Returns the span of a tool call.
pub(super) fn execute_tool(step: u32, call: &ToolCall) -> Span {
    tracing::info_span!(
        "execute_tool",
        otel.name = format!("execute_tool {}", call.name),
        otel.kind = "internal",
        otel.status_code = Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = call.name.as_str(),
        gen_ai.tool.call.id = call.id.as_str(),
        error.type = Empty,
        agentry.step = i64::from(step),
    )
}

/// Records a tool call whose result is an error (`error.type` = `tool_error`).
pub(super) fn record_tool_error(span: &Span) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", "tool_error");
}
