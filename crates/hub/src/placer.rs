//! The placer task: assigns unplaced runs to nodes and publishes their tasks.
//!
//! Safe with several hub replicas: [`agentry_store::Store::assign_runs`] is a compare-and-set
//! on each run's epoch, so only one replica's assignment of a run wins; the loser skips it.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use agentry_broker::Task;
use agentry_core::{NodeId, Run, RunStatus, clock};

use crate::hub::Hub;
use crate::scheduler::{NodeView, PlacementRequest, SchedulerState, place};

/// Most runs placed per pass.
const PLACEMENT_BATCH: u32 = 256;

/// Runs placement passes until `shutdown`: on every wake-up and at least every
/// `placement_interval`.
pub async fn run_placer(hub: Hub, shutdown: CancellationToken) {
    let mut state = SchedulerState::default();
    loop {
        match placement_pass(&hub, &mut state).await {
            Ok(placed) if placed == PLACEMENT_BATCH as usize => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "placement pass failed; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = hub.placement_wakeup.notified() => {}
            _ = tokio::time::sleep(hub.config.placement_interval) => {}
        }
    }
}

/// Places what can be placed now; returns how many runs were assigned. Runs that cannot be
/// placed keep waiting with the reason recorded (shown by `agentry ps`), written only when it
/// changes.
///
/// One pass is a fixed number of round trips whatever the number of runs: the placeable runs,
/// the node loads and the nodes are read (3 queries), every decision is taken in memory, the
/// assignments are written together ([`agentry_store::Store::assign_runs`], one statement on
/// PostgreSQL), and the tasks are published together, their acknowledgements awaited at once.
async fn placement_pass(hub: &Hub, state: &mut SchedulerState) -> crate::error::Result<usize> {
    let runs = hub.store.placeable_runs(PLACEMENT_BATCH).await?;
    if runs.is_empty() {
        return Ok(0);
    }
    let now_ms = clock::now_ms();
    let lease_ttl_ms = hub.config.lease_ttl.as_millis() as i64;
    let loads: HashMap<NodeId, u32> = hub.store.node_loads().await?.into_iter().collect();
    let mut nodes: Vec<NodeView> = hub
        .store
        .list_nodes()
        .await?
        .iter()
        .map(|node| NodeView::of(node, loads.get(&node.id).copied().unwrap_or(0), now_ms, lease_ttl_ms))
        .collect();
    let mut assignments = Vec::new();
    for candidate in runs {
        let run = candidate.run;
        let request =
            PlacementRequest { node_selector: candidate.node_selector, preferred_node: candidate.previous_node };
        match place(hub.config.scheduler, &request, &nodes, state) {
            Ok(node_id) => {
                if let Some(view) = nodes.iter_mut().find(|view| view.id == node_id) {
                    view.load += 1;
                }
                assignments.push((run.id, node_id, run.epoch));
            }
            Err(reason) => {
                let reason = reason.to_string();
                if run.wait_reason.as_deref() != Some(reason.as_str()) {
                    tracing::info!(run_id = %run.id, %reason, "run waits");
                    hub.store.set_wait_reason(run.id, run.epoch, Some(reason)).await?;
                }
            }
        }
    }
    // Runs missing from the answer were placed by another hub replica first, or changed.
    let assigned = hub.store.assign_runs(&assignments).await?;
    publish_tasks(hub, &assigned).await
}

/// Publishes the tasks of freshly assigned runs, all at once; returns how many were published.
/// A run whose task could not be published is unassigned so that it is placed again.
async fn publish_tasks(hub: &Hub, assigned: &[Run]) -> crate::error::Result<usize> {
    // An assigned run always has a node (`assign_runs` sets it); the filter only keeps the
    // pairing explicit.
    let placed: Vec<(&Run, NodeId)> =
        assigned.iter().filter_map(|run| run.node_id.map(|node_id| (run, node_id))).collect();
    let published = futures::future::join_all(placed.iter().map(|&(run, node_id)| async move {
        debug_assert_eq!(run.status, RunStatus::Queued);
        let task = Task { run_id: run.id, agent_id: run.agent_id, epoch: run.epoch, trace_parent: run.trace_parent };
        hub.queue.publish(node_id, &task).await
    }))
    .await;
    let mut first_error = None;
    for (&(run, node_id), outcome) in placed.iter().zip(published) {
        match outcome {
            Ok(()) => tracing::info!(run_id = %run.id, %node_id, epoch = run.epoch, "run placed"),
            Err(error) => {
                tracing::warn!(%error, run_id = %run.id, "task not published; the run will be placed again");
                hub.store.unassign_run(run.id, run.epoch).await?;
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error.into()),
        None => Ok(placed.len()),
    }
}
