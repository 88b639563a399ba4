//! The reaper: expires the leases of silent nodes and moves their runs to live nodes, places
//! again the runs whose task was lost, and denies approval requests nobody decided on in time.
//!
//! One hub replica reaps at a time, the holder of [`agentry_store::Store::try_lead`] (a
//! PostgreSQL advisory lock): the others keep trying, and one takes over within a pass after the
//! leader's database session ends. A reaped node is marked `dead`; its runs become queued with
//! `epoch + 1` (so the dead node is fenced if it was only cut off) and a `run_moved` event, and
//! the placer places them on live nodes, where they resume from their last commit.
//!
//! A new leader waits one lease TTL before its first pass: while no hub (or no database) was
//! reachable, nodes could not renew their leases, so their last heartbeats say nothing about
//! whether they are alive. Waiting lets every live node heartbeat once (the same rule as
//! Nomad's leader re-establishing heartbeat timers on election).
//!
//! # Lost tasks
//!
//! The placer records an assignment (epoch + 1) before it publishes the run's task, so a hub
//! that stops between the two leaves a run `queued` on a live node that never hears of it.
//! Each pass, the leader also looks at the runs assigned more than two lease TTLs ago that
//! their node has not started ([`agentry_store::Store::stale_assignments`]). Such a run's task
//! may still exist: queued, pulled, or handed back and waiting for its redelivery (a run whose
//! start keeps failing is redelivered until it is dead-lettered). A node acknowledges a task
//! only when its run ends or leaves the node, so every task of the node's consumer that is not
//! acknowledged ([`agentry_broker::TaskQueue::outstanding`], read first) belongs either to a
//! run the node executes (`running`, read second: [`agentry_store::Store::running_loads`]) or
//! to a run not started yet. When the node has no more outstanding tasks than running runs, the
//! stale runs' tasks are gone (a run running at the second read had its task outstanding at
//! the first, so the count cannot mislead this way). They are taken back
//! ([`agentry_store::Store::revoke_assignment`]: a compare-and-set on the epoch and on
//! `queued`, so a run the node started meanwhile is left alone) with their epoch bumped, and
//! the placer places them again (epoch + 1 once more).
//!
//! Should the count mislead (a running run's task not acknowledged yet, or acknowledged early),
//! the only effect is a skipped or a wasted placement, never a duplicated committed step: a
//! late task carries the old epoch, so `LoadRun` and every commit under it are refused and the
//! node drops it. A node whose counts cannot be read keeps its stale runs until a later pass.

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use agentry_core::{NodeId, NodeInfo, NodeState, Run, clock};
use agentry_store::{Leadership, ReleaseScope};

use crate::error::Result;
use crate::hub::Hub;
use crate::membership::left_reason;
use crate::metrics::MoveCause;

/// Most stale assignments examined per pass (more wait for the next one).
const STALE_ASSIGNMENT_BATCH: u32 = 256;

/// Runs reaper passes every `heartbeat_interval` while this hub leads, until `shutdown`.
pub async fn run_reaper(hub: Hub, shutdown: CancellationToken) {
    let mut leadership: Option<Box<dyn Leadership>> = None;
    let mut reap_from = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(hub.config.heartbeat_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Some(held) = leadership.as_mut()
            && !held.still_leading().await
        {
            tracing::warn!("lost leadership (database session ended); another hub may reap now");
            leadership = None;
        }
        if leadership.is_none() {
            match hub.store.try_lead().await {
                Ok(Some(acquired)) => {
                    tracing::info!(grace = ?hub.config.lease_ttl, "this hub leads: it runs the reaper after a grace period");
                    leadership = Some(acquired);
                    reap_from = tokio::time::Instant::now() + hub.config.lease_ttl;
                }
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%error, "leadership not acquired; retrying");
                    continue;
                }
            }
        }
        if tokio::time::Instant::now() < reap_from {
            continue;
        }
        match reap(&hub).await {
            Ok(0) => {}
            Ok(moved) => tracing::info!(moved, "reaper moved runs off gone nodes"),
            Err(error) => tracing::warn!(%error, "reaper pass failed; retrying"),
        }
        match recover_lost_tasks(&hub).await {
            Ok(0) => {}
            Ok(recovered) => tracing::warn!(recovered, "runs whose task was lost placed again"),
            Err(error) => tracing::warn!(%error, "lost task pass failed; retrying"),
        }
        match hub.expire_approvals().await {
            Ok(0) => {}
            Ok(denied) => tracing::info!(denied, "expired approval requests denied"),
            Err(error) => tracing::warn!(%error, "approval expiry pass failed; retrying"),
        }
        match hub.wake_waiting_parents().await {
            Ok(0) => {}
            Ok(woken) => tracing::info!(woken, "runs whose sub-agents all ended queued again"),
            Err(error) => tracing::warn!(%error, "sub-agent wake pass failed; retrying"),
        }
    }
}

/// One pass: nodes silent for longer than the lease TTL become dead; runs still held by gone
/// nodes (dead or left; also those left over by an interrupted earlier pass) are taken back.
/// Returns how many runs moved.
pub async fn reap(hub: &Hub) -> Result<usize> {
    let lease_ttl_ms = clock::duration_ms(hub.config.lease_ttl);
    let expired = hub.store.expire_nodes(clock::now_ms().saturating_sub(lease_ttl_ms)).await?;
    hub.metrics.lease_expiries.inc_by(expired.len() as u64);
    for node in &expired {
        tracing::warn!(node_id = %node.id, name = %node.name, last_heartbeat_ms = node.last_heartbeat_ms, "node lease expired; node is dead");
        hub.retire_queue(node.id).await;
    }
    let loads = hub.store.node_loads().await?;
    if loads.is_empty() {
        return Ok(0);
    }
    let nodes = hub.store.list_nodes().await?;
    let mut moved = 0;
    for node in nodes.iter().filter(|node| node.state.is_gone()) {
        if loads.iter().any(|(node_id, load)| *node_id == node.id && *load > 0) {
            let (reason, cause) = gone_reason(node);
            moved += hub.take_back(node.id, ReleaseScope::All, &reason, cause).await?;
        }
    }
    Ok(moved)
}

/// Why the runs still held by a gone node are taken back: it left (its `Leave` is taking them
/// back, or was interrupted; the same reason as `Leave`'s), or its lease expired.
fn gone_reason(node: &NodeInfo) -> (String, MoveCause) {
    if node.state == NodeState::Left {
        (left_reason(&node.name), MoveCause::NodeLeft)
    } else {
        (format!("node {} ({}) is {}: its lease expired", node.name, node.id, node.state), MoveCause::LeaseExpired)
    }
}

/// One pass of the lost task safety net (see the module doc): runs assigned more than two lease
/// TTLs ago, not started, on nodes that hold no unacknowledged task beyond those of their
/// running runs, are taken back (epoch + 1) for the placer to place again. Returns how many.
pub async fn recover_lost_tasks(hub: &Hub) -> Result<usize> {
    let lease_ttl_ms = clock::duration_ms(hub.config.lease_ttl);
    let cutoff_ms = clock::now_ms().saturating_sub(lease_ttl_ms.saturating_mul(2));
    let stale = hub.store.stale_assignments(cutoff_ms, STALE_ASSIGNMENT_BATCH).await?;
    let mut by_node: BTreeMap<NodeId, Vec<Run>> = BTreeMap::new();
    for run in stale {
        if let Some(node_id) = run.node_id {
            by_node.entry(node_id).or_default().push(run);
        }
    }
    if by_node.is_empty() {
        return Ok(0);
    }
    // Outstanding tasks first, running runs second (see the module doc).
    let mut outstanding = BTreeMap::new();
    for &node_id in by_node.keys() {
        match hub.queue.outstanding(node_id).await {
            Ok(count) => {
                outstanding.insert(node_id, count);
            }
            Err(error) => {
                tracing::warn!(%node_id, %error, "node queue unreadable; its stale assignments wait for a later pass");
            }
        }
    }
    let running: BTreeMap<NodeId, u32> = hub.store.running_loads().await?.into_iter().collect();
    let mut recovered = 0;
    for (node_id, runs) in by_node {
        let Some(&outstanding) = outstanding.get(&node_id) else { continue };
        let running = u64::from(running.get(&node_id).copied().unwrap_or(0));
        if outstanding > running {
            // Their tasks may be among those not acknowledged: queued, or waiting for a redelivery.
            tracing::debug!(%node_id, outstanding, running, stale = runs.len(), "stale assignments wait for their node");
            continue;
        }
        for run in runs {
            let Some(revoked) = hub.store.revoke_assignment(run.id, run.epoch).await? else {
                continue; // started, or changed, meanwhile
            };
            tracing::warn!(
                run_id = %run.id, %node_id, epoch = run.epoch, new_epoch = revoked.epoch, assigned_ms = run.updated_ms,
                "the run's task never reached its node; placing it again"
            );
            recovered += 1;
        }
    }
    hub.metrics.record_moved(MoveCause::TaskLost, recovered);
    if recovered > 0 {
        hub.placement_wakeup.notify_one();
    }
    Ok(recovered)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use agentry_broker::{Broker, MemoryQueue, Task, TaskQueue};
    use agentry_core::RunStatus;

    use super::*;
    use crate::config::HubConfig;

    /// A hub on an in-memory SQLite store and `queue` (no background task), with one node.
    async fn hub_with_a_node(lease_ttl: Duration, queue: MemoryQueue) -> (Hub, NodeId) {
        let config = HubConfig { lease_ttl, ..HubConfig::for_test("sqlite::memory:") };
        let store = agentry_store::connect(&config.database_url).await.expect("an in-memory store");
        let hub = Hub::new(config, store, Broker::in_process_with(queue));
        let node_id = hub.join("node-1".into(), 4, BTreeMap::new()).await.expect("join").node_id;
        (hub, node_id)
    }

    /// Spawns an agent and assigns its first run to `node_id`, as the placer does before it
    /// publishes the task.
    async fn assigned_run(hub: &Hub, node_id: NodeId) -> Run {
        let command = crate::test_support::scripted_spawn(None);
        let (_, run) = hub.spawn(command).await.expect("spawn");
        let run = run.expect("a first run");
        hub.store.assign_run(run.id, node_id, run.epoch).await.expect("placing the run on the node")
    }

    fn task_of(run: &Run) -> Task {
        Task { run_id: run.id, agent_id: run.agent_id, epoch: run.epoch, trace_parent: None }
    }

    fn task_lost_count(hub: &Hub) -> u64 {
        hub.metrics.runs_moved.with_label_values(&[MoveCause::TaskLost.as_str()]).get()
    }

    #[tokio::test]
    async fn a_stale_assignment_with_no_queued_task_is_taken_back_and_its_task_fenced() {
        let queue = MemoryQueue::new();
        let (hub, lossy_node) = hub_with_a_node(Duration::from_millis(1), queue.clone()).await;
        let busy_node = hub.join("node-2".into(), 4, BTreeMap::new()).await.expect("join").node_id;
        let lost = assigned_run(&hub, lossy_node).await;
        let queued = assigned_run(&hub, busy_node).await;
        queue.publish(busy_node, &task_of(&queued)).await.expect("publish");
        // Both assignments become older than two lease TTLs (2 ms) by the wall clock.
        let stale_from = lost.updated_ms.max(queued.updated_ms) + 2;
        while clock::now_ms() <= stale_from {
            tokio::task::yield_now().await;
        }

        assert_eq!(recover_lost_tasks(&hub).await.expect("a pass"), 1);
        let taken_back = hub.store.get_run(lost.id).await.expect("the run");
        assert_eq!(
            (taken_back.status, taken_back.node_id, taken_back.epoch),
            (RunStatus::Queued, None, lost.epoch + 1)
        );
        assert_eq!(task_lost_count(&hub), 1);
        // Should the lost task arrive after all, its epoch is refused.
        let late = hub.store.load_run(lost.id, lost.epoch).await.expect_err("a stale epoch");
        assert!(matches!(late, agentry_store::Error::StaleEpoch { .. }), "{late:?}");
        // A node with a task queued has not caught up: its run is left alone.
        assert_eq!(hub.store.get_run(queued.id).await.expect("the run"), queued);

        // Once that node took its task and started the run, there is nothing left to recover.
        let mut subscription = queue.subscribe(busy_node).await.expect("subscribe");
        subscription.next(Duration::from_secs(5)).await.expect("pull").expect("the queued task");
        let started = agentry_core::CommitBatch {
            run_id: queued.id,
            epoch: queued.epoch,
            events: Vec::new(),
            messages: Vec::new(),
            status: Some(RunStatus::Running),
            error: None,
            commit_id: None,
            budget: None,
            delegations: Vec::new(),
            wake_parent: false,
        };
        hub.store.commit(started).await.expect("the node starts the run");
        assert_eq!(recover_lost_tasks(&hub).await.expect("a pass"), 0);
        assert_eq!(hub.store.get_run(queued.id).await.expect("the run").node_id, Some(busy_node));
        assert_eq!(task_lost_count(&hub), 1);
    }

    #[tokio::test]
    async fn a_stale_assignment_whose_task_waits_for_its_redelivery_is_left_alone() {
        let queue = MemoryQueue::new();
        let (hub, node_id) = hub_with_a_node(Duration::from_millis(1), queue.clone()).await;
        let run = assigned_run(&hub, node_id).await;
        queue.publish(node_id, &task_of(&run)).await.expect("publish");
        // The node took the task, failed to start the run (e.g. its MCP server would not
        // start) and handed it back: nothing is queued, the redelivery is pending.
        let mut subscription = queue.subscribe(node_id).await.expect("subscribe");
        let delivery = subscription.next(Duration::from_secs(5)).await.expect("pull").expect("the task");
        delivery.nak(Duration::from_secs(600)).await.expect("nak");
        while clock::now_ms() <= run.updated_ms + 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(queue.backlog(node_id).await.expect("backlog"), 0, "no task is queued");

        assert_eq!(recover_lost_tasks(&hub).await.expect("a pass"), 0);
        assert_eq!(hub.store.get_run(run.id).await.expect("the run"), run, "its redelivery can still start it");
        assert_eq!(task_lost_count(&hub), 0);
    }

    /// Returns the `reason` of each `run_moved` event of `run`'s trace.
    async fn moved_reasons(hub: &Hub, run: &Run) -> Vec<String> {
        let events = hub.store.events_after(run.agent_id, Some(run.id), 0, 100).await.expect("the trace");
        let moved = events.iter().filter(|event| event.kind == agentry_core::event::kind::RUN_MOVED);
        moved.map(|event| event.data["reason"].as_str().expect("a reason").to_owned()).collect()
    }

    #[tokio::test]
    async fn runs_a_left_node_still_holds_move_because_it_left_not_for_a_lease() {
        // A reaper pass that runs between a `Leave`'s state change and its take-back (or after
        // an interrupted one) finds runs on a left node: they moved because the node left.
        let (hub, node_id) = hub_with_a_node(Duration::from_secs(60), MemoryQueue::new()).await;
        let run = assigned_run(&hub, node_id).await;
        hub.store.set_node_state(node_id, NodeState::Left).await.expect("the node leaves");
        assert_eq!(reap(&hub).await.expect("a pass"), 1);
        assert_eq!(moved_reasons(&hub, &run).await, vec!["node node-1 left".to_owned()]);
        let moved = |cause: MoveCause| hub.metrics.runs_moved.with_label_values(&[cause.as_str()]).get();
        assert_eq!((moved(MoveCause::NodeLeft), moved(MoveCause::LeaseExpired)), (1, 0));
    }

    #[tokio::test]
    async fn runs_of_a_node_whose_lease_expired_move_for_the_lease() {
        let (hub, node_id) = hub_with_a_node(Duration::from_millis(1), MemoryQueue::new()).await;
        let run = assigned_run(&hub, node_id).await;
        let joined_ms = clock::now_ms();
        while clock::now_ms() <= joined_ms + 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(reap(&hub).await.expect("a pass"), 1);
        let reasons = moved_reasons(&hub, &run).await;
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(
            reasons[0].starts_with("node node-1 (") && reasons[0].ends_with(") is dead: its lease expired"),
            "{reasons:?}"
        );
    }

    #[tokio::test]
    async fn a_fresh_assignment_is_left_alone() {
        let (hub, node_id) = hub_with_a_node(Duration::from_secs(60), MemoryQueue::new()).await;
        let run = assigned_run(&hub, node_id).await;
        assert_eq!(recover_lost_tasks(&hub).await.expect("a pass"), 0);
        assert_eq!(hub.store.get_run(run.id).await.expect("the run"), run);
        assert_eq!(task_lost_count(&hub), 0);
    }
}
