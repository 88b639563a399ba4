//! Tool calls of a step: `tool_start` committed before a call runs, its result committed with
//! `tool_end`, and calls interrupted by a failure handled per their tool's [`InterruptPolicy`].

use serde_json::{Value, json};
use tokio::time::Instant;

use super::accounting::NextCall;
use super::{RunOutcome, RunRequest, SinkError, StepSink, commit_or_fenced, fail_run_with};
use crate::tools::{InterruptPolicy, ToolContext, ToolRegistry};
use agentry_core::StepCommit;
use agentry_core::approval::ApprovalRequest;
use agentry_core::budget::BudgetOp;
use agentry_core::event::{EventDraft, kind};
use agentry_core::limits::{MAX_TOOL_OUTPUT_BYTES, truncate_with_marker};
use agentry_core::message::{Message, ToolCall};
use agentry_core::policy::PolicyAction;
use agentry_core::run::RunStatus;
use agentry_sandbox::Confinement;

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
        let policy = tools.manifest(&call.name).map_or(InterruptPolicy::Retry, |manifest| manifest.on_interrupt);
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
    let mut start_data = json!({
        "step": step,
        "tool_call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "idempotency_key": idempotency_key,
    });
    if !request.started_tool_calls.contains(&call.id) {
        match gate(request, step, call) {
            Gate::Run(extra) => {
                if let (Some(data), Some(extra)) = (start_data.as_object_mut(), extra) {
                    data.extend(extra);
                }
            }
            Gate::Refuse { output, policy } => {
                let mut end = tool_end_event(step, call, &output, true, 0);
                end.data["policy"] = policy;
                let budget = reserve(&output);
                return commit_tool_result(request, sink, call, output, [events, vec![end]].concat(), budget).await;
            }
            Gate::Hold(held) => {
                events.push(EventDraft::now(kind::APPROVAL_REQUESTED, held));
                let commit = StepCommit { events, status: Some(RunStatus::WaitingApproval), ..StepCommit::default() };
                tracing::info!(tool = %call.name, tool_call_id = %call.id, "tool call held for approval");
                return Ok(Err(commit_or_fenced(sink, commit)
                    .await?
                    .unwrap_or_else(|| RunOutcome::WaitingApproval(call.id.clone()))));
            }
        }
    }
    if let (Some(data), Some(manifest)) = (start_data.as_object_mut(), tools.manifest(&call.name))
        && manifest.sandboxed
    {
        // What confines the call's processes: the sandbox, and each limit with its mechanism.
        let confinement =
            Confinement::new(&request.workspace, manifest.network.clone(), manifest.limits(request.tool_timeout));
        data.insert("sandbox".to_owned(), json!(tools.sandbox().kind().as_str()));
        data.insert("confinement".to_owned(), tools.sandbox().describe(&confinement));
    }
    events.push(EventDraft::now(kind::TOOL_START, start_data));
    let start_commit = StepCommit { events, ..StepCommit::default() };
    if let Some(outcome) = commit_or_fenced(sink, start_commit).await? {
        return Ok(Err(outcome));
    }
    let context = ToolContext {
        workspace: request.workspace.clone(),
        idempotency_key,
        timeout: request.tool_timeout,
        manifest: tools.manifest(&call.name).cloned().unwrap_or_default(),
        sandbox: tools.sandbox().clone(),
    };
    let clock = Instant::now();
    let (output, is_error) = execute_tool(tools, &context, call).await;
    if is_error {
        super::spans::record_tool_error(&tracing::Span::current());
    }
    let output = truncate_with_marker(&output, MAX_TOOL_OUTPUT_BYTES);
    let end = tool_end_event(step, call, &output, is_error, clock.elapsed().as_millis() as u64);
    let budget = reserve(&output);
    commit_tool_result(request, sink, call, output, vec![end], budget).await
}

/// What the policy lets happen to a call that has not started.
enum Gate {
    /// Run it; the fields are added to its `tool_start` data (the policy rule, the approval).
    Run(Option<serde_json::Map<String, Value>>),
    /// Give the model `output` as an error result; `policy` goes into `tool_end` data.
    Refuse { output: String, policy: Value },
    /// Hold it for approval: `approval_requested` data.
    Hold(Value),
}

/// Applies the run's policy and its approval decisions to `call`.
fn gate(request: &RunRequest, step: u32, call: &ToolCall) -> Gate {
    if request.policy.rules.is_empty() && request.policy.default == PolicyAction::Allow {
        return Gate::Run(None); // the common case: nothing to parse or match
    }
    let arguments_text = if call.arguments.trim().is_empty() { "{}" } else { call.arguments.as_str() };
    let arguments: Value = serde_json::from_str(arguments_text).unwrap_or(Value::Null);
    let decision = request.policy.decide(&call.name, &arguments);
    let policy = json!({ "action": decision.action.as_str(), "rule": decision.rule, "reason": decision.reason });
    match decision.action {
        PolicyAction::Allow => Gate::Run(decision.rule.is_some().then(|| {
            let mut extra = serde_json::Map::new();
            extra.insert("policy".to_owned(), policy);
            extra
        })),
        PolicyAction::Deny => {
            let why = decision.reason.clone().or(decision.rule.clone()).unwrap_or_else(|| "default policy".to_owned());
            let output = format!(
                "error: permission denied: the tool policy does not allow this {} call ({why}); do not retry it, \
                 choose another way or explain the limitation",
                call.name
            );
            Gate::Refuse { output, policy }
        }
        PolicyAction::Ask => match request.approvals.iter().rev().find(|approval| approval.tool_call_id == call.id) {
            Some(approval) if approval.approved => {
                let mut extra = serde_json::Map::new();
                extra.insert("policy".to_owned(), policy);
                extra.insert("approval".to_owned(), json!(approval));
                Gate::Run(Some(extra))
            }
            Some(approval) => {
                let why = if approval.reason.is_empty() { String::new() } else { format!(": {}", approval.reason) };
                let output = format!(
                    "error: permission denied: {} denied this {} call{why}; do not retry it unchanged",
                    approval.actor, call.name
                );
                Gate::Refuse { output, policy: json!({ "action": "ask", "rule": decision.rule, "approval": approval }) }
            }
            None => {
                let now = agentry_core::clock::now_ms();
                let timeout_ms = agentry_core::clock::duration_ms(request.policy.approval_timeout());
                let held = ApprovalRequest {
                    step,
                    tool_call_id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                    rule: decision.rule,
                    reason: decision.reason,
                    requested_ms: now,
                    expires_ms: now.saturating_add(timeout_ms),
                };
                Gate::Hold(serde_json::to_value(held).unwrap_or_default())
            }
        },
    }
}

/// Returns a `tool_end` event.
pub(super) fn tool_end_event(step: u32, call: &ToolCall, output: &str, is_error: bool, duration_ms: u64) -> EventDraft {
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
pub(super) async fn commit_tool_result(
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
