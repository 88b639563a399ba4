//! Event hints: wake-ups that tell trace followers on every hub replica "agent X has new
//! events, read the store again". A hint carries no data, so a lost or duplicated hint can
//! delay an event but never drop or repeat one (followers also poll). Hints are not tasks:
//! they have their own trait, fire-and-forget on core NATS, never on the task stream.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast;

use agentry_core::AgentId;

use crate::{BrokerError, Result};

/// Capacity of the in-process hint channel; a follower that lags further re-reads the store.
const HINT_CAPACITY: usize = 1024;

/// Publishes and receives event hints between hub replicas.
#[async_trait]
pub trait EventHints: Send + Sync + 'static {
    /// Tells every subscriber that `agent_id` has new events (best effort).
    async fn publish(&self, agent_id: AgentId) -> Result<()>;

    /// Returns the agents that have new events, as hinted by any replica from now on.
    async fn subscribe(&self) -> Result<BoxStream<'static, AgentId>>;
}

/// Hints on core NATS subjects `agentry.events.<agent_id>`.
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
    async fn publish(&self, agent_id: AgentId) -> Result<()> {
        self.client
            .publish(format!("agentry.events.{agent_id}"), Vec::new().into())
            .await
            .map_err(|error| BrokerError::Unavailable(format!("publishing event hint: {error}")))
    }

    async fn subscribe(&self) -> Result<BoxStream<'static, AgentId>> {
        let subscriber = self
            .client
            .subscribe("agentry.events.>")
            .await
            .map_err(|error| BrokerError::Unavailable(format!("subscribing to event hints: {error}")))?;
        let hints = subscriber.filter_map(|message| async move {
            message.subject.as_str().strip_prefix("agentry.events.").and_then(|id| id.parse().ok())
        });
        Ok(hints.boxed())
    }
}

/// Hints inside one process (one hub), for `agentry dev` and tests. Cheap to clone; clones
/// share the channel.
#[derive(Clone)]
pub struct MemoryEventHints {
    sender: broadcast::Sender<AgentId>,
}

impl Default for MemoryEventHints {
    fn default() -> Self {
        Self { sender: broadcast::channel(HINT_CAPACITY).0 }
    }
}

#[async_trait]
impl EventHints for MemoryEventHints {
    async fn publish(&self, agent_id: AgentId) -> Result<()> {
        // No receiver is not an error: nobody follows this agent right now.
        let _ = self.sender.send(agent_id);
        Ok(())
    }

    async fn subscribe(&self) -> Result<BoxStream<'static, AgentId>> {
        let receiver = self.sender.subscribe();
        let hints = futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(agent_id) => return Some((agent_id, receiver)),
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
        let agent = AgentId::generate();
        hints.publish(agent).await.unwrap();
        assert_eq!(first.next().await, Some(agent));
        assert_eq!(second.next().await, Some(agent));
    }
}
