//! The node's lease: heartbeats carrying its load and the runs it executes, revocations in the
//! answers, and detection of a lost membership.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use agentry_core::{ErrorCode, NodeId};

use crate::hub_client::HubClient;
use crate::leases::Leases;

/// Heartbeats every `interval` until `stop`. Revoked runs are stopped through `leases`. When
/// the hub no longer knows the node as a member (its lease expired: FAILED_PRECONDITION, or it
/// is unknown: NOT_FOUND), `lost` is cancelled with every lease revoked; the node must join
/// again under a new identity. Other failures (hub unreachable) are retried at the next tick.
/// Returns only when `stop` is cancelled or the membership is lost.
pub async fn heartbeat_loop(
    hub: HubClient,
    node_id: NodeId,
    interval: Duration,
    leases: Leases,
    stop: CancellationToken,
    lost: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = interval.max(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = lost.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match hub.heartbeat(node_id, &leases.snapshot(), timeout).await {
            Ok(revoked) if revoked.is_empty() => {}
            Ok(revoked) => {
                let stopped = leases.revoke(&revoked);
                tracing::info!(revoked = revoked.len(), stopped, "hub revoked run leases");
            }
            Err(error) if error.is_fenced() || error.code == ErrorCode::NotFound => {
                tracing::warn!(%error, "membership lost: stopping every run and joining again");
                leases.revoke_all();
                lost.cancel();
                return;
            }
            Err(error) => tracing::warn!(%error, "heartbeat failed"),
        }
    }
}
