//! Tool calls of a step: `tool_start` committed before a call runs, its result committed with
//! `tool_end`, and calls interrupted by a failure handled per their tool's [`InterruptPolicy`].

use serde_json::{Value, json};
use tokio::time::Instant;

use super::accounting::NextCall;
use super::{RunOutcome, RunRequest, SinkError, StepSink, commit_or_fenced, fail_run_with};
use crate::tools::{InterruptPolicy, ToolContext, ToolRegistry};
use agentry_core::StepCommit;
use agentry_core::budget::BudgetOp;
use agentry_core::event::{EventDraft, kind};
use agentry_core::limits::{MAX_TOOL_OUTPUT_BYTES, truncate_with_marker};
use agentry_core::message::{Message, ToolCall};

/// Runs one tool call: commits `tool_start`, executes, commits `tool_end` with the result
/// message. A call interrupted in an earlier attempt is first handled per its tool's
/// [`InterruptPolicy`]. Returns the committed result message, or the outcome that stops the run
/// (fenced, or failed by [`InterruptPolicy::Fail`]).
pub(super) async fn run_tool_call(
    request: &RunRequest,
    tools: &ToolRegistry,
    step: u32,
    call: &ToolCall,
    sink: &mut dyn StepSink,
    next_call: Option<NextCall<'_>>,
) -> Result<Result<Message, RunOutcome>, SinkError> {
    let reserve = |output: &str| next_call.as_ref().and_then(|next| next.reserve(output));
    let idempotency_key = format!("{}/{}/{}", request.run_id, step, call.id);
    let mut events = Vec::new();
    if request.started_tool_calls.contains(&call.id) {
        let policy = tools.get(&call.name).map_or(InterruptPolicy::Retry, |tool| tool.on_interrupt());
        tracing::warn!(tool = %call.name, tool_call_id = %call.id, policy = policy.as_str(), "tool call was interrupted");
        events.push(EventDraft::now(
            kind::TOOL_INTERRUPTED,
            json!({
                "step": step,
                "tool_call_id": call.id,
                "name": call.name,
                "idempotency_key": idempotency_key,
                "policy": policy.as_str(),
            }),
        ));
        match policy {
            InterruptPolicy::Retry => {}
            InterruptPolicy::Fail => {
                let reason = format!(
                    "tool call {} ({}) was interrupted by a failure and its tool is not safe to run again",
                    call.id, call.name
                );
                let release = request.budgeted.then(BudgetOp::default);
                return Ok(Err(fail_run_with(sink, events, release, reason).await?));
            }
            InterruptPolicy::Ask => {
                let output = format!(
                    "error: tool_interrupted: this {} call was interrupted by a node failure before it reported a \
                     result; it may or may not have taken effect. Check the current state before running it again.",
                    call.name
                );
                let end = tool_end_event(step, call, &output, true, 0);
                let budget = reserve(&output);
                return commit_tool_result(request, sink, call, output, [events, vec![end]].concat(), budget).await;
            }
        }
    }
    events.push(EventDraft::now(
        kind::TOOL_START,
        json!({
            "step": step,
            "tool_call_id": call.id,
            "name": call.name,
            "arguments": call.arguments,
            "idempotency_key": idempotency_key,
        }),
    ));
    let start_commit = StepCommit { events, ..StepCommit::default() };
    if let Some(outcome) = commit_or_fenced(sink, start_commit).await? {
        return Ok(Err(outcome));
    }
    let context = ToolContext { workspace: request.workspace.clone(), idempotency_key, timeout: request.tool_timeout };
    let clock = Instant::now();
    let (output, is_error) = execute_tool(tools, &context, call).await;
    let output = truncate_with_marker(&output, MAX_TOOL_OUTPUT_BYTES);
    let end = tool_end_event(step, call, &output, is_error, clock.elapsed().as_millis() as u64);
    let budget = reserve(&output);
    commit_tool_result(request, sink, call, output, vec![end], budget).await
}

/// Returns a `tool_end` event.
fn tool_end_event(step: u32, call: &ToolCall, output: &str, is_error: bool, duration_ms: u64) -> EventDraft {
    EventDraft::now(
        kind::TOOL_END,
        json!({
            "step": step,
            "tool_call_id": call.id,
            "name": call.name,
            "output": output,
            "is_error": is_error,
            "duration_ms": duration_ms,
        }),
    )
}

/// Commits a tool's result message with `events`; returns the message, or the outcome when
/// fenced.
async fn commit_tool_result(
    request: &RunRequest,
    sink: &mut dyn StepSink,
    call: &ToolCall,
    output: String,
    events: Vec<EventDraft>,
    budget: Option<BudgetOp>,
) -> Result<Result<Message, RunOutcome>, SinkError> {
    let mut message = Message::tool_result(call.id.clone(), output);
    message.run_id = Some(request.run_id);
    let commit = StepCommit { events, messages: vec![message.clone()], budget, ..StepCommit::default() };
    Ok(match commit_or_fenced(sink, commit).await? {
        Some(outcome) => Err(outcome),
        None => Ok(message),
    })
}

/// Executes a tool call; returns its output and whether it is an error the model should see.
async fn execute_tool(tools: &ToolRegistry, context: &ToolContext, call: &ToolCall) -> (String, bool) {
    let Some(tool) = tools.get(&call.name) else {
        let available: Vec<String> = tools.specs().into_iter().map(|spec| spec.name).collect();
        return (format!("error: unknown tool {:?}; available tools: {}", call.name, available.join(", ")), true);
    };
    let arguments_text = if call.arguments.trim().is_empty() { "{}" } else { call.arguments.as_str() };
    let arguments: Value = match serde_json::from_str(arguments_text) {
        Ok(arguments) => arguments,
        Err(error) => return (format!("error: arguments are not valid JSON: {error}"), true),
    };
    match tool.call(context, arguments).await {
        Ok(output) => (output, false),
        Err(error) => (format!("error: {error}"), true),
    }
}
