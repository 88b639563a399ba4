//! Imported traces: a read-only agent with ended runs and renumbered events, written at once.

use std::collections::BTreeMap;

use serde_json::json;

use agentry_core::approval::ApprovalDecision;
use agentry_core::{AgentId, EventDraft, RunId, RunStatus};
use agentry_store::{AgentQuery, ImportedRun, RunControl, TraceImport};

use super::{Harness, assert_conflict, spec};

/// Events of the long first run: more than one multi-row `INSERT` holds.
const LONG_RUN_EVENTS: usize = 2_345;

fn ended_run(status: RunStatus, error: Option<&str>, created_ms: i64) -> ImportedRun {
    ImportedRun {
        id: RunId::generate(),
        input: String::new(),
        status,
        error: error.map(str::to_owned),
        created_ms,
        updated_ms: created_ms + 10,
    }
}

fn draft(kind: &str, data: serde_json::Value, ts_ms: i64) -> EventDraft {
    EventDraft { kind: kind.to_owned(), data, ts_ms, trace: None }
}

/// Returns an import of three ended runs (completed with many events, failed, cancelled) whose
/// events interleave the last two, as a trace may.
fn three_runs() -> TraceImport {
    let runs = vec![
        ended_run(RunStatus::Completed, None, 1_000),
        ended_run(RunStatus::Failed, Some("model: 500"), 2_000),
        ended_run(RunStatus::Cancelled, Some("too slow"), 3_000),
    ];
    let mut events = vec![(runs[0].id, draft("run_started", json!({ "node_id": "n1", "epoch": 1 }), 1_000))];
    events
        .extend((0..LONG_RUN_EVENTS - 2).map(|step| (runs[0].id, draft("step_start", json!({ "step": step }), 1_001))));
    events.push((runs[0].id, draft("run_finished", json!({ "steps": 3 }), 1_010)));
    events.push((runs[1].id, draft("run_started", json!({}), 2_000)));
    events.push((runs[2].id, draft("run_started", json!({}), 3_000)));
    events.push((runs[1].id, draft("run_failed", json!({ "error": "model: 500" }), 2_010)));
    events.push((runs[2].id, draft("run_cancelled", json!({ "reason": "too slow" }), 3_010)));
    let mut labels = BTreeMap::from([("team".to_owned(), "search".to_owned())]);
    labels.insert("agentry.imported-from".to_owned(), "trace.jsonl".to_owned());
    TraceImport {
        agent_id: AgentId::generate(),
        spec: agentry_core::AgentSpec { model: "openai:gpt-4o-mini".into(), ..spec() },
        labels,
        source: "trace.jsonl".to_owned(),
        runs,
        events,
        tenant: agentry_core::DEFAULT_TENANT.to_owned(),
    }
}

pub async fn import_writes_ended_runs_and_renumbered_events(harness: Harness) {
    let store = harness.store;
    let import = three_runs();
    let expected_events = import.events.clone();
    let run_ids: Vec<RunId> = import.runs.iter().map(|run| run.id).collect();
    let (agent, runs) = store.import_trace(import.clone()).await.unwrap();
    assert_eq!(agent.id, import.agent_id);
    assert_eq!(agent.imported_from.as_deref(), Some("trace.jsonl"));
    assert_eq!(agent.last_seq, expected_events.len() as u64);
    assert_eq!(runs.iter().map(|run| run.id).collect::<Vec<_>>(), run_ids);

    // What readers see: the agent with its read-only mark, labels and latest run.
    let summary = store.get_agent(agent.id).await.unwrap();
    assert_eq!(summary.agent.imported_from.as_deref(), Some("trace.jsonl"));
    assert_eq!(summary.agent.labels, import.labels);
    assert_eq!(summary.agent.spec.model, "openai:gpt-4o-mini");
    assert_eq!(
        summary.agent.read_only_reason(),
        Some(format!("agent {} is a read-only import of trace.jsonl", agent.id))
    );
    assert_eq!(summary.latest_run.map(|run| run.id), Some(run_ids[2]));
    let listed = store.list_agents(&AgentQuery::newest(10)).await.unwrap();
    assert_eq!(listed[0].agent.imported_from.as_deref(), Some("trace.jsonl"));

    let statuses = [
        (RunStatus::Completed, None),
        (RunStatus::Failed, Some("model: 500")),
        (RunStatus::Cancelled, Some("too slow")),
    ];
    for (run_id, (status, error)) in run_ids.iter().zip(statuses) {
        let run = store.get_run(*run_id).await.unwrap();
        assert_eq!((run.status, run.error.as_deref(), run.epoch, run.node_id), (status, error, 0, None));
        assert_eq!(run.agent_id, agent.id);
    }
    // Never placeable, nothing active.
    assert!(store.placeable_runs(100).await.unwrap().iter().all(|placeable| placeable.run.agent_id != agent.id));
    assert!(store.active_runs(agent.id).await.unwrap().is_empty());

    // Every event, in order, numbered gap-free from 1, with its run, type, data and time.
    let mut stored = Vec::new();
    while stored.len() < expected_events.len() {
        let page = store.events_after(agent.id, None, stored.len() as u64, 1000).await.unwrap();
        assert!(!page.is_empty(), "events end at {}", stored.len());
        stored.extend(page);
    }
    assert_eq!(stored.len(), expected_events.len());
    for (index, (event, (run_id, expected))) in stored.iter().zip(&expected_events).enumerate() {
        assert_eq!(event.seq, index as u64 + 1);
        assert_eq!(
            (event.run_id, &event.kind, &event.data, event.ts_ms),
            (*run_id, &expected.kind, &expected.data, expected.ts_ms)
        );
    }
    let of_failed = store.events_after(agent.id, Some(run_ids[1]), 0, 10).await.unwrap();
    let seqs: Vec<u64> = of_failed.iter().map(|event| event.seq).collect();
    let total = expected_events.len() as u64;
    assert_eq!(seqs, vec![total - 3, total - 1]);
    // No conversation is rebuilt.
    assert!(store.load_run(run_ids[0], 0).await.unwrap().messages.is_empty());
}

pub async fn imported_runs_refuse_every_control_naming_the_import(harness: Harness) {
    let store = harness.store;
    let (agent, runs) = store.import_trace(three_runs()).await.unwrap();
    let read_only = format!("agent {} is a read-only import of trace.jsonl", agent.id);
    let decision = ApprovalDecision {
        tool_call_id: "c1".into(),
        approved: true,
        actor: "alice".into(),
        reason: String::new(),
        decided_ms: 1,
    };
    for run in &runs {
        for control in [
            RunControl::Cancel { reason: "stop".into() },
            RunControl::Pause { reason: "wait".into() },
            RunControl::Resume,
            RunControl::Decide(decision.clone()),
        ] {
            assert_conflict(store.control_run(run.id, control).await, &read_only);
        }
        assert_eq!(store.get_run(run.id).await.unwrap().status, run.status, "unchanged");
    }
    assert_eq!(store.get_agent(agent.id).await.unwrap().agent.last_seq, agent.last_seq, "no event appended");

    // A live agent's ended run is still refused for its status.
    let (_, live) = super::running_run(store.as_ref()).await;
    store.control_run(live.id, RunControl::Cancel { reason: "done".into() }).await.unwrap();
    assert_conflict(
        store.control_run(live.id, RunControl::Cancel { reason: "again".into() }).await,
        "cannot be cancelled",
    );
}

pub async fn import_refuses_unended_runs_and_unknown_runs(harness: Harness) {
    let store = harness.store;
    let mut running = three_runs();
    running.runs[1].status = RunStatus::Running;
    assert_conflict(store.import_trace(running.clone()).await, "must have ended");
    let mut stray = three_runs();
    let unknown = RunId::generate();
    stray.events.push((unknown, draft("final", json!({ "content": "?" }), 4_000)));
    assert_conflict(store.import_trace(stray).await, &format!("names run {unknown}"));
    super::assert_not_found(store.get_agent(running.agent_id).await, "agent", running.agent_id);
    assert!(store.list_agents(&AgentQuery::newest(10)).await.unwrap().is_empty(), "nothing written");
}

pub async fn imported_model_calls_stay_out_of_the_cost_report(harness: Harness) {
    let store = harness.store;
    let mut import = three_runs();
    let usage = json!({ "model": "imported-model", "prompt_tokens": 100, "completion_tokens": 10, "cost_usd": 1.5 });
    import.events.push((import.runs[0].id, draft("usage", usage, 1_005)));
    store.import_trace(import).await.expect("imported");
    let rows = store.cost_report(agentry_store::CostGrouping::Model, None, None, None).await.expect("cost report");
    assert!(rows.iter().all(|row| row.key != "imported-model"), "{rows:?}");
}
