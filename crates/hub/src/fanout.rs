//! Trace fan-out: how the trace followers of every hub replica learn that an agent has new
//! events. After each commit (or hub-written event) the hub publishes a hint through
//! [`EventHints`]; the hint relay of every replica forwards the hints it receives to its local
//! followers. Hints carry no data — followers re-read the store after the last `seq` they sent
//! (see `trace.rs`) — so a lost hint only delays an event until the next poll.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use agentry_broker::EventHints;
use agentry_core::AgentId;

/// Capacity of the local channel; a follower that lags further simply reads the store again.
const LOCAL_CAPACITY: usize = 4096;
/// Delay before subscribing again after the hint subscription failed or ended.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

/// Hints of this hub: published to every replica, received by local followers. Cheap to clone.
#[derive(Clone)]
pub struct Fanout {
    hints: Arc<dyn EventHints>,
    local: broadcast::Sender<AgentId>,
}

impl Fanout {
    /// Returns a fan-out over `hints`.
    pub fn new(hints: Arc<dyn EventHints>) -> Self {
        Self { hints, local: broadcast::channel(LOCAL_CAPACITY).0 }
    }

    /// Tells the followers of every replica that `agent_id` has new events. Best effort: when
    /// the broker refuses, this replica's followers are woken directly and the others poll.
    pub async fn publish(&self, agent_id: AgentId) {
        if let Err(error) = self.hints.publish(agent_id).await {
            tracing::debug!(%error, "event hint not published; followers will poll");
            let _ = self.local.send(agent_id);
        }
    }

    /// Returns a receiver of the agents hinted from now on, for one follower.
    pub fn subscribe(&self) -> broadcast::Receiver<AgentId> {
        self.local.subscribe()
    }

    /// Forwards hints from the broker to this replica's followers until `stop`; subscribes
    /// again after broker failures. Run as the supervised task `hint-relay`.
    pub async fn relay(self, stop: CancellationToken) {
        loop {
            match self.hints.subscribe().await {
                Ok(mut hints) => loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        hint = hints.next() => match hint {
                            Some(agent_id) => { let _ = self.local.send(agent_id); }
                            None => break,
                        },
                    }
                },
                Err(error) => tracing::warn!(%error, "event hints unavailable; followers poll meanwhile"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(RESUBSCRIBE_DELAY) => {}
            }
        }
    }
}
