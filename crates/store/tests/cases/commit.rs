//! Commits: numbering, fencing by epoch, terminal runs, concurrency.

use std::collections::BTreeSet;

use serde_json::json;
use tokio::task::JoinSet;

use agentry_core::{Message, NodeId, RunId, RunStatus, ToolCall, TraceEvent};
use agentry_store::{CommitBatch, Store};

use super::{
    Harness, assert_conflict, assert_not_found, assert_stale, batch, event, placed_run, running_run, step_batch,
};

/// Returns everything observable that a commit could have written for `run`'s agent.
async fn written(store: &dyn Store, run_id: RunId) -> (Vec<TraceEvent>, usize, u64, agentry_core::Run) {
    let run = store.get_run(run_id).await.unwrap();
    let events = store.events_after(run.agent_id, None, 0, 1_000).await.unwrap();
    let agent = store.get_agent(run.agent_id).await.unwrap().agent;
    let messages = store.load_run(run_id, run.epoch).await.unwrap().messages.len();
    (events, messages, agent.last_seq, run)
}

pub async fn commit_appends_events_and_messages(harness: Harness) {
    let store = harness.store;
    let (agent, run) = placed_run(store.as_ref()).await;
    let call = ToolCall { id: "call-1".into(), name: "echo".into(), arguments: "{}".into() };
    let first = CommitBatch {
        events: vec![event("run_started", json!({ "epoch": 1 })), event("step_start", json!({ "step": 1 }))],
        messages: vec![Message::user("hi"), Message::assistant("", vec![call.clone()])],
        status: Some(RunStatus::Running),
        ..batch(&run, 1)
    };
    let outcome = store.commit(first).await.unwrap();
    assert_eq!(outcome.last_seq, 2);
    assert_eq!((outcome.run.status, outcome.run.epoch), (RunStatus::Running, 1));
    assert!(outcome.run.updated_ms >= run.updated_ms);
    assert_eq!(store.get_run(run.id).await.unwrap(), outcome.run);

    let second = CommitBatch {
        events: vec![event("tool_end", json!({ "tool_call_id": "call-1" }))],
        messages: vec![Message::tool_result("call-1", "echoed")],
        ..batch(&run, 1)
    };
    let outcome = store.commit(second).await.unwrap();
    assert_eq!(outcome.last_seq, 3);
    assert_eq!(outcome.run.status, RunStatus::Running, "no status: unchanged");
    assert_eq!(store.get_agent(agent.id).await.unwrap().agent.last_seq, 3);

    let events = store.events_after(agent.id, None, 0, 100).await.unwrap();
    let summary: Vec<(u64, &str)> = events.iter().map(|e| (e.seq, e.kind.as_str())).collect();
    assert_eq!(summary, vec![(1, "run_started"), (2, "step_start"), (3, "tool_end")]);
    assert!(events.iter().all(|e| e.agent_id == agent.id && e.run_id == run.id));
    assert_eq!(events[0].data, json!({ "epoch": 1 }));
    assert_eq!(events[0].ts_ms, 1_700_000_000_000);

    let messages = store.load_run(run.id, 1).await.unwrap().messages;
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1].message.tool_calls, vec![call]);
    assert_eq!(messages[2].index, 2);
    assert_eq!(messages[2].message.tool_call_id.as_deref(), Some("call-1"));

    // An empty commit writes nothing and reports the current last seq.
    let outcome = store.commit(batch(&run, 1)).await.unwrap();
    assert_eq!(outcome.last_seq, 3);
}

pub async fn commit_sets_status_and_error(harness: Harness) {
    let store = harness.store;
    let (_, run) = running_run(store.as_ref()).await;
    let failed =
        CommitBatch { status: Some(RunStatus::Failed), error: Some("model unavailable".into()), ..batch(&run, 1) };
    let outcome = store.commit(failed).await.unwrap();
    assert_eq!(outcome.run.status, RunStatus::Failed);
    assert_eq!(outcome.run.error.as_deref(), Some("model unavailable"));
    assert_eq!(store.get_run(run.id).await.unwrap(), outcome.run);
}

pub async fn commit_with_stale_epoch_writes_nothing(harness: Harness) {
    let store = harness.store;
    let (_, run) = running_run(store.as_ref()).await;
    store.commit(step_batch(&run, 1, 2)).await.unwrap();
    // The hub presumes the node dead and re-places the run: epoch 2.
    store.commit(CommitBatch { status: Some(RunStatus::Queued), ..batch(&run, 1) }).await.unwrap();
    store.assign_run(run.id, NodeId::generate(), 1).await.unwrap();
    let before = written(store.as_ref(), run.id).await;

    let late = CommitBatch { status: Some(RunStatus::Completed), ..step_batch(&run, 1, 3) };
    assert_stale(store.commit(late).await, run.id, 1, 2);
    let ahead = step_batch(&run, 3, 1);
    assert_stale(store.commit(ahead).await, run.id, 3, 2);

    let after = written(store.as_ref(), run.id).await;
    assert_eq!(after, before);
    assert_eq!((before.0.len(), before.1, before.2), (2, 1, 2));
}

pub async fn commit_after_terminal_writes_nothing(harness: Harness) {
    let store = harness.store;
    for terminal in [RunStatus::Completed, RunStatus::Failed, RunStatus::Cancelled] {
        let (_, run) = running_run(store.as_ref()).await;
        let finish = CommitBatch { status: Some(terminal), ..step_batch(&run, 1, 1) };
        store.commit(finish).await.unwrap();
        let before = written(store.as_ref(), run.id).await;

        let more = CommitBatch { status: Some(RunStatus::Running), ..step_batch(&run, 1, 2) };
        assert_conflict(store.commit(more).await, terminal.as_str());

        assert_eq!(written(store.as_ref(), run.id).await, before);
        assert_eq!(before.3.status, terminal);
    }
}

pub async fn commit_to_unknown_run_is_not_found(harness: Harness) {
    let store = harness.store;
    let (_, run) = placed_run(store.as_ref()).await;
    let unknown = CommitBatch { run_id: RunId::generate(), ..step_batch(&run, 1, 1) };
    let unknown_id = unknown.run_id;
    assert_not_found(store.commit(unknown).await, "run", unknown_id);
    assert_eq!(written(store.as_ref(), run.id).await.2, 0);
}

pub async fn concurrent_commits_get_gap_free_seqs(harness: Harness) {
    const TASKS: usize = 8;
    const BATCHES: usize = 25;
    const EVENTS_PER_BATCH: usize = 3;
    let store = harness.store;
    let (agent, run) = running_run(store.as_ref()).await;

    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let store = store.clone();
        let run = run.clone();
        tasks.spawn(async move {
            let mut last_seqs = Vec::new();
            for batch_number in 0..BATCHES {
                let events = (0..EVENTS_PER_BATCH)
                    .map(|position| {
                        event("step_start", json!({ "task": task, "batch": batch_number, "position": position }))
                    })
                    .collect();
                let message = Message::assistant(format!("{task}/{batch_number}"), Vec::new());
                let commit = CommitBatch { events, messages: vec![message], ..batch(&run, 1) };
                last_seqs.push(store.commit(commit).await.unwrap().last_seq);
            }
            last_seqs
        });
    }
    let mut last_seqs = BTreeSet::new();
    while let Some(result) = tasks.join_next().await {
        for last_seq in result.unwrap() {
            assert!(last_seqs.insert(last_seq), "last_seq {last_seq} reported twice");
        }
    }
    let total = TASKS * BATCHES * EVENTS_PER_BATCH;
    let expected: BTreeSet<u64> = (1..=TASKS * BATCHES).map(|n| (n * EVENTS_PER_BATCH) as u64).collect();
    assert_eq!(last_seqs, expected);

    let events = store.events_after(agent.id, None, 0, 10_000).await.unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>());
    // Each batch got consecutive seqs, in its own order.
    for chunk in events.chunks(EVENTS_PER_BATCH) {
        let (task, batch_number) = (&chunk[0].data["task"], &chunk[0].data["batch"]);
        for (position, event) in chunk.iter().enumerate() {
            assert_eq!((&event.data["task"], &event.data["batch"]), (task, batch_number));
            assert_eq!(event.data["position"], json!(position));
        }
    }
    assert_eq!(store.get_agent(agent.id).await.unwrap().agent.last_seq, total as u64);
    let messages = store.load_run(run.id, 1).await.unwrap().messages;
    let indexes: Vec<u64> = messages.iter().map(|stored| stored.index).collect();
    assert_eq!(indexes, (0..(TASKS * BATCHES) as u64).collect::<Vec<_>>());
}

pub async fn retried_commit_is_applied_once(harness: Harness) {
    let store = harness.store;
    let (_, run) = running_run(store.as_ref()).await;
    let step = CommitBatch { commit_id: Some("c-1".into()), ..step_batch(&run, 1, 2) };
    let first = store.commit(step.clone()).await.unwrap();
    // The node lost the answer and retries: answered as applied, nothing written again.
    let retry = store.commit(step.clone()).await.unwrap();
    assert_eq!(retry.last_seq, first.last_seq);
    let context = store.load_run(run.id, 1).await.unwrap();
    assert_eq!(context.messages.len(), 1);
    assert_eq!(store.events_after(run.agent_id, None, 0, 100).await.unwrap().len(), 2);
    // A different commit id is a new commit; the retry of a terminal commit is answered too.
    let finish = CommitBatch { commit_id: Some("c-2".into()), status: Some(RunStatus::Completed), ..batch(&run, 1) };
    store.commit(finish.clone()).await.unwrap();
    assert_eq!(store.commit(finish).await.unwrap().run.status, RunStatus::Completed);
    // An older commit id is not the last one: refused as the run has ended.
    assert!(store.commit(step).await.is_err());
}

/// Many runs committing at once (on PostgreSQL they are written in groups): every commit gets
/// its own answer — applied, stale or refused — and writes exactly its own rows.
pub async fn concurrent_commits_of_many_runs_each_get_their_own_answer(harness: Harness) {
    const RUNS: usize = 24;
    let store = harness.store;
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        runs.push(running_run(store.as_ref()).await);
    }
    let mut tasks = JoinSet::new();
    for (index, (_, run)) in runs.iter().enumerate() {
        let (store, run) = (store.clone(), run.clone());
        tasks.spawn(async move {
            // Every third commit carries a stale epoch, every third after that ends its run.
            let commit = match index % 3 {
                0 => step_batch(&run, 0, 2),
                1 => CommitBatch { status: Some(RunStatus::Completed), ..step_batch(&run, 1, 1 + index % 4) },
                _ => step_batch(&run, 1, 1 + index % 4),
            };
            (index, store.commit(commit).await)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (index, outcome) = joined.unwrap();
        let (agent, run) = &runs[index];
        let events = store.events_after(agent.id, None, 0, 100).await.unwrap();
        if index % 3 == 0 {
            assert_stale(outcome, run.id, 0, 1);
            assert!(events.is_empty(), "a stale commit writes nothing");
            assert_eq!(store.get_run(run.id).await.unwrap(), *run);
            continue;
        }
        let count = 1 + index % 4;
        let outcome = outcome.unwrap();
        assert_eq!(outcome.last_seq, count as u64, "run {index}");
        assert!(!outcome.replayed);
        let expected_status = if index % 3 == 1 { RunStatus::Completed } else { RunStatus::Running };
        assert_eq!(outcome.run.status, expected_status);
        assert_eq!(events.iter().map(|event| event.seq).collect::<Vec<_>>(), (1..=count as u64).collect::<Vec<_>>());
        assert!(events.iter().all(|event| event.run_id == run.id && event.kind == "step_start"));
        let positions: Vec<u64> = events.iter().map(|event| event.data["step"].as_u64().unwrap()).collect();
        assert_eq!(positions, (0..count as u64).collect::<Vec<_>>(), "events keep their order");
        let context = store.load_run(run.id, 1).await.unwrap();
        assert_eq!(context.messages.len(), 1);
        assert_eq!(context.messages[0].index, 0);
    }
}
