//! Lifecycle changes made by the hub: runs taken back from nodes, operator controls, lease
//! revocation, node expiry, leadership.

use agentry_core::{NodeState, RunStatus};
use agentry_store::{CommitBatch, ReleaseScope, RunControl};

use super::{
    Harness, assert_conflict, assert_not_found, assert_stale, batch, event, node, placed_run, running_run, step_batch,
};

pub async fn release_all_takes_running_runs_and_records_the_move(harness: Harness) {
    let store = harness.store;
    let (_, running) = running_run(store.as_ref()).await;
    let from = running.node_id.unwrap();
    store.commit(step_batch(&running, 1, 2)).await.unwrap();

    let released = store.release_node_runs(from, ReleaseScope::All, "lease expired").await.unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!((released[0].status, released[0].node_id, released[0].epoch), (RunStatus::Queued, None, 2));
    // The old executor is fenced; the run is placeable again and keeps its conversation.
    assert_stale(store.commit(step_batch(&running, 1, 1)).await, running.id, 1, 2);
    assert_eq!(store.placeable_runs(10).await.unwrap()[0].run.id, running.id);
    let events = store.events_after(running.agent_id, None, 0, 100).await.unwrap();
    let moved = events.last().unwrap();
    assert_eq!((moved.kind.as_str(), moved.seq), ("run_moved", 3));
    assert_eq!(moved.data["from_node_id"], from.to_string());
    assert_eq!((moved.data["reason"].as_str(), moved.data["epoch"].as_u64()), (Some("lease expired"), Some(2)));
    let resumed = store.assign_run(running.id, agentry_core::NodeId::generate(), 2).await.unwrap();
    assert_eq!(store.load_run(resumed.id, 3).await.unwrap().messages.len(), 1);
}

pub async fn cancel_fences_the_node_and_ends_the_run(harness: Harness) {
    let store = harness.store;
    let (_, running) = running_run(store.as_ref()).await;
    let cancelled = store.control_run(running.id, RunControl::Cancel { reason: "no longer needed".into() }).await;
    let cancelled = cancelled.unwrap();
    assert_eq!((cancelled.status, cancelled.epoch), (RunStatus::Cancelled, 2));
    assert_eq!(cancelled.error.as_deref(), Some("no longer needed"));
    assert!(store.active_runs(running.agent_id).await.unwrap().is_empty());
    assert_stale(store.commit(step_batch(&running, 1, 1)).await, running.id, 1, 2);
    let events = store.events_after(running.agent_id, None, 0, 10).await.unwrap();
    assert_eq!(events.last().unwrap().kind, "run_cancelled");
    assert_eq!(events.last().unwrap().data["reason"], "no longer needed");
}

pub async fn pause_and_resume_keep_the_conversation(harness: Harness) {
    let store = harness.store;
    let (_, running) = running_run(store.as_ref()).await;
    store.commit(step_batch(&running, 1, 1)).await.unwrap();
    let paused = store.control_run(running.id, RunControl::Pause { reason: "operator".into() }).await.unwrap();
    assert_eq!((paused.status, paused.node_id, paused.epoch), (RunStatus::Paused, None, 2));
    assert_eq!(paused.wait_reason.as_deref(), Some("paused: operator"));
    assert!(store.placeable_runs(10).await.unwrap().is_empty(), "a paused run is not placed");
    assert_eq!(store.active_runs(running.agent_id).await.unwrap(), vec![paused.clone()]);
    assert_stale(store.commit(step_batch(&running, 1, 1)).await, running.id, 1, 2);

    let resumed = store.control_run(running.id, RunControl::Resume).await.unwrap();
    assert_eq!((resumed.status, resumed.node_id, resumed.wait_reason), (RunStatus::Queued, None, None));
    assert_eq!(store.placeable_runs(10).await.unwrap()[0].run.id, running.id);
    let kinds: Vec<String> =
        store.events_after(running.agent_id, None, 0, 10).await.unwrap().into_iter().map(|event| event.kind).collect();
    assert_eq!(kinds, ["step_start", "run_paused", "run_resumed"]);
    let placed = store.assign_run(running.id, agentry_core::NodeId::generate(), 2).await.unwrap();
    assert_eq!(store.load_run(placed.id, 3).await.unwrap().messages.len(), 1);
}

pub async fn controls_refuse_what_the_status_forbids(harness: Harness) {
    let store = harness.store;
    let (_, placed) = placed_run(store.as_ref()).await;
    assert_conflict(store.control_run(placed.id, RunControl::Resume).await, "not paused");
    store.commit(CommitBatch { status: Some(RunStatus::Completed), ..batch(&placed, 1) }).await.unwrap();
    assert_conflict(store.control_run(placed.id, RunControl::Cancel { reason: "x".into() }).await, "is completed");
    assert_conflict(store.control_run(placed.id, RunControl::Pause { reason: "x".into() }).await, "is completed");
    let unknown = agentry_core::RunId::generate();
    assert_not_found(store.control_run(unknown, RunControl::Resume).await, "run", unknown);
    // Nothing was written by the refusals.
    assert!(store.events_after(placed.agent_id, None, 0, 10).await.unwrap().is_empty());
}

pub async fn revoked_runs_names_the_runs_no_longer_owned(harness: Harness) {
    let store = harness.store;
    let (_, kept) = running_run(store.as_ref()).await;
    let (_, cancelled) = running_run(store.as_ref()).await;
    store.control_run(cancelled.id, RunControl::Cancel { reason: "stop".into() }).await.unwrap();
    let unknown = agentry_core::RunId::generate();
    let node = kept.node_id.unwrap();
    let leases = [(kept.id, 1), (cancelled.id, 1), (unknown, 1)];
    assert_eq!(store.revoked_runs(node, &leases).await.unwrap(), vec![cancelled.id, unknown]);
    assert_eq!(store.revoked_runs(node, &[(kept.id, 0)]).await.unwrap(), vec![kept.id], "an older epoch is revoked");
}

pub async fn expired_nodes_become_dead_and_are_refused(harness: Harness) {
    let store = harness.store;
    let (old, fresh) = (node("old"), node("fresh"));
    store.register_node(old.clone()).await.unwrap();
    store.register_node(fresh.clone()).await.unwrap();
    store.heartbeat(fresh.id, 0, 2_000).await.unwrap();
    store.heartbeat(old.id, 0, 1_000).await.unwrap();

    let expired = store.expire_nodes(1_500).await.unwrap();
    assert_eq!(expired.iter().map(|node| (node.id, node.state)).collect::<Vec<_>>(), [(old.id, NodeState::Dead)]);
    assert!(store.expire_nodes(1_500).await.unwrap().is_empty(), "a dead node expires once");
    assert_conflict(store.heartbeat(old.id, 0, 3_000).await, "is dead");
    assert_conflict(store.set_node_state(old.id, NodeState::Ready).await, "joins under a new id");
    let left = store.set_node_state(fresh.id, NodeState::Left).await.unwrap();
    assert_eq!(left.state, NodeState::Left);
    assert!(store.expire_nodes(i64::MAX).await.unwrap().is_empty(), "a node that left never expires");
}

pub async fn load_run_lists_started_tool_calls(harness: Harness) {
    let store = harness.store;
    let (_, running) = running_run(store.as_ref()).await;
    let start = |id: &str| event("tool_start", serde_json::json!({ "step": 1, "tool_call_id": id, "name": "echo" }));
    let events = vec![start("a"), event("tool_end", serde_json::json!({ "tool_call_id": "a" })), start("b")];
    store.commit(CommitBatch { events, ..batch(&running, 1) }).await.unwrap();
    let context = store.load_run(running.id, 1).await.unwrap();
    assert_eq!(context.started_tool_call_ids, ["a", "b"]);
}

pub async fn leadership_is_granted(harness: Harness) {
    let store = harness.store;
    let mut leadership = store.try_lead().await.unwrap().expect("the only hub leads");
    assert!(leadership.still_leading().await);
}
