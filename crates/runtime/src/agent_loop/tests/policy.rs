//! The tool policy in the loop: deny refuses without running, ask parks the run until a
//! decision, and the decision (read back on resume) runs or refuses the call.

use super::*;
use agentry_core::approval::ApprovalDecision;
use agentry_core::policy::ToolPolicy;

fn policy(action: &str) -> Arc<ToolPolicy> {
    let rules = json!({ "rules": [{ "tool": "echo", "pattern": "^secret", "action": action, "reason": "secrets" }] });
    Arc::new(serde_json::from_value(rules).unwrap())
}

fn kinds(sink: &RecordingSink) -> Vec<String> {
    sink.event_kinds()
}

#[tokio::test]
async fn deny_gives_the_model_a_refusal_without_running_the_call() {
    let model = ScriptedModel::new(vec![tool_answer("c1", "secret plan"), text_answer("ok")]);
    let mut sink = RecordingSink::default();
    let mut request = request(RunId::generate(), Vec::new(), 8);
    request.policy = policy("deny");
    let outcome = drive_run(request, &router(&model), &echo_tools(), &mut sink).await.unwrap();

    assert_eq!(outcome, RunOutcome::Completed("ok".into()));
    assert!(!kinds(&sink).contains(&"tool_start".to_owned()), "{:?}", kinds(&sink));
    let result = sink.commits.iter().flat_map(|commit| &commit.messages).find(|message| message.role == Role::Tool);
    let result = result.expect("a tool result");
    assert!(result.content.contains("permission denied") && result.content.contains("secrets"), "{}", result.content);
    let end = sink.commits.iter().flat_map(|commit| &commit.events).find(|event| event.kind == kind::TOOL_END).unwrap();
    assert_eq!((end.data["is_error"].as_bool(), end.data["policy"]["action"].as_str()), (Some(true), Some("deny")));
}

#[tokio::test]
async fn ask_parks_the_run_then_an_approval_runs_the_call_and_a_denial_refuses_it() {
    let run_id = RunId::generate();
    let model = ScriptedModel::new(vec![tool_answer("c1", "secret plan")]);
    let mut sink = RecordingSink::default();
    let mut first = request(run_id, Vec::new(), 8);
    first.policy = policy("ask");
    let outcome = drive_run(first, &router(&model), &echo_tools(), &mut sink).await.unwrap();

    assert_eq!(outcome, RunOutcome::WaitingApproval("c1".into()));
    let parked = sink.commits.last().unwrap();
    assert_eq!(parked.status, Some(RunStatus::WaitingApproval));
    let requested = &parked.events.last().unwrap();
    assert_eq!(requested.kind, kind::APPROVAL_REQUESTED);
    assert_eq!((requested.data["tool_call_id"].as_str(), requested.data["name"].as_str()), (Some("c1"), Some("echo")));
    let (requested_ms, expires_ms) = (requested.data["requested_ms"].as_i64(), requested.data["expires_ms"].as_i64());
    assert_eq!(expires_ms.unwrap() - requested_ms.unwrap(), 3_600_000, "the default timeout is an hour");
    assert!(!kinds(&sink).contains(&"tool_start".to_owned()));

    // Resumed with the committed conversation and a decision.
    let history: Vec<Message> = sink.commits.iter().flat_map(|commit| commit.messages.clone()).collect();
    for (approved, expected) in [(true, "secret plan"), (false, "error: permission denied: alice denied")] {
        let model = ScriptedModel::new(vec![text_answer("done")]);
        let mut resumed_sink = RecordingSink::default();
        let mut resumed = request(run_id, history.clone(), 8);
        resumed.policy = policy("ask");
        resumed.approvals = vec![ApprovalDecision {
            tool_call_id: "c1".into(),
            approved,
            actor: "alice".into(),
            reason: "checked".into(),
            decided_ms: 1,
        }];
        let outcome = drive_run(resumed, &router(&model), &echo_tools(), &mut resumed_sink).await.unwrap();
        assert_eq!(outcome, RunOutcome::Completed("done".into()));
        let result = resumed_sink.commits.iter().flat_map(|commit| &commit.messages).find(|m| m.role == Role::Tool);
        assert!(result.unwrap().content.starts_with(expected), "{:?}", result);
        let started = kinds(&resumed_sink).contains(&"tool_start".to_owned());
        assert_eq!(started, approved, "only an approved call starts");
    }
}

#[tokio::test]
async fn calls_the_policy_allows_run_as_before() {
    let model = ScriptedModel::new(vec![tool_answer("c1", "public"), text_answer("done")]);
    let mut sink = RecordingSink::default();
    let mut request = request(RunId::generate(), Vec::new(), 8);
    request.policy = policy("ask");
    let outcome = drive_run(request, &router(&model), &echo_tools(), &mut sink).await.unwrap();
    assert_eq!(outcome, RunOutcome::Completed("done".into()));
    let start = sink.commits.iter().flat_map(|commit| &commit.events).find(|event| event.kind == kind::TOOL_START);
    assert!(start.unwrap().data.get("policy").is_none(), "the default decided: nothing to record");
}
