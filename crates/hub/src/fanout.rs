//! Trace fan-out: how the trace followers of every hub replica learn that an agent has new
//! events. After each commit (or hub-written event) the hub publishes a hint through
//! [`EventHints`]; the hint relay of every replica forwards the hints it receives to its local
//! followers. Hints carry no data — followers re-read the store after the last `seq` they sent
//! (see `trace.rs`) — so a lost hint only delays an event until the next poll.
//!
//! The replica that committed also hands the committed events, with their seqs, straight to its
//! own followers ([`Fanout::publish_committed`]): a follower that has every earlier event
//! appends them without reading the store, and skips the broker's copy of the hint because its
//! seq is already covered.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use agentry_broker::{EventHints, Hint};
use agentry_core::{AgentId, TraceEvent};

/// Capacity of the local channel; a follower that lags further simply reads the store again.
const LOCAL_CAPACITY: usize = 4096;
/// Delay before subscribing again after the hint subscription failed or ended.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

/// What a local follower receives: a hint, and the events themselves when this replica
/// committed them.
#[derive(Debug, Clone)]
pub struct LocalHint {
    /// The agent and, when known, its last seq.
    pub hint: Hint,
    /// The events of one commit, in seq order, ending at `hint.last_seq`.
    pub events: Option<Arc<[TraceEvent]>>,
}

/// Hints of this hub: published to every replica, received by local followers. Cheap to clone.
#[derive(Clone)]
pub struct Fanout {
    hints: Arc<dyn EventHints>,
    local: broadcast::Sender<LocalHint>,
}

impl Fanout {
    /// Returns a fan-out over `hints`.
    pub fn new(hints: Arc<dyn EventHints>) -> Self {
        Self { hints, local: broadcast::channel(LOCAL_CAPACITY).0 }
    }

    /// Tells the followers of every replica that `agent_id` has new events (hub-written ones,
    /// whose seqs the caller does not know). Best effort: when the broker refuses, this
    /// replica's followers are woken directly and the others poll.
    pub async fn publish(&self, agent_id: AgentId) {
        let hint = Hint { agent_id, last_seq: None };
        if let Err(error) = self.hints.publish(hint).await {
            tracing::debug!(%error, "event hint not published; followers will poll");
            let _ = self.local.send(LocalHint { hint, events: None });
        }
    }

    /// Hands the events of a commit (in seq order, the last one `last_seq`) to this replica's
    /// followers and hints the other replicas.
    pub async fn publish_committed(&self, agent_id: AgentId, last_seq: u64, events: Option<Arc<[TraceEvent]>>) {
        let hint = Hint { agent_id, last_seq: Some(last_seq) };
        let _ = self.local.send(LocalHint { hint, events });
        if let Err(error) = self.hints.publish(hint).await {
            tracing::debug!(%error, "event hint not published; other replicas' followers will poll");
        }
    }

    /// Returns whether any follower listens on this replica (committed events are only copied
    /// for followers).
    pub fn has_followers(&self) -> bool {
        self.local.receiver_count() > 0
    }

    /// Returns a receiver of the hints from now on, for one follower.
    pub fn subscribe(&self) -> broadcast::Receiver<LocalHint> {
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
                            Some(hint) => { let _ = self.local.send(LocalHint { hint, events: None }); }
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
