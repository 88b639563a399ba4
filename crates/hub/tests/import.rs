//! `AgentHub.ImportTrace` over gRPC against an in-process hub (SQLite in memory, in-process
//! broker, loopback TCP): an imported trace replays as sent, every change to the agent or its
//! runs is FAILED_PRECONDITION naming the import, and bad input is INVALID_ARGUMENT naming the
//! field or limit, with nothing written.

mod common;

use std::collections::HashMap;

use serde_json::{Value, json};
use tonic::Code;

use common::TestHub;

use agentry_core::limits::MAX_IMPORT_EVENTS;
use agentry_proto::v1 as pb;

fn event(seq: u64, kind: &str, run_id: &str, data: Value) -> pb::ImportedEvent {
    pb::ImportedEvent {
        seq,
        ts: Some(agentry_proto::convert::timestamp(1_738_332_185_000 + seq as i64 * 10)),
        r#type: kind.to_owned(),
        agent_id: "go-agent-1".to_owned(),
        run_id: run_id.to_owned(),
        data: data.to_string(),
    }
}

/// A Go agentry run that completed with one tool call, then one cut short.
fn go_trace() -> Vec<pb::ImportedEvent> {
    vec![
        event(3, "run_started", "run-a", json!({})),
        event(4, "step_start", "run-a", json!({ "step": 1 })),
        event(5, "model_start", "run-a", json!({ "step": 1, "model": "openai:gpt-4o-mini" })),
        event(6, "usage", "run-a", json!({ "step": 1, "prompt_tokens": 10, "completion_tokens": 5 })),
        event(7, "tool_start", "run-a", json!({ "name": "bash", "arguments": "{\"command\":\"ls\"}" })),
        event(8, "tool_end", "run-a", json!({ "name": "bash", "output": "Cargo.toml", "is_error": false })),
        event(9, "final", "run-a", json!({ "content": "one file" })),
        event(10, "run_finished", "run-a", json!({ "steps": 2 })),
        event(12, "run_started", "run-b", json!({})),
        event(13, "step_start", "run-b", json!({ "step": 1 })),
    ]
}

fn request(events: Vec<pb::ImportedEvent>) -> pb::ImportTraceRequest {
    pb::ImportTraceRequest {
        source: "trace.jsonl".to_owned(),
        labels: HashMap::from([("team".to_owned(), "search".to_owned())]),
        events,
        agent_id: String::new(),
    }
}

#[track_caller]
fn assert_status<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, needle: &str) {
    match result {
        Err(status) => {
            assert_eq!(status.code(), code, "{status:?}");
            assert!(status.message().contains(needle), "{:?} does not mention {needle:?}", status.message());
        }
        Ok(answer) => panic!("expected {code:?}, got {answer:?}"),
    }
}

#[tokio::test]
async fn an_import_replays_as_sent_and_refuses_every_change() {
    let hub = TestHub::start().await;
    let mut client = hub.client.clone();
    let sent = go_trace();
    let imported = client.import_trace(request(sent.clone())).await.expect("imported").into_inner();
    assert_eq!((imported.run_ids.len(), imported.events), (2, 10));

    let agent = client
        .get_agent(pb::GetAgentRequest { agent_id: imported.agent_id.clone() })
        .await
        .expect("the agent")
        .into_inner()
        .agent
        .expect("an agent");
    assert_eq!(agent.imported_from, "trace.jsonl");
    assert_eq!(agent.last_seq, 10);
    assert_eq!(agent.spec.expect("a spec").model, "openai:gpt-4o-mini");
    assert_eq!(agent.labels["agentry.imported-from"], "trace.jsonl");
    assert_eq!(agent.labels["agentry.imported-agent"], "go-agent-1");
    assert_eq!(agent.labels["team"], "search");
    let latest = agent.latest_run.expect("a latest run");
    assert_eq!(latest.run_id, imported.run_ids[1]);
    assert_eq!(
        (latest.status, latest.error.as_str(), latest.node_id.as_str()),
        (pb::RunStatus::Failed as i32, "imported trace ends before the run finished", "")
    );
    let first = client.get_run(pb::GetRunRequest { run_id: imported.run_ids[0].clone() }).await.expect("run");
    assert_eq!(first.into_inner().run.expect("a run").status, pb::RunStatus::Completed as i32);

    // The replay: seqs renumbered from 1, types, data and times as sent, runs mapped in order.
    let mut stream = client
        .trace(pb::TraceRequest { agent_id: imported.agent_id.clone(), ..pb::TraceRequest::default() })
        .await
        .expect("a trace")
        .into_inner();
    let mut replayed = Vec::new();
    while let Some(response) = stream.message().await.expect("a trace message") {
        replayed.push(response.event.expect("an event"));
    }
    assert_eq!(replayed.len(), sent.len());
    for (index, (got, original)) in replayed.iter().zip(&sent).enumerate() {
        assert_eq!(got.seq, index as u64 + 1);
        assert_eq!((&got.r#type, &got.ts), (&original.r#type, &original.ts));
        let data: Value = serde_json::from_str(&got.data).expect("JSON data");
        assert_eq!(data, serde_json::from_str::<Value>(&original.data).expect("JSON data"));
        let run_index = usize::from(original.run_id == "run-b");
        assert_eq!((got.agent_id.as_str(), &got.run_id), (imported.agent_id.as_str(), &imported.run_ids[run_index]));
    }

    // Read-only: a message, and every control of either run.
    let read_only = format!("agent {} is a read-only import of trace.jsonl", imported.agent_id);
    let message = pb::SendMessageRequest {
        agent_id: imported.agent_id.clone(),
        input: "more?".to_owned(),
        ..pb::SendMessageRequest::default()
    };
    assert_status(client.send_message(message).await, Code::FailedPrecondition, &read_only);
    for run_id in &imported.run_ids {
        let run_id = run_id.clone();
        let cancel = pb::CancelRunRequest { run_id: run_id.clone(), reason: String::new() };
        assert_status(client.cancel_run(cancel).await, Code::FailedPrecondition, &read_only);
        let pause = pb::PauseRunRequest { run_id: run_id.clone(), reason: String::new() };
        assert_status(client.pause_run(pause).await, Code::FailedPrecondition, &read_only);
        let resume = pb::ResumeRunRequest { run_id: run_id.clone(), ..pb::ResumeRunRequest::default() };
        assert_status(client.resume_run(resume).await, Code::FailedPrecondition, &read_only);
        let raise = pb::ResumeRunRequest { run_id: run_id.clone(), add_tokens: 100, ..pb::ResumeRunRequest::default() };
        assert_status(client.resume_run(raise).await, Code::FailedPrecondition, &read_only);
        let approve = pb::ApproveRequest {
            run_id,
            tool_call_id: "call-1".to_owned(),
            approved: true,
            ..pb::ApproveRequest::default()
        };
        assert_status(client.approve(approve).await, Code::FailedPrecondition, &read_only);
    }
    let after = client.get_agent(pb::GetAgentRequest { agent_id: imported.agent_id }).await.expect("the agent");
    assert_eq!(after.into_inner().agent.expect("an agent").last_seq, 10, "nothing was appended");
    hub.stop().await;
}

#[tokio::test]
async fn bad_imports_are_invalid_arguments_naming_the_field() {
    let hub = TestHub::start().await;
    let mut client = hub.client.clone();
    let with = |change: &dyn Fn(&mut Vec<pb::ImportedEvent>)| {
        let mut events = go_trace();
        change(&mut events);
        request(events)
    };
    let cases: Vec<(pb::ImportTraceRequest, &str)> = vec![
        (with(&|events| events[1].seq = 3), "events[1].seq: 3 does not follow 3"),
        (with(&|events| events[0].seq = 0), "events[0].seq: is 0"),
        (with(&|events| events[2].data = "\"text\"".to_owned()), "events[2].data: must be a JSON object"),
        (with(&|events| events[3].r#type = "x".repeat(65)), "events[3].type"),
        (with(&|events| events[4].run_id.clear()), "events[4].run_id is empty"),
        (
            with(&|events| events[5].agent_id = "go-agent-2".to_owned()),
            "the trace mixes agents go-agent-1 and go-agent-2",
        ),
        (pb::ImportTraceRequest { source: " ".to_owned(), ..request(go_trace()) }, "source is empty"),
        (
            pb::ImportTraceRequest {
                labels: HashMap::from([("agentry.imported-agent".to_owned(), "x".to_owned())]),
                ..request(go_trace())
            },
            "labels: agentry.imported-agent is set by the import",
        ),
        (pb::ImportTraceRequest { agent_id: "nobody".to_owned(), ..request(go_trace()) }, "agent_id: no event"),
        (request(Vec::new()), "events: the trace has no events"),
        (
            request((1..=MAX_IMPORT_EVENTS as u64 + 1).map(|seq| event(seq, "a", "r", json!({}))).collect()),
            "the limit is 100000 (MAX_IMPORT_EVENTS)",
        ),
    ];
    for (bad, needle) in cases {
        assert_status(client.import_trace(bad).await, Code::InvalidArgument, needle);
    }
    let listed = client.list_agents(pb::ListAgentsRequest::default()).await.expect("agents").into_inner();
    assert!(listed.agents.is_empty(), "nothing was imported: {:?}", listed.agents);

    // With two agents in the trace, one can be picked.
    let mut mixed = go_trace();
    mixed[5].agent_id = "go-agent-2".to_owned();
    let picked = pb::ImportTraceRequest { agent_id: "go-agent-2".to_owned(), ..request(mixed) };
    let imported = client.import_trace(picked).await.expect("imported").into_inner();
    assert_eq!((imported.events, imported.run_ids.len()), (1, 1));
    hub.stop().await;
}
