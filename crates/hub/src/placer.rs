//! The placer task: assigns unplaced runs to nodes and publishes their tasks.
//!
//! Safe with several hub replicas: [`agentry_store::Store::assign_run`] is a compare-and-set
//! on the run's epoch, so only one replica's assignment of a run wins; the loser skips it.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use agentry_broker::Task;
use agentry_core::{NodeId, RunStatus, clock};

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
/// placed keep waiting with the reason recorded (shown by `agentry ps`).
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
    let mut placed = 0;
    for candidate in runs {
        let run = candidate.run;
        let request =
            PlacementRequest { node_selector: candidate.node_selector, preferred_node: candidate.previous_node };
        let node_id = match place(hub.config.scheduler, &request, &nodes, state) {
            Ok(node_id) => node_id,
            Err(reason) => {
                let reason = reason.to_string();
                if run.wait_reason.as_deref() != Some(reason.as_str()) {
                    tracing::info!(run_id = %run.id, %reason, "run waits");
                    hub.store.set_wait_reason(run.id, run.epoch, Some(reason)).await?;
                }
                continue;
            }
        };
        let assigned = match hub.store.assign_run(run.id, node_id, run.epoch).await {
            Ok(assigned) => assigned,
            Err(error) => {
                // Another hub replica placed it first, or it was changed meanwhile.
                tracing::debug!(%error, run_id = %run.id, "run not assigned");
                continue;
            }
        };
        if let Some(view) = nodes.iter_mut().find(|view| view.id == node_id) {
            view.load += 1;
        }
        debug_assert_eq!(assigned.status, RunStatus::Queued);
        let task = Task { run_id: assigned.id, agent_id: assigned.agent_id, epoch: assigned.epoch };
        if let Err(error) = hub.queue.publish(node_id, &task).await {
            tracing::warn!(%error, run_id = %run.id, "task not published; the run will be placed again");
            hub.store.unassign_run(assigned.id, assigned.epoch).await?;
            return Err(error.into());
        }
        tracing::info!(run_id = %assigned.id, node_id = %node_id, epoch = assigned.epoch, "run placed");
        placed += 1;
    }
    Ok(placed)
}
