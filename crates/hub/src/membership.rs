//! Node membership: join, leases (heartbeats), cordon/drain, leave, and taking runs back from
//! nodes that are gone.

use std::collections::BTreeMap;

use agentry_broker::task_subject;
use agentry_core::limits::MAX_NODE_SLOTS;
use agentry_core::{Heartbeat, NodeId, NodeInfo, NodeState, RunId, clock};
use agentry_store::ReleaseScope;

use crate::error::{HubError, Result};
use crate::hub::Hub;
use crate::metrics::MoveCause;
use crate::validate;

/// What one applied heartbeat did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Beaten {
    /// Runs of the beat's leases the node no longer owns.
    pub revoked: Vec<RunId>,
    /// The node's new `last_heartbeat_ms` (hub wall clock, ms since the Unix epoch).
    pub at_ms: i64,
}

/// Answer of `Join`.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The node's identity for this membership.
    pub node_id: NodeId,
    /// Subject it pulls tasks from.
    pub subject: String,
}

impl Hub {
    /// Registers a node under a new identity and wakes the placer.
    pub async fn join(&self, name: String, slots: u32, labels: BTreeMap<String, String>) -> Result<Membership> {
        if name.is_empty() || name.len() > 128 {
            return Err(HubError::InvalidArgument("name must be 1-128 bytes".into()));
        }
        if slots == 0 || slots > MAX_NODE_SLOTS {
            return Err(HubError::InvalidArgument(format!("slots is {slots}; it must be 1-{MAX_NODE_SLOTS}")));
        }
        validate::labels("labels", &labels)?;
        let node = NodeInfo {
            id: NodeId::generate(),
            name,
            state: NodeState::Ready,
            slots,
            running: 0,
            labels,
            last_heartbeat_ms: clock::now_ms(),
        };
        self.store.register_node(node.clone()).await?;
        tracing::info!(node_id = %node.id, name = %node.name, slots, "node joined");
        self.placement_wakeup.notify_one();
        Ok(Membership { node_id: node.id, subject: task_subject(node.id) })
    }

    /// Extends a node's lease and returns the runs of `leases` (run, epoch) it no longer owns,
    /// which it must stop executing. FAILED_PRECONDITION when the node is gone (its lease
    /// expired): it must join again under a new identity.
    pub async fn heartbeat(&self, node_id: NodeId, running: u32, leases: &[(RunId, u64)]) -> Result<Vec<RunId>> {
        let beat = Heartbeat { node_id, running, leases: leases.to_vec() };
        Ok(self.beat(&beat).await?.revoked)
    }

    /// Applies one heartbeat (unary or on a lease stream): extends the lease and lists the
    /// revoked runs. Errors as [`Hub::heartbeat`].
    pub(crate) async fn beat(&self, beat: &Heartbeat) -> Result<Beaten> {
        let node = self.store.heartbeat(beat.node_id, beat.running, clock::now_ms()).await?;
        let revoked = if beat.leases.is_empty() {
            Vec::new()
        } else {
            self.store.revoked_runs(beat.node_id, &beat.leases).await?
        };
        Ok(Beaten { revoked, at_ms: node.last_heartbeat_ms })
    }

    /// Stops placing new runs on a node; returns it.
    pub async fn cordon(&self, node_id: NodeId) -> Result<NodeInfo> {
        let node = self.store.set_node_state(node_id, NodeState::Cordoned).await?;
        tracing::info!(%node_id, "node cordoned");
        Ok(node)
    }

    /// Makes a node eligible for new runs again; returns it.
    pub async fn uncordon(&self, node_id: NodeId) -> Result<NodeInfo> {
        let node = self.store.set_node_state(node_id, NodeState::Ready).await?;
        tracing::info!(%node_id, "node uncordoned");
        self.placement_wakeup.notify_one();
        Ok(node)
    }

    /// Drains a node: no new runs, runs placed there but not started go elsewhere, running
    /// runs finish where they are. Returns the node and how many runs moved.
    pub async fn drain(&self, node_id: NodeId) -> Result<(NodeInfo, usize)> {
        let node = self.store.set_node_state(node_id, NodeState::Draining).await?;
        let reason = format!("node {} drained", node.name);
        let moved = self.take_back(node_id, ReleaseScope::Unstarted, &reason, MoveCause::Drained).await?;
        tracing::info!(%node_id, moved, "node draining");
        Ok((node, moved))
    }

    /// A node leaves gracefully: it is marked `left`, every run it still holds is taken back to
    /// be resumed elsewhere, and its task subscription is retired. Returns how many runs moved.
    pub async fn leave(&self, node_id: NodeId) -> Result<usize> {
        let node = self.store.set_node_state(node_id, NodeState::Left).await?;
        let moved = self.take_back(node_id, ReleaseScope::All, &left_reason(&node.name), MoveCause::NodeLeft).await?;
        self.retire_queue(node_id).await;
        tracing::info!(%node_id, name = %node.name, moved, "node left");
        Ok(moved)
    }

    /// Takes runs back from a node (`scope`), records `run_moved` with `reason` in their traces
    /// and wakes the placer; returns how many moved (counted under `cause`).
    pub(crate) async fn take_back(
        &self,
        node_id: NodeId,
        scope: ReleaseScope,
        reason: &str,
        cause: MoveCause,
    ) -> Result<usize> {
        let runs = self.store.release_node_runs(node_id, scope, reason).await?;
        self.metrics.record_moved(cause, runs.len());
        for run in &runs {
            tracing::info!(run_id = %run.id, %node_id, epoch = run.epoch, reason, "run taken back");
            self.fanout.publish(run.agent_id).await;
        }
        if !runs.is_empty() {
            self.placement_wakeup.notify_one();
        }
        Ok(runs.len())
    }

    /// Deletes a gone node's task subscription and queued tasks (best effort: they are fenced
    /// anyway, so a failure only leaves garbage in the broker).
    pub(crate) async fn retire_queue(&self, node_id: NodeId) {
        if let Err(error) = self.queue.retire(node_id).await {
            tracing::warn!(%node_id, %error, "could not retire the node's task queue");
        }
    }
}

/// The `run_moved` reason of a run taken back from a node that left (`node NAME left`), by its
/// `Leave` or by a reaper pass that found runs still on it (the two may race; whichever takes a
/// run back, the reason is the same).
pub(crate) fn left_reason(name: &str) -> String {
    format!("node {name} left")
}
