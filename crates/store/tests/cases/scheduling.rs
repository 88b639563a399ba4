//! What the scheduler reads and writes: placement inputs, node loads, wait reasons, node
//! states and taking runs back from a node.

use std::collections::BTreeMap;

use agentry_core::{NodeId, NodeState, RunStatus};
use agentry_store::{CommitBatch, NewAgent, ReleaseScope};

use super::{Harness, assert_not_found, assert_stale, batch, new_agent, new_run, node, placed_run, running_run, spec};

pub async fn placeable_runs_carry_selector_and_previous_node(harness: Harness) {
    let store = harness.store;
    let mut selective = spec();
    selective.node_selector = BTreeMap::from([("gpu".to_owned(), "a100".to_owned())]);
    let agent = NewAgent { spec: selective, ..new_agent() };
    let (agent, first) = store.create_agent(agent, Some(new_run("one"))).await.unwrap();
    let first = first.unwrap();
    let placeable = store.placeable_runs(10).await.unwrap();
    assert_eq!(placeable.len(), 1);
    assert_eq!(placeable[0].node_selector.get("gpu").map(String::as_str), Some("a100"));
    assert_eq!(placeable[0].previous_node, None, "a first run has no previous node");

    let warm = NodeId::generate();
    let placed = store.assign_run(first.id, warm, 0).await.unwrap();
    store.commit(CommitBatch { status: Some(RunStatus::Completed), ..batch(&placed, placed.epoch) }).await.unwrap();
    let second = store.create_run(agent.id, new_run("two")).await.unwrap();
    let placeable = store.placeable_runs(10).await.unwrap();
    assert_eq!(placeable.iter().map(|candidate| candidate.run.id).collect::<Vec<_>>(), vec![second.id]);
    assert_eq!(placeable[0].previous_node, Some(warm), "the agent's previous node, for stickiness");
}

pub async fn wait_reason_is_kept_until_placement(harness: Harness) {
    let store = harness.store;
    let (agent, run) = store.create_agent(new_agent(), Some(new_run("x"))).await.unwrap();
    let run = run.unwrap();
    store.set_wait_reason(run.id, 0, Some("no node has free slots".into())).await.unwrap();
    assert_eq!(store.get_run(run.id).await.unwrap().wait_reason.as_deref(), Some("no node has free slots"));
    let summary = store.get_agent(agent.id).await.unwrap();
    assert_eq!(summary.latest_run.unwrap().wait_reason.as_deref(), Some("no node has free slots"));

    // A stale epoch does nothing; placement clears the reason.
    store.set_wait_reason(run.id, 7, Some("stale".into())).await.unwrap();
    assert_eq!(store.get_run(run.id).await.unwrap().wait_reason.as_deref(), Some("no node has free slots"));
    let placed = store.assign_run(run.id, NodeId::generate(), 0).await.unwrap();
    assert_eq!(placed.wait_reason, None);
    // A placed run does not wait: setting a reason is a no-op.
    store.set_wait_reason(run.id, placed.epoch, Some("late".into())).await.unwrap();
    assert_eq!(store.get_run(run.id).await.unwrap().wait_reason, None);
}

pub async fn node_loads_count_placed_running_and_paused(harness: Harness) {
    let store = harness.store;
    let (_, placed) = placed_run(store.as_ref()).await;
    let (_, running) = running_run(store.as_ref()).await;
    let node = placed.node_id.unwrap();
    // A second run on the placed run's node, and a finished one that no longer counts.
    let (_, extra) = store.create_agent(new_agent(), Some(new_run("y"))).await.unwrap();
    store.assign_run(extra.unwrap().id, node, 0).await.unwrap();
    let (_, done) = running_run(store.as_ref()).await;
    store.commit(CommitBatch { status: Some(RunStatus::Completed), ..batch(&done, done.epoch) }).await.unwrap();

    let mut loads = store.node_loads().await.unwrap();
    loads.sort();
    let mut expected = vec![(node, 2), (running.node_id.unwrap(), 1)];
    expected.sort();
    assert_eq!(loads, expected);
}

pub async fn release_node_runs_takes_back_unstarted_runs(harness: Harness) {
    let store = harness.store;
    let (_, placed) = placed_run(store.as_ref()).await;
    let node = placed.node_id.unwrap();
    let (_, started) = store.create_agent(new_agent(), Some(new_run("z"))).await.unwrap();
    let started = store.assign_run(started.unwrap().id, node, 0).await.unwrap();
    store.commit(CommitBatch { status: Some(RunStatus::Running), ..batch(&started, started.epoch) }).await.unwrap();

    let released = store.release_node_runs(node, ReleaseScope::Unstarted, "node drained").await.unwrap();
    assert_eq!(released.iter().map(|run| run.id).collect::<Vec<_>>(), vec![placed.id]);
    assert_eq!((released[0].node_id, released[0].epoch, released[0].status), (None, 2, RunStatus::Queued));
    // The task published for epoch 1 is now refused; the running run stays with its node.
    assert_stale(store.load_run(placed.id, 1).await, placed.id, 1, 2);
    assert_eq!(store.get_run(started.id).await.unwrap().node_id, Some(node));
    assert_eq!(store.placeable_runs(10).await.unwrap()[0].run.id, placed.id);
    assert!(store.release_node_runs(node, ReleaseScope::Unstarted, "again").await.unwrap().is_empty());
    let moved = store.events_after(placed.agent_id, Some(placed.id), 0, 10).await.unwrap();
    assert_eq!(moved.last().unwrap().kind, "run_moved");
    assert_eq!(moved.last().unwrap().data["reason"], "node drained");
}

pub async fn set_node_state_changes_membership(harness: Harness) {
    let store = harness.store;
    let member = node("n1");
    store.register_node(member.clone()).await.unwrap();
    let drained = store.set_node_state(member.id, NodeState::Draining).await.unwrap();
    assert_eq!(drained.state, NodeState::Draining);
    assert_eq!(store.list_nodes().await.unwrap()[0].state, NodeState::Draining);
    let unknown = NodeId::generate();
    assert_not_found(store.set_node_state(unknown, NodeState::Ready).await, "node", unknown);
}
