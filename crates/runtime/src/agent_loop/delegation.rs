//! Delegation calls of a step (`agent`, `parallel_agents`; see [`agentry_core::team`]): the
//! sub-agents are started by a commit, never by the node, and the run waits for them durably.
//!
//! A call without a committed `tool_start` is dispatched: its `tool_start` (with the
//! sub-agents' ids in `children`) and its [`Delegation`]s are committed together with the status
//! `waiting_children`, and the executor stops, freeing its slot. The store queues the run again
//! when the last sub-agent ends; the resumed loop finds the call started and, once every
//! sub-agent of it has ended ([`LoadedRun::delegations`](agentry_core::LoadedRun)), commits the
//! call's result. A started call is never dispatched twice: its `tool_start` is the record that
//! its sub-agents exist.

use serde_json::json;

use super::accounting::NextCall;
use super::tool_calls::{commit_tool_result, tool_end_event};
use super::{RunOutcome, RunRequest, SinkError, StepSink, commit_or_fenced};
use agentry_core::StepCommit;
use agentry_core::event::{EventDraft, kind};
use agentry_core::ids::{AgentId, RunId};
use agentry_core::message::{Message, ToolCall};
use agentry_core::run::RunStatus;
use agentry_core::team::{self, Delegation};

/// What to do with one delegation call now.
enum Step {
    /// Commit this result (output, is_error).
    Answer(String, bool),
    /// Start these sub-agents.
    Dispatch(Vec<Delegation>),
    /// Its sub-agents have not all ended.
    Wait,
}

/// Handles the delegation calls of step `step` (all without a committed result): commits the
/// results of those whose sub-agents all ended (the last one reserving the next model call,
/// when nothing is left to wait for), then dispatches the new ones. Returns the committed
/// result messages when every call is answered, or the outcome that stops the executor
/// (`WaitingChildren`, or fenced).
pub(super) async fn run_delegations(
    request: &RunRequest,
    step: u32,
    calls: Vec<ToolCall>,
    sink: &mut dyn StepSink,
    next_call: Option<NextCall<'_>>,
) -> Result<Result<Vec<Message>, RunOutcome>, SinkError> {
    let plans: Vec<(ToolCall, Step)> =
        calls.into_iter().map(|call| (plan(request, &call), call)).map(|(planned, call)| (call, planned)).collect();
    let answers: Vec<(&ToolCall, &String, bool)> = plans
        .iter()
        .filter_map(|(call, step)| match step {
            Step::Answer(output, is_error) => Some((call, output, *is_error)),
            _ => None,
        })
        .collect();
    let waits = answers.len() < plans.len();
    let mut committed = Vec::with_capacity(answers.len());
    let last = answers.len().saturating_sub(1);
    for (index, (call, output, is_error)) in answers.into_iter().enumerate() {
        let end = tool_end_event(step, call, output, is_error, 0);
        let budget = next_call.as_ref().filter(|_| index == last && !waits).and_then(|next| next.reserve(output));
        match commit_tool_result(request, sink, call, output.clone(), vec![end], budget).await? {
            Ok(message) => committed.push(message),
            Err(outcome) => return Ok(Err(outcome)),
        }
    }
    if !waits {
        return Ok(Ok(committed));
    }
    let mut events = Vec::new();
    let mut delegations = Vec::new();
    for (call, planned) in plans {
        if let Step::Dispatch(children) = planned {
            events.push(EventDraft::now(kind::TOOL_START, start_data(request, step, &call, &children)));
            delegations.extend(children);
        }
    }
    let started = delegations.len();
    tracing::info!(sub_agents = started, "run delegates and waits for its sub-agents");
    let commit = StepCommit { events, delegations, status: Some(RunStatus::WaitingChildren), ..StepCommit::default() };
    Ok(Err(commit_or_fenced(sink, commit).await?.unwrap_or(RunOutcome::WaitingChildren(started))))
}

/// Decides what a delegation call needs now.
fn plan(request: &RunRequest, call: &ToolCall) -> Step {
    if request.started_tool_calls.contains(&call.id) {
        let mut children: Vec<&Delegation> =
            request.delegations.iter().filter(|delegation| delegation.tool_call_id == call.id).collect();
        children.sort_by_key(|delegation| delegation.position);
        if children.is_empty() {
            let output = "error: the sub-agents of this call were not recorded; delegate again".to_owned();
            return Step::Answer(output, true);
        }
        if !team::all_ended(&children) {
            return Step::Wait;
        }
        let (output, is_error) = team::call_output(&call.name, &children);
        return Step::Answer(output, is_error);
    }
    let Some(team) = request.spec.team.as_ref() else {
        return Step::Answer(
            format!("error: this agent has no team to delegate to; do the task yourself ({})", call.name),
            true,
        );
    };
    match team::parse_call(&call.name, &call.arguments, team) {
        Ok(tasks) => Step::Dispatch(
            tasks
                .into_iter()
                .enumerate()
                .map(|(position, task)| Delegation {
                    tool_call_id: call.id.clone(),
                    position: position as u32,
                    role: task.role,
                    input: task.input,
                    child_agent_id: AgentId::generate(),
                    child_run_id: RunId::generate(),
                    outcome: None,
                })
                .collect(),
        ),
        Err(reason) => Step::Answer(format!("error: {reason}"), true),
    }
}

/// Returns the `tool_start` data of a dispatched call: the usual fields and its `children`.
fn start_data(request: &RunRequest, step: u32, call: &ToolCall, children: &[Delegation]) -> serde_json::Value {
    let children: Vec<_> = children
        .iter()
        .map(|child| json!({ "agent_id": child.child_agent_id, "run_id": child.child_run_id, "role": child.role }))
        .collect();
    json!({
        "step": step,
        "tool_call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "idempotency_key": format!("{}/{}/{}", request.run_id, step, call.id),
        "children": children,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::tests::{RecordingSink, ScriptedModel, echo_tools, request, router, text_answer};
    use super::*;
    use crate::model::{ChatResponse, ModelError, Usage};
    use agentry_core::team::{ChildOutcome, Team, TeamRole};

    fn team_request(run_id: RunId, history: Vec<Message>) -> RunRequest {
        let mut request = request(run_id, history, 4);
        let role = TeamRole { description: "writes code".into(), spec: request.spec.clone() };
        let roles = BTreeMap::from([("coder".to_owned(), role.clone()), ("tester".to_owned(), role)]);
        request.spec.team = Some(Team { roles, max_parallel: 3 });
        request
    }

    fn delegate_answer() -> Result<ChatResponse, ModelError> {
        let arguments =
            json!({ "tasks": [{ "agent": "coder", "input": "write it" }, { "agent": "tester", "input": "test it" }] });
        let call = ToolCall { id: "d1".into(), name: "parallel_agents".into(), arguments: arguments.to_string() };
        Ok(ChatResponse {
            message: Message::assistant("", vec![call]),
            usage: Usage { prompt_tokens: 10, completion_tokens: 5 },
            finish_reason: Some("tool_calls".into()),
            model: None,
        })
    }

    #[tokio::test]
    async fn a_delegation_commits_its_sub_agents_and_waits() {
        let model = ScriptedModel::new(vec![delegate_answer()]);
        let mut sink = RecordingSink::default();
        let request = team_request(RunId::generate(), Vec::new());
        let outcome = super::super::drive_run(request, &router(&model), &echo_tools(), &mut sink).await.unwrap();
        assert_eq!(outcome, RunOutcome::WaitingChildren(2));
        let offered: Vec<String> =
            model.requests.lock().unwrap()[0].tools.iter().map(|tool| tool.name.clone()).collect();
        assert_eq!(offered, ["echo", "agent", "parallel_agents"]);
        let dispatch = sink.commits.last().unwrap();
        assert_eq!(dispatch.status, Some(RunStatus::WaitingChildren));
        let roles: Vec<(&str, &str, u32)> = dispatch
            .delegations
            .iter()
            .map(|child| (child.role.as_str(), child.input.as_str(), child.position))
            .collect();
        assert_eq!(roles, [("coder", "write it", 0), ("tester", "test it", 1)]);
        let start = &dispatch.events[0];
        assert_eq!(start.kind, kind::TOOL_START);
        assert_eq!(start.data["children"][1]["agent_id"], json!(dispatch.delegations[1].child_agent_id));
        assert!(dispatch.messages.is_empty(), "no result before the sub-agents end");
    }

    #[tokio::test]
    async fn a_resumed_run_answers_with_the_sub_agents_results_in_order() {
        let run_id = RunId::generate();
        let mut user = Message::user("say hi twice");
        user.run_id = Some(run_id);
        let mut answer = delegate_answer().unwrap().message;
        answer.run_id = Some(run_id);
        let mut request = team_request(run_id, vec![user, answer]);
        request.started_tool_calls = vec!["d1".into()];
        let ended = |position: u32, role: &str, outcome: ChildOutcome| Delegation {
            tool_call_id: "d1".into(),
            position,
            role: role.into(),
            input: "x".into(),
            child_agent_id: AgentId::generate(),
            child_run_id: RunId::generate(),
            outcome: Some(outcome),
        };
        request.delegations = vec![
            ended(
                1,
                "tester",
                ChildOutcome { status: RunStatus::Failed, answer: None, error: Some("no model".into()) },
            ),
            ended(0, "coder", ChildOutcome { status: RunStatus::Completed, answer: Some("done".into()), error: None }),
        ];
        let model = ScriptedModel::new(vec![text_answer("both reported")]);
        let mut sink = RecordingSink::default();
        let outcome = super::super::drive_run(request, &router(&model), &echo_tools(), &mut sink).await.unwrap();
        assert_eq!(outcome, RunOutcome::Completed("both reported".into()));
        assert_eq!(
            sink.event_kinds(),
            ["run_started", "tool_end", "step_start", "model_start", "usage", "final", "run_finished"]
        );
        let result = &sink.commits[1].messages[0];
        assert!(result.content.starts_with("## 1/2: coder"), "{}", result.content);
        assert!(
            result.content.contains("## 2/2: tester") && result.content.contains("failed: no model"),
            "{}",
            result.content
        );
        assert_eq!(model.request_count(), 1, "the delegating step is not asked again");
    }

    #[tokio::test]
    async fn a_run_still_waiting_for_a_sub_agent_waits_again_without_dispatching() {
        let run_id = RunId::generate();
        let mut answer = delegate_answer().unwrap().message;
        answer.run_id = Some(run_id);
        let mut user = Message::user("say hi twice");
        user.run_id = Some(run_id);
        let mut request = team_request(run_id, vec![user, answer]);
        request.started_tool_calls = vec!["d1".into()];
        request.delegations = vec![Delegation {
            tool_call_id: "d1".into(),
            position: 0,
            role: "coder".into(),
            input: "x".into(),
            child_agent_id: AgentId::generate(),
            child_run_id: RunId::generate(),
            outcome: Some(ChildOutcome { status: RunStatus::Running, answer: None, error: None }),
        }];
        let model = ScriptedModel::new(Vec::new());
        let mut sink = RecordingSink::default();
        let outcome = super::super::drive_run(request, &router(&model), &echo_tools(), &mut sink).await.unwrap();
        assert_eq!(outcome, RunOutcome::WaitingChildren(0));
        assert!(sink.commits.iter().all(|commit| commit.delegations.is_empty()), "nothing dispatched twice");
    }

    #[tokio::test]
    async fn a_bad_delegation_is_an_error_result_for_the_model() {
        let call = ToolCall {
            id: "d1".into(),
            name: "agent".into(),
            arguments: json!({ "agent": "poet", "input": "x" }).to_string(),
        };
        let bad = Ok(ChatResponse {
            message: Message::assistant("", vec![call]),
            usage: Usage { prompt_tokens: 10, completion_tokens: 5 },
            finish_reason: Some("tool_calls".into()),
            model: None,
        });
        let model = ScriptedModel::new(vec![bad, text_answer("ok, myself")]);
        let mut sink = RecordingSink::default();
        let request = team_request(RunId::generate(), Vec::new());
        let outcome = super::super::drive_run(request, &router(&model), &echo_tools(), &mut sink).await.unwrap();
        assert_eq!(outcome, RunOutcome::Completed("ok, myself".into()));
        let result =
            sink.commits.iter().flat_map(|commit| &commit.messages).find(|message| message.tool_call_id.is_some());
        assert_eq!(result.unwrap().content, "error: `agent`: unknown role \"poet\"; the team has coder, tester");
    }
}
