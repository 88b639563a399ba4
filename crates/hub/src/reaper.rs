//! The reaper: expires the leases of silent nodes and moves their runs to live nodes, and denies
//! approval requests nobody decided on in time.
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

use tokio_util::sync::CancellationToken;

use agentry_core::clock;
use agentry_store::{Leadership, ReleaseScope};

use crate::error::Result;
use crate::hub::Hub;
use crate::metrics::MoveCause;

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
            let reason = format!("node {} ({}) is {}: its lease expired", node.name, node.id, node.state);
            moved += hub.take_back(node.id, ReleaseScope::All, &reason, MoveCause::LeaseExpired).await?;
        }
    }
    Ok(moved)
}
