//! The reaper's safety net for tasks lost between an assignment and its publication: stale
//! assignments are found, running runs are counted per node, and taking one back fences the
//! task published for it.

use agentry_core::{NodeId, RunId, RunStatus};
use agentry_store::CommitBatch;

use super::{Harness, assert_not_found, assert_stale, batch, new_agent, new_run, placed_run, running_run};

pub async fn stale_assignments_are_queued_runs_assigned_before_the_cutoff(harness: Harness) {
    let store = harness.store;
    let (_, oldest) = placed_run(store.as_ref()).await;
    let (_, newer) = placed_run(store.as_ref()).await;
    let (_, unplaced) = store.create_agent(new_agent(), Some(new_run("unplaced"))).await.unwrap();
    let unplaced = unplaced.unwrap();
    let (_, running) = running_run(store.as_ref()).await;
    let ids = |runs: Vec<agentry_core::Run>| runs.into_iter().map(|run| run.id).collect::<Vec<RunId>>();
    let after_all =
        [oldest.updated_ms, newer.updated_ms, unplaced.updated_ms, running.updated_ms].into_iter().max().unwrap() + 1;

    // Only assigned, unstarted runs: not the unplaced one, not the running one; oldest first.
    let stale = store.stale_assignments(after_all, 10).await.unwrap();
    assert_eq!(ids(stale.clone()), vec![oldest.id, newer.id]);
    assert_eq!(stale[0], oldest, "the runs are returned as stored");
    assert_eq!(ids(store.stale_assignments(after_all, 1).await.unwrap()), vec![oldest.id]);

    // The cutoff is exclusive: an assignment made at (or after) it is fresh.
    let at_oldest = store.stale_assignments(oldest.updated_ms, 10).await.unwrap();
    assert!(!ids(at_oldest).contains(&oldest.id), "an assignment at the cutoff is not stale");
    assert!(ids(store.stale_assignments(oldest.updated_ms + 1, 10).await.unwrap()).contains(&oldest.id));

    // Unassigned (the placer's own recovery when a publish fails): placeable again, not stale.
    store.unassign_run(oldest.id, oldest.epoch).await.unwrap();
    assert_eq!(ids(store.stale_assignments(i64::MAX, 10).await.unwrap()), vec![newer.id]);
    let placeable: Vec<RunId> = store.placeable_runs(10).await.unwrap().into_iter().map(|row| row.run.id).collect();
    assert!(placeable.contains(&oldest.id), "{placeable:?}");

    // Started by its node: no longer a candidate, and counted among the node's running runs.
    let node = newer.node_id.expect("an assigned run");
    let running_on = |loads: Vec<(NodeId, u32)>| loads.into_iter().find(|(id, _)| *id == node).map(|(_, n)| n);
    assert_eq!(running_on(store.running_loads().await.unwrap()), None, "a queued run is not running");
    let started = CommitBatch { status: Some(RunStatus::Running), ..batch(&newer, newer.epoch) };
    store.commit(started).await.unwrap();
    assert!(store.stale_assignments(i64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(running_on(store.running_loads().await.unwrap()), Some(1));
    let running_node = running.node_id.expect("a running run has a node");
    assert!(store.running_loads().await.unwrap().contains(&(running_node, 1)), "the other running run's node");
}

pub async fn revoking_an_assignment_fences_its_task_and_frees_the_run(harness: Harness) {
    let store = harness.store;
    let (_, placed) = placed_run(store.as_ref()).await;
    let unknown = RunId::generate();
    assert_not_found(store.revoke_assignment(unknown, 1).await, "run", unknown);

    // A stale epoch is a no-op.
    assert_eq!(store.revoke_assignment(placed.id, 0).await.unwrap(), None);
    assert_eq!(store.get_run(placed.id).await.unwrap(), placed);

    // At its epoch: unplaced, epoch bumped, so the task published for epoch 1 is refused.
    let revoked = store.revoke_assignment(placed.id, 1).await.unwrap().expect("the run is taken back");
    assert_eq!((revoked.node_id, revoked.epoch, revoked.status), (None, 2, RunStatus::Queued));
    assert_eq!(store.get_run(placed.id).await.unwrap(), revoked);
    assert_stale(store.load_run(placed.id, 1).await, placed.id, 1, 2);
    assert_stale(
        store.commit(CommitBatch { status: Some(RunStatus::Running), ..batch(&placed, 1) }).await,
        placed.id,
        1,
        2,
    );
    assert!(store.stale_assignments(i64::MAX, 10).await.unwrap().is_empty());
    let placeable = store.placeable_runs(10).await.unwrap();
    assert_eq!(placeable.iter().map(|row| (row.run.id, row.run.epoch)).collect::<Vec<_>>(), vec![(placed.id, 2)]);
    // An unplaced run has nothing to revoke.
    assert_eq!(store.revoke_assignment(placed.id, 2).await.unwrap(), None);

    // Placed again (epoch 3) and started by its node meanwhile: left alone.
    let node = NodeId::generate();
    let again = store.assign_run(placed.id, node, 2).await.unwrap();
    store.commit(CommitBatch { status: Some(RunStatus::Running), ..batch(&again, 3) }).await.unwrap();
    assert_eq!(store.revoke_assignment(placed.id, 3).await.unwrap(), None);
    let running = store.get_run(placed.id).await.unwrap();
    assert_eq!((running.node_id, running.epoch, running.status), (Some(node), 3, RunStatus::Running));
}
