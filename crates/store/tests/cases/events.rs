//! Reading trace events back.

use serde_json::json;

use agentry_core::{NodeId, RunStatus};
use agentry_store::CommitBatch;

use super::{Harness, batch, event, new_run, running_run, step_batch};

/// Creates an agent whose first run wrote seqs 1..=4 and whose second run wrote 5..=7, plus
/// another agent with events of its own. Returns (agent id, first run id, second run id).
async fn two_runs(harness: &Harness) -> (agentry_core::AgentId, agentry_core::RunId, agentry_core::RunId) {
    let store = harness.store.as_ref();
    let (agent, first) = running_run(store).await;
    let finish = CommitBatch { status: Some(RunStatus::Completed), ..step_batch(&first, 1, 4) };
    store.commit(finish).await.unwrap();
    let second = store.create_run(agent.id, new_run("again")).await.unwrap();
    let second = store.assign_run(second.id, NodeId::generate(), 0).await.unwrap();
    store.commit(step_batch(&second, 1, 3)).await.unwrap();
    let (_, other) = running_run(store).await;
    store.commit(step_batch(&other, 1, 5)).await.unwrap();
    (agent.id, first.id, second.id)
}

pub async fn events_after_returns_exactly_later_events(harness: Harness) {
    let (agent_id, _, _) = two_runs(&harness).await;
    let store = harness.store;
    for after in 0..=8 {
        let events = store.events_after(agent_id, None, after, 100).await.unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (after + 1..=7).collect::<Vec<_>>(), "after {after}");
        assert!(events.iter().all(|e| e.agent_id == agent_id));
    }
    assert!(store.events_after(agent_id, None, u64::MAX, 100).await.unwrap().is_empty());

    // A known agent without events has an empty trace, not an error.
    let (quiet, _) = store.create_agent(super::new_agent(), None).await.unwrap();
    assert!(store.events_after(quiet.id, None, 0, 100).await.unwrap().is_empty());
}

pub async fn events_after_filters_by_run(harness: Harness) {
    let (agent_id, first, second) = two_runs(&harness).await;
    let store = harness.store;
    let of_run =
        |events: Vec<agentry_core::TraceEvent>| events.into_iter().map(|e| (e.seq, e.run_id)).collect::<Vec<_>>();
    let first_events = store.events_after(agent_id, Some(first), 0, 100).await.unwrap();
    assert_eq!(of_run(first_events), (1..=4).map(|seq| (seq, first)).collect::<Vec<_>>());
    let second_events = store.events_after(agent_id, Some(second), 2, 100).await.unwrap();
    assert_eq!(of_run(second_events), (5..=7).map(|seq| (seq, second)).collect::<Vec<_>>());
    let second_late = store.events_after(agent_id, Some(second), 5, 100).await.unwrap();
    assert_eq!(of_run(second_late), vec![(6, second), (7, second)]);
    assert!(store.events_after(agent_id, Some(first), 4, 100).await.unwrap().is_empty());
}

pub async fn events_after_respects_limit(harness: Harness) {
    let (agent_id, _, second) = two_runs(&harness).await;
    let store = harness.store;
    let seqs = |events: Vec<agentry_core::TraceEvent>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(store.events_after(agent_id, None, 0, 3).await.unwrap()), vec![1, 2, 3]);
    assert_eq!(seqs(store.events_after(agent_id, None, 3, 2).await.unwrap()), vec![4, 5]);
    assert_eq!(seqs(store.events_after(agent_id, Some(second), 0, 2).await.unwrap()), vec![5, 6]);
    assert!(store.events_after(agent_id, None, 0, 0).await.unwrap().is_empty());
    // Data round-trips as JSON.
    let run = store.get_run(second).await.unwrap();
    let tagged =
        CommitBatch { events: vec![event("final", json!({ "content": "done", "n": [1, 2] }))], ..batch(&run, 1) };
    let last_seq = store.commit(tagged).await.unwrap().last_seq;
    let last = store.events_after(agent_id, None, last_seq - 1, 10).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!((last[0].seq, last[0].kind.as_str()), (8, "final"));
    assert_eq!(last[0].data, json!({ "content": "done", "n": [1, 2] }));
}
