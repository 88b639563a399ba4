//! The durable agent loop: model → tools → model …, committing every step through a
//! [`StepSink`] before acting on it.
//!
//! Durability rules (DESIGN.md §4), enforced here:
//! - the model's answer (assistant message + tool calls) is committed before any tool runs;
//! - each tool result is committed when the tool finishes, preceded by a committed `tool_start`;
//! - on resume, [`next_action`] reads the committed conversation: a committed answer is never
//!   requested again, and only tool calls without a committed result are executed, with the same
//!   idempotency key `run_id/step/tool_call_id` as the first attempt;
//! - a call that had started (committed `tool_start`, no result) is *interrupted*: it is
//!   recorded as `tool_interrupted` and handled per its tool's
//!   [`InterruptPolicy`](crate::tools::InterruptPolicy);
//! - before its `tool_start`, each call passes the node's
//!   [`ToolPolicy`](agentry_core::policy::ToolPolicy): a denied call's result is a refusal; a
//!   call held for approval commits `approval_requested` with the run `waiting_approval` and the
//!   executor stops; once decided the run resumes here and the decision (read back from the
//!   trace) runs or refuses the call.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio::time::Instant;
use tracing::Instrument;

use crate::context;
use crate::model::{ChatRequest, ModelRouter, ToolSpec};
use crate::tools::ToolRegistry;
use accounting::{Budget, NextCall, model_start_data, schema_tokens, usage_data};
pub use agentry_core::StepCommit;
use agentry_core::agent::{AgentSpec, ToolChoice};
use agentry_core::budget::{BudgetOp, Spend};
use agentry_core::event::{EventDraft, kind};
use agentry_core::ids::{NodeId, RunId};
use agentry_core::message::ConversationSummary;
use agentry_core::message::{Message, Role, ToolCall};
use agentry_core::models::RouteInput;
use agentry_core::run::RunStatus;
use agentry_core::team::is_delegation_tool;
use compaction::Overflow;
use tool_calls::run_tool_call;

/// Why a commit did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// The run was reassigned (stale epoch): this executor must stop touching it.
    #[error("fenced: {0}")]
    Fenced(String),
    /// The commit was applied, but the model-call reservation it carried did not fit the
    /// run's budget: the store paused the run, and this executor must stop.
    #[error("budget exceeded: the run is paused")]
    BudgetExceeded,
    /// The commit could not be made (after the sink's own retries).
    #[error("commit failed: {0}")]
    Failed(String),
}

/// Where the loop makes its progress durable. The node implements it over `NodeService.Commit`.
#[async_trait]
pub trait StepSink: Send {
    /// Makes `commit` durable, or fails without having written any of it.
    async fn commit(&mut self, commit: StepCommit) -> Result<(), SinkError>;
}

/// What one run needs.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The run.
    pub run_id: RunId,
    /// The executing node, reported in `run_started`.
    pub node_id: NodeId,
    /// The ownership epoch executed under, reported in `run_started`.
    pub epoch: u64,
    /// The agent's spec (validated).
    pub spec: AgentSpec,
    /// The agent's committed conversation, in order (all runs).
    pub history: Vec<Message>,
    /// This run's user input.
    pub input: String,
    /// Per-run workspace directory (exists).
    pub workspace: PathBuf,
    /// Time limit of one tool call.
    pub tool_timeout: Duration,
    /// Ids of this run's tool calls that have a committed `tool_start` (from earlier attempts).
    pub started_tool_calls: Vec<String>,
    /// Whether the agent draws from a budget: each model call is then reserved in the commit
    /// before it and settled in the commit of its answer.
    pub budgeted: bool,
    /// The agent's latest conversation summary: prompts send it instead of the messages it
    /// covers.
    pub summary: Option<ConversationSummary>,
    /// Where the text of streamed model answers goes as it arrives, with the call's step
    /// (`token` events); `None` asks the model for whole answers.
    pub tokens: Option<std::sync::Arc<dyn TokenSink>>,
    /// The node's tool permission policy: each call is allowed, denied or held for approval.
    pub policy: std::sync::Arc<agentry_core::policy::ToolPolicy>,
    /// Decisions on this run's held calls (from earlier attempts), in order.
    pub approvals: Vec<agentry_core::approval::ApprovalDecision>,
    /// The sub-agents this run delegated to, with how each ended so far (see
    /// [`agentry_core::team`]).
    pub delegations: Vec<agentry_core::team::Delegation>,
}

/// Receives the text of streamed model answers piece by piece (the node forwards it to trace
/// followers as `token` events).
#[async_trait]
pub trait TokenSink: Send + Sync + std::fmt::Debug {
    /// Returns whether anyone takes the text now; when not, the next model call is not
    /// streamed at all.
    fn wanted(&self) -> bool;
    /// Takes a piece of the answer to model call `step`; must not block.
    fn push(&self, step: u32, text: &str);
    /// Returns once every piece pushed so far went out, so that followers see a step's text
    /// before its commit.
    async fn flush(&self);
}

/// How a run ended for this executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The run completed with this final answer (committed).
    Completed(String),
    /// The run failed with this reason (committed).
    Failed(String),
    /// The run was reassigned; nothing more was written.
    Fenced,
    /// The run was paused (its budget is exhausted) with this reason; it resumes from its last
    /// commit when resumed.
    Paused(String),
    /// The policy held this tool call (its id) for a person's approval: the run is
    /// `waiting_approval` (committed) and resumes from its last commit once decided.
    WaitingApproval(String),
    /// The run delegated to this many new sub-agents (or still waits for earlier ones): it is
    /// `waiting_children` (committed) and is queued again when the last of them ends.
    WaitingChildren(usize),
}

/// The next thing to do for a run, derived from its committed messages only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask the model for step `step` (1-based count of model calls in this run).
    CallModel {
        /// Step number.
        step: u32,
    },
    /// Run the tool calls of step `step` that have no committed result, in order.
    RunTools {
        /// Step number of the assistant message holding the calls.
        step: u32,
        /// The calls still without a result.
        pending: Vec<ToolCall>,
    },
    /// The last committed answer has no tool calls: the run is complete with it.
    Complete {
        /// The final answer.
        answer: String,
        /// Steps taken.
        steps: u32,
    },
}

/// Returns the next action of `run_id`, given its committed messages (`run_messages`: the
/// messages whose `run_id` is this run, in order, starting with the user input).
pub fn next_action(run_messages: &[&Message]) -> Action {
    let steps = run_messages.iter().filter(|message| message.role == Role::Assistant).count() as u32;
    let last_assistant = run_messages.iter().rposition(|message| message.role == Role::Assistant);
    let Some(position) = last_assistant else {
        return Action::CallModel { step: 1 };
    };
    let answer = run_messages[position];
    if answer.tool_calls.is_empty() {
        return Action::Complete { answer: answer.content.clone(), steps };
    }
    let answered: Vec<&str> =
        run_messages[position + 1..].iter().filter_map(|message| message.tool_call_id.as_deref()).collect();
    let pending: Vec<ToolCall> =
        answer.tool_calls.iter().filter(|call| !answered.contains(&call.id.as_str())).cloned().collect();
    if pending.is_empty() { Action::CallModel { step: steps + 1 } } else { Action::RunTools { step: steps, pending } }
}

/// Drives one run to its end (or until fenced), committing every step through `sink`.
///
/// Errors only when the sink fails ([`SinkError::Failed`]); model and tool failures are
/// committed as the run's outcome (a failed run, or a tool result marked as an error).
pub async fn drive_run(
    request: RunRequest,
    models: &ModelRouter,
    tools: &ToolRegistry,
    sink: &mut dyn StepSink,
) -> Result<RunOutcome, SinkError> {
    let mut conversation = request.history.clone();
    let already_started = conversation.iter().any(|message| message.run_id == Some(request.run_id));
    let mut start = StepCommit {
        events: vec![EventDraft::now(
            kind::RUN_STARTED,
            json!({ "node_id": request.node_id, "epoch": request.epoch, "resumed": already_started }),
        )],
        status: Some(RunStatus::Running),
        ..StepCommit::default()
    };
    if !already_started {
        let mut user = Message::user(request.input.clone());
        user.run_id = Some(request.run_id);
        start.messages.push(user.clone());
        conversation.push(user);
    }
    let tool_specs = offered_tools(tools, &request.spec);
    let schema_tokens = schema_tokens(&tool_specs);
    let budget = Budget { request: &request, models, schema_tokens };
    let mut summary = request.summary.clone();
    // Spent on summaries since the last settlement; settled with the next answer.
    let mut unsettled = Spend::default();
    // The step this executor holds a reservation for (budgeted runs only).
    let mut reserved_step = None;
    if let Action::CallModel { step } = next_action(&run_messages_of(&conversation, request.run_id)) {
        start.budget = budget.reserve(&conversation, summary.as_ref(), 0);
        reserved_step = start.budget.map(|_| step);
    }
    if let Some(outcome) = commit_or_fenced(sink, start).await? {
        return Ok(outcome);
    }
    let tool_choice = ToolChoice::parse(request.spec.tool_choice.as_deref().unwrap_or_default());
    loop {
        match next_action(&run_messages_of(&conversation, request.run_id)) {
            Action::Complete { answer, steps } => {
                let events = vec![
                    EventDraft::now(kind::FINAL, json!({ "content": answer })),
                    EventDraft::now(kind::RUN_FINISHED, json!({ "steps": steps })),
                ];
                let commit = StepCommit { events, status: Some(RunStatus::Completed), ..StepCommit::default() };
                return Ok(commit_or_fenced(sink, commit).await?.unwrap_or(RunOutcome::Completed(answer)));
            }
            Action::CallModel { step } => {
                if step > request.spec.max_iterations {
                    let reason = format!(
                        "iteration cap reached: {} model calls without a final answer",
                        request.spec.max_iterations
                    );
                    return fail_run(sink, budget.release(), reason).await;
                }
                if request.budgeted && reserved_step != Some(step) {
                    let reserve = budget.reserve(&conversation, summary.as_ref(), 0);
                    let reserve = StepCommit { budget: reserve, ..StepCommit::default() };
                    if let Some(outcome) = commit_or_fenced(sink, reserve).await? {
                        return Ok(outcome);
                    }
                    reserved_step = Some(step);
                }
                let tokens =
                    context::prompt_tokens(&request.spec.system, summary.as_ref(), &conversation) + schema_tokens;
                let route_input = RouteInput { input: &request.input, prompt_tokens: tokens };
                let resolution = match models.resolve(&request.spec.model, route_input) {
                    Ok(resolution) => resolution,
                    Err(error) => return fail_run(sink, budget.release(), error.to_string()).await,
                };
                if let Some(limit) = models.context_limit(&resolution).filter(|limit| tokens > *limit) {
                    let overflow = Overflow {
                        conversation: &conversation,
                        summary: summary.as_ref(),
                        limit,
                        tokens,
                        schema_tokens,
                    };
                    match compaction::compact(&request, models, &resolution, overflow, sink).await? {
                        Ok(Some(compacted)) => {
                            summary = Some(compacted.summary);
                            unsettled.tokens += compacted.spent.tokens;
                            unsettled.cost_usd += compacted.spent.cost_usd;
                        }
                        Ok(None) => {}
                        Err(outcome) => return Ok(outcome),
                    }
                }
                let chat = ChatRequest {
                    model: String::new(),
                    messages: context::prompt(&request.spec.system, summary.as_ref(), &conversation),
                    tools: tool_specs.clone(),
                    tool_choice: tool_choice.for_step(step),
                    temperature: request.spec.temperature,
                };
                let started_ms = agentry_core::clock::now_ms();
                let clock = Instant::now();
                let tokens = request.tokens.clone().filter(|tokens| tokens.wanted());
                let forward = tokens.clone().map(|sink| move |text: &str| sink.push(step, text));
                let deltas = forward.as_ref().map(|forward| forward as &(dyn Fn(&str) + Send + Sync));
                let chat_span = spans::chat(step, &resolution);
                let routed = match models.complete(&resolution, &chat, deltas).instrument(chat_span.clone()).await {
                    Ok(routed) => routed,
                    Err(error) => {
                        spans::record_failure(&chat_span);
                        let failed = fail_run(sink, budget.release(), format!("model call failed: {error}"));
                        return failed.instrument(chat_span).await;
                    }
                };
                spans::record_answer(&chat_span, &routed);
                let latency_ms = clock.elapsed().as_millis() as u64;
                if let Some(tokens) = &tokens {
                    tokens.flush().await;
                }
                let mut answer = routed.response.message.clone();
                answer.run_id = Some(request.run_id);
                let model_start = model_start_data(step, &request.spec.model, &resolution, &routed, &chat.tool_choice);
                let mut events = vec![
                    EventDraft { ts_ms: started_ms, ..EventDraft::now(kind::STEP_START, json!({ "step": step })) },
                    EventDraft { ts_ms: started_ms, ..EventDraft::now(kind::MODEL_START, model_start) },
                    EventDraft::now(kind::USAGE, usage_data(step, &routed, latency_ms)),
                ];
                let mut commit = StepCommit::default();
                if answer.tool_calls.is_empty() {
                    events.push(EventDraft::now(kind::FINAL, json!({ "content": answer.content })));
                    events.push(EventDraft::now(kind::RUN_FINISHED, json!({ "steps": step })));
                    commit.status = Some(RunStatus::Completed);
                }
                commit.events = events;
                commit.messages = vec![answer.clone()];
                let usage = routed.response.usage;
                let spent = Spend {
                    tokens: usage.prompt_tokens + usage.completion_tokens + unsettled.tokens,
                    cost_usd: routed.cost_usd + unsettled.cost_usd,
                };
                unsettled = Spend::default();
                commit.budget = request.budgeted.then_some(BudgetOp { settle: Some((step, spent)), reserve: None });
                if let Some(outcome) = commit_or_fenced(sink, commit).instrument(chat_span).await? {
                    return Ok(outcome);
                }
                let completed = answer.tool_calls.is_empty().then(|| answer.content.clone());
                conversation.push(answer);
                if let Some(final_answer) = completed {
                    return Ok(RunOutcome::Completed(final_answer));
                }
            }
            Action::RunTools { step, pending } => {
                let (delegated, pending): (Vec<ToolCall>, Vec<ToolCall>) =
                    pending.into_iter().partition(|call| is_delegation_tool(&call.name));
                // With delegation calls, the last of their results reserves the next model call.
                let last = if delegated.is_empty() { pending.len().saturating_sub(1) } else { usize::MAX };
                for (index, call) in pending.into_iter().enumerate() {
                    // The last result's commit reserves the next model call, if there is one.
                    let next = (index == last && step < request.spec.max_iterations).then_some(NextCall {
                        budget: &budget,
                        conversation: &conversation,
                        summary: summary.as_ref(),
                    });
                    let tool_span = spans::execute_tool(step, &call);
                    match run_tool_call(&request, tools, step, &call, sink, next).instrument(tool_span).await? {
                        Ok(message) => conversation.push(message),
                        Err(outcome) => return Ok(outcome),
                    }
                }
                if !delegated.is_empty() {
                    let next = (step < request.spec.max_iterations).then_some(NextCall {
                        budget: &budget,
                        conversation: &conversation,
                        summary: summary.as_ref(),
                    });
                    match delegation::run_delegations(&request, step, delegated, sink, next).await? {
                        Ok(messages) => conversation.extend(messages),
                        Err(outcome) => return Ok(outcome),
                    }
                }
                reserved_step = (request.budgeted && step < request.spec.max_iterations).then_some(step + 1);
            }
        }
    }
}

/// Returns the tools offered to the model: the registry's, plus the delegation tools when the
/// agent has a team.
fn offered_tools(tools: &ToolRegistry, spec: &AgentSpec) -> Vec<ToolSpec> {
    let mut specs = tools.specs();
    if let Some(team) = &spec.team {
        specs.extend(
            agentry_core::team::tool_schemas(team).into_iter().map(|(name, description, parameters)| ToolSpec {
                name: name.to_owned(),
                description,
                parameters,
            }),
        );
    }
    specs
}

/// Returns the messages of `run_id` in `conversation`, in order.
fn run_messages_of(conversation: &[Message], run_id: RunId) -> Vec<&Message> {
    conversation.iter().filter(|message| message.run_id == Some(run_id)).collect()
}

/// Commits a failure and returns the outcome.
async fn fail_run(sink: &mut dyn StepSink, budget: Option<BudgetOp>, reason: String) -> Result<RunOutcome, SinkError> {
    fail_run_with(sink, Vec::new(), budget, reason).await
}

/// Commits `events` then a failure, and returns the outcome.
async fn fail_run_with(
    sink: &mut dyn StepSink,
    mut events: Vec<EventDraft>,
    budget: Option<BudgetOp>,
    reason: String,
) -> Result<RunOutcome, SinkError> {
    tracing::warn!(reason = %reason, "run failed");
    events.push(EventDraft::now(kind::RUN_FAILED, json!({ "error": reason })));
    let commit = StepCommit {
        events,
        status: Some(RunStatus::Failed),
        error: Some(reason.clone()),
        budget,
        ..StepCommit::default()
    };
    Ok(commit_or_fenced(sink, commit).await?.unwrap_or(RunOutcome::Failed(reason)))
}

/// Commits; returns `Some(Fenced)` when the run was reassigned, `None` when committed.
async fn commit_or_fenced(sink: &mut dyn StepSink, commit: StepCommit) -> Result<Option<RunOutcome>, SinkError> {
    match sink.commit(commit).await {
        Ok(()) => Ok(None),
        Err(SinkError::Fenced(reason)) => {
            tracing::info!(reason = %reason, "run fenced, stopping");
            Ok(Some(RunOutcome::Fenced))
        }
        Err(SinkError::BudgetExceeded) => {
            tracing::info!("budget exceeded: the run is paused");
            Ok(Some(RunOutcome::Paused("budget exceeded".to_owned())))
        }
        Err(error) => Err(error),
    }
}

mod accounting;
mod compaction;
mod delegation;
mod spans;
#[cfg(test)]
mod tests;
mod tool_calls;
