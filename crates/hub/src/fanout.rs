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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
/// committed them; or an ephemeral event (a `token`, seq 0) for followers that take them.
#[derive(Debug, Clone)]
pub struct LocalHint {
    /// The agent and, when known, its last seq.
    pub hint: Hint,
    /// The events of one commit, in seq order, ending at `hint.last_seq`.
    pub events: Option<Arc<[TraceEvent]>>,
    /// An ephemeral event: nothing was committed, nothing is to be read.
    pub ephemeral: Option<Arc<TraceEvent>>,
}

/// Hints of this hub: published to every replica, received by local followers. Cheap to clone.
#[derive(Clone)]
pub struct Fanout {
    hints: Arc<dyn EventHints>,
    local: broadcast::Sender<LocalHint>,
    /// Followers taking ephemeral events, per agent.
    ephemeral_followers: Arc<Mutex<HashMap<AgentId, usize>>>,
}

impl Fanout {
    /// Returns a fan-out over `hints`.
    pub fn new(hints: Arc<dyn EventHints>) -> Self {
        Self { hints, local: broadcast::channel(LOCAL_CAPACITY).0, ephemeral_followers: Arc::default() }
    }

    /// Tells the followers of every replica that `agent_id` has new events (hub-written ones,
    /// whose seqs the caller does not know). Best effort: when the broker refuses, this
    /// replica's followers are woken directly and the others poll.
    pub async fn publish(&self, agent_id: AgentId) {
        let hint = Hint { agent_id, last_seq: None };
        if let Err(error) = self.hints.publish(hint).await {
            tracing::debug!(%error, "event hint not published; followers will poll");
            let _ = self.local.send(LocalHint { hint, events: None, ephemeral: None });
        }
    }

    /// Hands the events of a commit (in seq order, the last one `last_seq`) to this replica's
    /// followers and hints the other replicas.
    pub async fn publish_committed(&self, agent_id: AgentId, last_seq: u64, events: Option<Arc<[TraceEvent]>>) {
        let hint = Hint { agent_id, last_seq: Some(last_seq) };
        let _ = self.local.send(LocalHint { hint, events, ephemeral: None });
        if let Err(error) = self.hints.publish(hint).await {
            tracing::debug!(%error, "event hint not published; other replicas' followers will poll");
        }
    }

    /// Hands an ephemeral event of `event.agent_id` to this replica's followers that take them;
    /// returns whether there is any. (Ephemeral events do not cross replicas: a node streams to
    /// the replica it commits to.)
    pub fn publish_ephemeral(&self, event: TraceEvent) -> bool {
        let agent_id = event.agent_id;
        if !self.is_followed_ephemerally(agent_id) {
            return false;
        }
        let hint = Hint { agent_id, last_seq: None };
        let _ = self.local.send(LocalHint { hint, events: None, ephemeral: Some(Arc::new(event)) });
        true
    }

    /// Returns whether a follower on this replica takes the ephemeral events of `agent_id`.
    pub fn is_followed_ephemerally(&self, agent_id: AgentId) -> bool {
        self.followers().get(&agent_id).is_some_and(|count| *count > 0)
    }

    /// Counts a follower of `agent_id` that takes ephemeral events, until the guard drops.
    pub fn follow_ephemeral(&self, agent_id: AgentId) -> EphemeralFollower {
        *self.followers().entry(agent_id).or_default() += 1;
        EphemeralFollower { followers: Arc::clone(&self.ephemeral_followers), agent_id }
    }

    fn followers(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, usize>> {
        self.ephemeral_followers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Returns whether any follower listens on this replica (committed events are only copied
    /// for followers).
    pub fn has_followers(&self) -> bool {
        self.local.receiver_count() > 0
    }

    /// Returns how many followers this replica has (open `Trace` streams).
    pub fn follower_count(&self) -> usize {
        self.local.receiver_count()
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
                            Some(hint) => { let _ = self.local.send(LocalHint { hint, events: None, ephemeral: None }); }
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

/// A follower taking ephemeral events, counted while it lives.
pub struct EphemeralFollower {
    followers: Arc<Mutex<HashMap<AgentId, usize>>>,
    agent_id: AgentId,
}

impl Drop for EphemeralFollower {
    fn drop(&mut self) {
        let mut followers = self.followers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = followers.get_mut(&self.agent_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                followers.remove(&self.agent_id);
            }
        }
    }
}
