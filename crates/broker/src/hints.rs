//! Event hints: wake-ups that tell trace followers on every hub replica "agent X has new
//! events up to seq N, read the store again". A hint carries no event data, so a lost or
//! duplicated hint can delay an event but never drop or repeat one (followers also poll); its
//! seq lets a follower that already has those events skip the read. Hints are not tasks: they
//! have their own trait, fire-and-forget on core NATS, never on the task stream.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast;

use agentry_core::AgentId;

use crate::{BrokerError, Result};

/// Capacity of the in-process hint channel; a follower that lags further re-reads the store.
const HINT_CAPACITY: usize = 1024;

/// "This agent has new events."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    /// The agent.
    pub agent_id: AgentId,
    /// Its highest event seq when the hint was sent; `None` when the sender does not know it
    /// (followers then always read).
    pub last_seq: Option<u64>,
}

/// Publishes and receives event hints between hub replicas.
#[async_trait]
pub trait EventHints: Send + Sync + 'static {
    /// Tells every subscriber that `hint.agent_id` has new events (best effort).
    async fn publish(&self, hint: Hint) -> Result<()>;

    /// Returns the hints published by any replica from now on.
    async fn subscribe(&self) -> Result<BoxStream<'static, Hint>>;
}

/// Hints on core NATS subjects `agentry.events.<agent_id>`, the payload the decimal last seq
/// (empty when unknown).
#[derive(Clone)]
pub struct NatsEventHints {
    client: async_nats::Client,
}

impl NatsEventHints {
    /// Returns hints over an open NATS connection.
    pub fn new(client: async_nats::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl EventHints for NatsEventHints {
    async fn publish(&self, hint: Hint) -> Result<()> {
        let payload = hint.last_seq.map(|seq| seq.to_string()).unwrap_or_default();
        self.client
            .publish(format!("agentry.events.{}", hint.agent_id), payload.into())
            .await
            .map_err(|error| BrokerError::Unavailable(format!("publishing event hint: {error}")))
    }

    async fn subscribe(&self) -> Result<BoxStream<'static, Hint>> {
        let subscriber = self
            .client
            .subscribe("agentry.events.>")
            .await
            .map_err(|error| BrokerError::Unavailable(format!("subscribing to event hints: {error}")))?;
        let hints = subscriber.filter_map(|message| async move {
            let agent_id = message.subject.as_str().strip_prefix("agentry.events.")?.parse().ok()?;
            // An unreadable seq is treated as unknown: the follower reads, which is always safe.
            let last_seq = std::str::from_utf8(&message.payload).ok().and_then(|text| text.parse().ok());
            Some(Hint { agent_id, last_seq })
        });
        Ok(hints.boxed())
    }
}

/// Hints inside one process (one hub), for `agentry dev` and tests. Cheap to clone; clones
/// share the channel.
#[derive(Clone)]
pub struct MemoryEventHints {
    sender: broadcast::Sender<Hint>,
}

impl Default for MemoryEventHints {
    fn default() -> Self {
        Self { sender: broadcast::channel(HINT_CAPACITY).0 }
    }
}

#[async_trait]
impl EventHints for MemoryEventHints {
    async fn publish(&self, hint: Hint) -> Result<()> {
        // No receiver is not an error: nobody follows this agent right now.
        let _ = self.sender.send(hint);
        Ok(())
    }

    async fn subscribe(&self) -> Result<BoxStream<'static, Hint>> {
        let receiver = self.sender.subscribe();
        let hints = futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(hint) => return Some((hint, receiver)),
                    // Hints are only wake-ups: skipping lagged ones loses nothing.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Ok(hints.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_hints_reach_every_subscriber() {
        let hints = MemoryEventHints::default();
        let (mut first, mut second) = (hints.subscribe().await.unwrap(), hints.subscribe().await.unwrap());
        let hint = Hint { agent_id: AgentId::generate(), last_seq: Some(7) };
        hints.publish(hint).await.unwrap();
        assert_eq!(first.next().await, Some(hint));
        assert_eq!(second.next().await, Some(hint));
    }
}
