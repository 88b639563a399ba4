use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::*;
use crate::model::{ChatResponse, ModelError, ModelProvider, TextDeltas, Usage};
use agentry_core::budget::{BudgetOp, Spend};
use agentry_core::models::ModelsConfig;
use serde_json::Value;

/// Answers with a fixed script and records every request.
pub(super) struct ScriptedModel {
    answers: Mutex<VecDeque<Result<ChatResponse, ModelError>>>,
    pub(super) requests: Mutex<Vec<ChatRequest>>,
}

impl ScriptedModel {
    pub(super) fn new(answers: Vec<Result<ChatResponse, ModelError>>) -> Arc<Self> {
        Arc::new(Self { answers: Mutex::new(answers.into()), requests: Mutex::new(Vec::new()) })
    }

    pub(super) fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

#[async_trait]
impl ModelProvider for ScriptedModel {
    async fn complete(&self, request: &ChatRequest, _: Option<TextDeltas<'_>>) -> Result<ChatResponse, ModelError> {
        self.requests.lock().unwrap().push(request.clone());
        self.answers.lock().unwrap().pop_front().expect("model called more often than scripted")
    }
}

/// Returns a router whose every model is `model`.
pub(super) fn router(model: &Arc<ScriptedModel>) -> ModelRouter {
    ModelRouter::with_provider(ModelsConfig::default(), model.clone())
}

/// Records commits; fences from commit number `fence_at` (0-based) on; answers commit number
/// `exceed_at` with "budget exceeded" (after recording it: it was applied).
#[derive(Default)]
pub(super) struct RecordingSink {
    pub(super) commits: Vec<StepCommit>,
    fence_at: Option<usize>,
    exceed_at: Option<usize>,
}

#[async_trait]
impl StepSink for RecordingSink {
    async fn commit(&mut self, commit: StepCommit) -> Result<(), SinkError> {
        if self.fence_at.is_some_and(|fence_at| self.commits.len() >= fence_at) {
            return Err(SinkError::Fenced("epoch 2 is current".into()));
        }
        self.commits.push(commit);
        if self.exceed_at == Some(self.commits.len() - 1) {
            return Err(SinkError::BudgetExceeded);
        }
        Ok(())
    }
}

impl RecordingSink {
    pub(super) fn event_kinds(&self) -> Vec<String> {
        self.commits.iter().flat_map(|commit| commit.events.iter().map(|event| event.kind.clone())).collect()
    }
}

fn tool_answer(id: &str, text: &str) -> Result<ChatResponse, ModelError> {
    let call = ToolCall { id: id.into(), name: "echo".into(), arguments: json!({ "text": text }).to_string() };
    Ok(ChatResponse {
        message: Message::assistant("", vec![call]),
        usage: Usage { prompt_tokens: 10, completion_tokens: 5 },
        finish_reason: Some("tool_calls".into()),
        model: None,
    })
}

pub(super) fn text_answer(text: &str) -> Result<ChatResponse, ModelError> {
    Ok(ChatResponse {
        message: Message::assistant(text, Vec::new()),
        usage: Usage { prompt_tokens: 20, completion_tokens: 3 },
        finish_reason: Some("stop".into()),
        model: None,
    })
}

pub(super) fn request(run_id: RunId, history: Vec<Message>, max_iterations: u32) -> RunRequest {
    RunRequest {
        run_id,
        node_id: agentry_core::NodeId::generate(),
        epoch: 1,
        spec: AgentSpec {
            model: "openai:test".into(),
            tools: vec!["echo".into()],
            system: "be brief".into(),
            max_iterations,
            node_selector: Default::default(),
            temperature: Some(0.0),
            tool_choice: None,
            mcp_servers: Default::default(),
            team: None,
        },
        history,
        input: "say hi twice".into(),
        workspace: std::env::temp_dir(),
        tool_timeout: Duration::from_secs(5),
        started_tool_calls: Vec::new(),
        budgeted: false,
        summary: None,
        tokens: None,
        policy: Default::default(),
        approvals: Vec::new(),
        delegations: Vec::new(),
    }
}

pub(super) fn echo_tools() -> ToolRegistry {
    ToolRegistry::builtin(&["echo".to_string()]).unwrap()
}

#[tokio::test]
async fn two_tool_calls_then_final_commits_each_step() {
    let model = ScriptedModel::new(vec![tool_answer("c1", "hi"), tool_answer("c2", "hi again"), text_answer("done")]);
    let mut sink = RecordingSink::default();
    let run_id = RunId::generate();
    let outcome = drive_run(request(run_id, Vec::new(), 8), &router(&model), &echo_tools(), &mut sink).await.unwrap();

    assert_eq!(outcome, RunOutcome::Completed("done".into()));
    assert_eq!(model.request_count(), 3);
    let expected = [
        "run_started",
        "step_start",
        "model_start",
        "usage",
        "tool_start",
        "tool_end",
        "step_start",
        "model_start",
        "usage",
        "tool_start",
        "tool_end",
        "step_start",
        "model_start",
        "usage",
        "final",
        "run_finished",
    ];
    assert_eq!(sink.event_kinds(), expected);
    // The answer is committed in its own commit, before the tool_start commit.
    assert_eq!(sink.commits[1].messages[0].tool_calls[0].id, "c1");
    assert!(sink.commits[2].messages.is_empty());
    assert_eq!(sink.commits[3].messages[0].tool_call_id.as_deref(), Some("c1"));
    assert_eq!(sink.commits[3].messages[0].content, "hi");
    assert_eq!(sink.commits.last().unwrap().status, Some(RunStatus::Completed));
    // The system prompt leads every request; the third request sees both tool results.
    let requests = model.requests.lock().unwrap();
    assert_eq!(requests[0].messages[0].role, Role::System);
    assert_eq!(requests[2].messages.iter().filter(|message| message.role == Role::Tool).count(), 2);
    assert!(sink.commits.iter().flat_map(|commit| &commit.messages).all(|message| message.run_id == Some(run_id)));
}

#[tokio::test]
async fn resume_runs_only_the_uncommitted_tool_call_and_never_asks_again() {
    let run_id = RunId::generate();
    let mut user = Message::user("say hi twice");
    user.run_id = Some(run_id);
    let calls = vec![
        ToolCall { id: "a".into(), name: "echo".into(), arguments: r#"{"text":"one"}"#.into() },
        ToolCall { id: "b".into(), name: "echo".into(), arguments: r#"{"text":"two"}"#.into() },
    ];
    let mut answer = Message::assistant("", calls);
    answer.run_id = Some(run_id);
    let mut first_result = Message::tool_result("a", "one");
    first_result.run_id = Some(run_id);
    let model = ScriptedModel::new(vec![text_answer("finished")]);
    let mut sink = RecordingSink::default();

    let history = vec![user, answer, first_result];
    let outcome = drive_run(request(run_id, history, 8), &router(&model), &echo_tools(), &mut sink).await.unwrap();

    assert_eq!(outcome, RunOutcome::Completed("finished".into()));
    assert_eq!(model.request_count(), 1, "the committed answer must not be requested again");
    // No user message is appended twice; only call "b" runs, with the step-1 idempotency key.
    assert!(sink.commits[0].messages.is_empty());
    let tool_starts: Vec<&EventDraft> =
        sink.commits.iter().flat_map(|commit| &commit.events).filter(|event| event.kind == kind::TOOL_START).collect();
    assert_eq!(tool_starts.len(), 1);
    assert_eq!(tool_starts[0].data["idempotency_key"], format!("{run_id}/1/b"));
    assert_eq!(sink.commits[0].events[0].data["resumed"], true);
}

#[tokio::test]
async fn committed_final_answer_completes_without_a_model_call() {
    let run_id = RunId::generate();
    let mut user = Message::user("hi");
    user.run_id = Some(run_id);
    let mut answer = Message::assistant("hello", Vec::new());
    answer.run_id = Some(run_id);
    let model = ScriptedModel::new(Vec::new());
    let mut sink = RecordingSink::default();

    let outcome =
        drive_run(request(run_id, vec![user, answer], 8), &router(&model), &echo_tools(), &mut sink).await.unwrap();

    assert_eq!(outcome, RunOutcome::Completed("hello".into()));
    assert_eq!(model.request_count(), 0);
    assert_eq!(sink.event_kinds(), ["run_started", "final", "run_finished"]);
}

#[tokio::test]
async fn iteration_cap_fails_the_run_with_the_reason() {
    let model = ScriptedModel::new(vec![tool_answer("c1", "x"), tool_answer("c2", "y")]);
    let mut sink = RecordingSink::default();

    let outcome =
        drive_run(request(RunId::generate(), Vec::new(), 2), &router(&model), &echo_tools(), &mut sink).await.unwrap();

    let RunOutcome::Failed(reason) = outcome else { panic!("expected failure, got {outcome:?}") };
    assert!(reason.contains("iteration cap reached: 2 model calls"), "{reason}");
    let last = sink.commits.last().unwrap();
    assert_eq!(last.status, Some(RunStatus::Failed));
    assert_eq!(last.error.as_deref(), Some(reason.as_str()));
    assert_eq!(last.events[0].kind, kind::RUN_FAILED);
}

#[tokio::test]
async fn fenced_executor_stops_writing() {
    let model = ScriptedModel::new(vec![tool_answer("c1", "x"), text_answer("never")]);
    let mut sink = RecordingSink { fence_at: Some(2), ..RecordingSink::default() };

    let outcome =
        drive_run(request(RunId::generate(), Vec::new(), 8), &router(&model), &echo_tools(), &mut sink).await.unwrap();

    assert_eq!(outcome, RunOutcome::Fenced);
    assert_eq!(sink.commits.len(), 2, "no commit after the fence");
    assert_eq!(model.request_count(), 1);
}

#[tokio::test]
async fn unknown_tool_and_bad_arguments_become_error_results() {
    let bad_calls = vec![
        ToolCall { id: "u".into(), name: "rm".into(), arguments: "{}".into() },
        ToolCall { id: "j".into(), name: "echo".into(), arguments: "{not json".into() },
    ];
    let answers = vec![
        Ok(ChatResponse {
            message: Message::assistant("", bad_calls),
            usage: Usage::default(),
            finish_reason: None,
            model: None,
        }),
        text_answer("sorry"),
    ];
    let model = ScriptedModel::new(answers);
    let mut sink = RecordingSink::default();

    let outcome =
        drive_run(request(RunId::generate(), Vec::new(), 8), &router(&model), &echo_tools(), &mut sink).await.unwrap();

    assert_eq!(outcome, RunOutcome::Completed("sorry".into()));
    let tool_ends: Vec<&EventDraft> =
        sink.commits.iter().flat_map(|commit| &commit.events).filter(|event| event.kind == kind::TOOL_END).collect();
    assert_eq!(tool_ends.len(), 2);
    assert!(tool_ends.iter().all(|event| event.data["is_error"] == true));
    assert!(tool_ends[0].data["output"].as_str().unwrap().contains("unknown tool \"rm\""));
    assert!(tool_ends[1].data["output"].as_str().unwrap().contains("not valid JSON"));
}

#[tokio::test]
async fn model_failure_fails_the_run() {
    let error = ModelError::Http { status: 400, body: "boom".into(), retry_after: None };
    let model = ScriptedModel::new(vec![Err(error)]);
    let mut sink = RecordingSink::default();

    let outcome =
        drive_run(request(RunId::generate(), Vec::new(), 8), &router(&model), &echo_tools(), &mut sink).await.unwrap();

    assert_eq!(outcome, RunOutcome::Failed("model call failed: model server answered HTTP 400: boom".into()));
}

#[test]
fn next_action_reads_committed_state() {
    let user = Message::user("q");
    assert_eq!(next_action(&[&user]), Action::CallModel { step: 1 });
    let call = ToolCall { id: "x".into(), name: "echo".into(), arguments: "{}".into() };
    let answer = Message::assistant("", vec![call.clone()]);
    assert_eq!(next_action(&[&user, &answer]), Action::RunTools { step: 1, pending: vec![call] });
    let result = Message::tool_result("x", "ok");
    assert_eq!(next_action(&[&user, &answer, &result]), Action::CallModel { step: 2 });
}

/// A tool with a chosen interrupt policy that counts its calls.
struct Flaky {
    policy: crate::tools::InterruptPolicy,
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl crate::tools::Tool for Flaky {
    fn spec(&self) -> crate::model::ToolSpec {
        crate::model::ToolSpec { name: "flaky".into(), description: "test".into(), parameters: json!({}) }
    }

    fn manifest(&self) -> crate::tools::ToolManifest {
        crate::tools::ToolManifest { on_interrupt: self.policy, ..Default::default() }
    }

    async fn call(&self, _: &crate::tools::ToolContext, _: Value) -> Result<String, crate::tools::ToolError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok("did it".into())
    }
}

/// Resumes a run whose one `flaky` call started (committed `tool_start`) but has no result.
async fn resume_interrupted(policy: crate::tools::InterruptPolicy) -> (RunOutcome, RecordingSink, usize, usize) {
    let run_id = RunId::generate();
    let mut user = Message::user("do it");
    user.run_id = Some(run_id);
    let call = ToolCall { id: "x".into(), name: "flaky".into(), arguments: "{}".into() };
    let mut answer = Message::assistant("", vec![call]);
    answer.run_id = Some(run_id);
    let tool = std::sync::Arc::new(Flaky { policy, calls: Default::default() });
    let mut tools = ToolRegistry::default();
    tools.insert(tool.clone());
    let model = ScriptedModel::new(vec![text_answer("checked")]);
    let mut sink = RecordingSink::default();
    let mut run_request = request(run_id, vec![user, answer], 8);
    run_request.started_tool_calls = vec!["x".into()];
    let outcome = drive_run(run_request, &router(&model), &tools, &mut sink).await.unwrap();
    let calls = tool.calls.load(std::sync::atomic::Ordering::SeqCst);
    (outcome, sink, calls, model.request_count())
}

fn interrupted_event(sink: &RecordingSink) -> &EventDraft {
    sink.commits.iter().flat_map(|commit| &commit.events).find(|event| event.kind == kind::TOOL_INTERRUPTED).unwrap()
}

#[tokio::test]
async fn interrupted_retry_tool_runs_again_with_the_same_key() {
    let (outcome, sink, calls, requests) = resume_interrupted(crate::tools::InterruptPolicy::Retry).await;
    assert_eq!(outcome, RunOutcome::Completed("checked".into()));
    assert_eq!((calls, requests), (1, 1));
    assert_eq!(interrupted_event(&sink).data["policy"], "retry");
    let start = sink.commits.iter().flat_map(|commit| &commit.events).find(|event| event.kind == kind::TOOL_START);
    assert_eq!(start.unwrap().data["idempotency_key"], interrupted_event(&sink).data["idempotency_key"]);
}

#[tokio::test]
async fn interrupted_fail_tool_fails_the_run_without_running_it() {
    let (outcome, sink, calls, requests) = resume_interrupted(crate::tools::InterruptPolicy::Fail).await;
    let RunOutcome::Failed(reason) = outcome else { panic!("expected a failed run, got {outcome:?}") };
    assert!(reason.contains("tool call x (flaky) was interrupted"), "{reason}");
    assert_eq!((calls, requests), (0, 0));
    assert_eq!(interrupted_event(&sink).data["policy"], "fail");
    assert_eq!(sink.commits.last().unwrap().status, Some(RunStatus::Failed));
}

#[tokio::test]
async fn interrupted_ask_tool_tells_the_model_instead_of_running_it() {
    let (outcome, sink, calls, requests) = resume_interrupted(crate::tools::InterruptPolicy::Ask).await;
    assert_eq!(outcome, RunOutcome::Completed("checked".into()));
    assert_eq!((calls, requests), (0, 1));
    assert_eq!(interrupted_event(&sink).data["policy"], "ask");
    let result = sink.commits.iter().flat_map(|commit| &commit.messages).find(|message| message.role == Role::Tool);
    assert!(result.unwrap().content.contains("tool_interrupted"), "{result:?}");
}

#[tokio::test]
async fn required_tool_choice_holds_for_the_first_call_only_and_model_start_says_which_model() {
    let model = ScriptedModel::new(vec![tool_answer("c1", "x"), text_answer("done")]);
    let mut sink = RecordingSink::default();
    let mut run = request(RunId::generate(), Vec::new(), 8);
    run.spec.tool_choice = Some("required".into());

    let outcome = drive_run(run, &router(&model), &echo_tools(), &mut sink).await.unwrap();

    assert_eq!(outcome, RunOutcome::Completed("done".into()));
    let choices: Vec<ToolChoice> =
        model.requests.lock().unwrap().iter().map(|request| request.tool_choice.clone()).collect();
    assert_eq!(choices, vec![ToolChoice::Required, ToolChoice::Auto]);
    let starts: Vec<&EventDraft> =
        sink.commits.iter().flat_map(|commit| &commit.events).filter(|event| event.kind == kind::MODEL_START).collect();
    assert_eq!(starts[0].data["tool_choice"], "required");
    assert_eq!(starts[1].data["tool_choice"], "auto");
    assert_eq!(starts[0].data["model"], "openai:test");
    assert_eq!(starts[0].data["provider_model"], "test");
}

#[tokio::test]
async fn a_budgeted_run_reserves_before_each_call_settles_after_it_and_stops_when_paused() {
    let model = ScriptedModel::new(vec![tool_answer("c1", "x"), text_answer("done")]);
    let mut sink = RecordingSink::default();
    let mut run = request(RunId::generate(), Vec::new(), 8);
    run.budgeted = true;

    let outcome = drive_run(run.clone(), &router(&model), &echo_tools(), &mut sink).await.unwrap();

    assert_eq!(outcome, RunOutcome::Completed("done".into()));
    let ops: Vec<Option<BudgetOp>> = sink.commits.iter().map(|commit| commit.budget).collect();
    // run_started reserves call 1; its answer settles it; the last tool result reserves call 2;
    // the final answer settles it.
    assert_eq!(ops.len(), 5, "{ops:?}");
    let reserved = |op: &Option<BudgetOp>| op.and_then(|op| op.reserve).expect("a reservation");
    assert!(reserved(&ops[0]).tokens > agentry_core::budget::DEFAULT_OUTPUT_ALLOWANCE, "prompt + output allowance");
    assert_eq!(ops[1].unwrap().settle, Some((1, Spend { tokens: 15, cost_usd: 0.0 })));
    assert_eq!(ops[2], None, "tool_start carries nothing");
    assert!(reserved(&ops[3]).tokens > reserved(&ops[0]).tokens, "the prompt grew by a call and a result");
    assert_eq!(ops[4].unwrap().settle, Some((2, Spend { tokens: 23, cost_usd: 0.0 })));

    let mut exceeded = RecordingSink { exceed_at: Some(3), ..RecordingSink::default() };
    let model = ScriptedModel::new(vec![tool_answer("c1", "x"), text_answer("never asked")]);
    let outcome = drive_run(run, &router(&model), &echo_tools(), &mut exceeded).await.unwrap();
    assert_eq!(outcome, RunOutcome::Paused("budget exceeded".into()));
    assert_eq!(model.request_count(), 1, "no call without a reservation");
}

mod policy;
