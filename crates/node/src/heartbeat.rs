//! The node's lease: heartbeats carrying its load and the runs it executes, revocations in the
//! answers, and detection of a lost membership.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;

use agentry_core::{NodeId, RunId};
use agentry_proto::v1 as pb;
use agentry_proto::v1::node_service_client::NodeServiceClient;

use crate::leases::Leases;

/// Heartbeats every `interval` until `stop`. Revoked runs are stopped through `leases`. When
/// the hub no longer knows the node as a member (its lease expired: FAILED_PRECONDITION, or it
/// is unknown: NOT_FOUND), `lost` is cancelled with every lease revoked; the node must join
/// again under a new identity. Other failures (hub unreachable) are retried at the next tick.
pub async fn heartbeat_loop(
    mut client: NodeServiceClient<Channel>,
    node_id: NodeId,
    interval: Duration,
    leases: Leases,
    stop: CancellationToken,
    lost: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let held = leases.snapshot();
        let request = pb::HeartbeatRequest {
            node_id: node_id.to_string(),
            running: held.len() as u32,
            leases: held
                .iter()
                .map(|(run_id, epoch)| pb::RunLease { run_id: run_id.to_string(), epoch: *epoch })
                .collect(),
        };
        let call = tokio::time::timeout(interval.max(Duration::from_secs(1)), client.heartbeat(request));
        match call.await {
            Ok(Ok(response)) => {
                let revoked: Vec<RunId> =
                    response.into_inner().revoked_run_ids.iter().filter_map(|id| id.parse().ok()).collect();
                if !revoked.is_empty() {
                    let stopped = leases.revoke(&revoked);
                    tracing::info!(revoked = revoked.len(), stopped, "hub revoked run leases");
                }
            }
            Ok(Err(status)) if matches!(status.code(), Code::FailedPrecondition | Code::NotFound) => {
                tracing::warn!(message = status.message(), "membership lost: stopping every run and joining again");
                leases.revoke_all();
                lost.cancel();
                return;
            }
            Ok(Err(status)) => tracing::warn!(code = ?status.code(), message = status.message(), "heartbeat failed"),
            Err(_) => tracing::warn!("heartbeat timed out"),
        }
    }
}
