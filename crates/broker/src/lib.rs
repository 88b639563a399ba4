//! agentry-broker: how the hub hands runs to nodes, and how trace followers learn of new events.
//!
//! Two traits, each with a NATS and an in-process implementation, bundled by [`Broker`]:
//! - [`TaskQueue`]: [`JetStreamQueue`] — stream `AGENTRY_TASKS` (work-queue retention) over
//!   subjects `agentry.tasks.<node_id>`, one durable pull consumer per node, explicit acks,
//!   `Nats-Msg-Id = run_id:epoch` de-duplication, the run's W3C `traceparent` as a message
//!   header; [`MemoryQueue`] — the same semantics in
//!   process, for `agentry dev` and unit tests.
//! - [`EventHints`] (`hints.rs`): wake-ups for trace followers on core NATS subjects
//!   `agentry.events.<agent_id>` ([`NatsEventHints`]) or in process ([`MemoryEventHints`]).
//!   Hints only: followers re-read the store after each one, so a lost or duplicated hint can
//!   delay an event but never drop or repeat it.

#![warn(missing_docs)]

mod error;
mod hints;
mod jetstream;
mod memory;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use agentry_core::{AgentId, NodeId, RunId, TraceParent};

pub use agentry_core::trace_context::TRACEPARENT_HEADER;

pub use error::{BrokerError, Result};
pub use hints::{EventHints, Hint, MemoryEventHints, NatsEventHints};
pub use jetstream::{JetStreamConfig, JetStreamQueue};
pub use memory::MemoryQueue;
pub use tls::NatsTls;

/// The message that tells a node to execute (or resume) a run at an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The run.
    pub run_id: RunId,
    /// Its agent.
    pub agent_id: AgentId,
    /// Ownership epoch the node executes under (fencing token).
    pub epoch: u64,
    /// The run's W3C trace context; carried in the `traceparent` message header (not the
    /// body), so one run is one trace across the hub and every node that executes it.
    #[serde(skip)]
    pub trace_parent: Option<TraceParent>,
}

impl Task {
    /// Returns the de-duplication id `run_id:epoch` (the JetStream `Nats-Msg-Id`).
    pub fn dedup_id(&self) -> String {
        format!("{}:{}", self.run_id, self.epoch)
    }
}

/// URL schemes of a NATS server (`tls://` for TLS).
pub const NATS_URL_SCHEMES: &[&str] = &["nats://", "tls://"];

/// Returns whether `url` names a NATS server (one of [`NATS_URL_SCHEMES`]).
pub fn is_nats_url(url: &str) -> bool {
    NATS_URL_SCHEMES.iter().any(|scheme| url.starts_with(scheme))
}

/// Returns the subject a node pulls its tasks from.
pub fn task_subject(node_id: NodeId) -> String {
    format!("agentry.tasks.{node_id}")
}

/// Hands tasks from the hub to nodes.
#[async_trait]
pub trait TaskQueue: Send + Sync + 'static {
    /// Durably enqueues `task` for `node_id`. Publishing the same `run_id:epoch` twice within
    /// the de-duplication window enqueues it once.
    async fn publish(&self, node_id: NodeId, task: &Task) -> Result<()>;

    /// Opens the durable task subscription of `node_id` (created on first use; reopening
    /// resumes it, unacknowledged tasks are redelivered).
    async fn subscribe(&self, node_id: NodeId) -> Result<Box<dyn TaskSubscription>>;

    /// Returns how many tasks wait for `node_id` that it has not taken yet (its queue lag; the
    /// JetStream consumer's `num_pending`). A node that never subscribed has a lag of 0.
    async fn backlog(&self, node_id: NodeId) -> Result<u64>;

    /// Returns how many tasks published for `node_id` are not acknowledged yet: waiting, being
    /// handled (a node acks a task when its run ends or leaves it), or handed back and waiting
    /// for their redelivery (the JetStream consumer's `num_pending + num_ack_pending`). A node
    /// that never subscribed has none.
    async fn outstanding(&self, node_id: NodeId) -> Result<u64>;

    /// Retires a node that is gone (dead or left): deletes its subscription and drops the tasks
    /// still queued for it (their runs were taken back and are placed again under a new epoch,
    /// so those tasks would be refused anyway). Retiring an unknown node is not an error.
    async fn retire(&self, node_id: NodeId) -> Result<()>;
}

/// The broker of one deployment: its task queue and its event hints.
#[derive(Clone)]
pub struct Broker {
    /// Tasks from the hub to nodes.
    pub tasks: Arc<dyn TaskQueue>,
    /// Event hints between hub replicas.
    pub hints: Arc<dyn EventHints>,
}

impl Broker {
    /// Returns an in-process broker: only nodes in this process can receive its tasks.
    pub fn in_process() -> Self {
        Self { tasks: Arc::new(MemoryQueue::new()), hints: Arc::new(MemoryEventHints::default()) }
    }

    /// Returns an in-process broker over an existing `queue` (shared with in-process nodes).
    pub fn in_process_with(queue: MemoryQueue) -> Self {
        Self { tasks: Arc::new(queue), hints: Arc::new(MemoryEventHints::default()) }
    }

    /// Connects to NATS JetStream at `url` (`nats://host:port`) with the default layout.
    ///
    /// Errors with [`BrokerError::Unavailable`] when the server cannot be reached now.
    pub async fn connect_nats(url: &str) -> Result<Self> {
        Self::connect_nats_with(url, &NatsTls::default()).await
    }

    /// Connects to NATS JetStream at `url` (`nats://` or `tls://host:port`) with the default
    /// layout and the TLS settings `tls` (the server's CA).
    ///
    /// Errors with [`BrokerError::Tls`] naming the CA file when it is unusable, and with
    /// [`BrokerError::Unavailable`] when the server cannot be reached now or the TLS handshake
    /// fails (with what to check).
    pub async fn connect_nats_with(url: &str, tls: &NatsTls) -> Result<Self> {
        let queue = JetStreamQueue::connect(JetStreamConfig { tls: tls.clone(), ..JetStreamConfig::new(url) }).await?;
        Ok(Self { hints: Arc::new(queue.event_hints()), tasks: Arc::new(queue) })
    }
}

/// A node's stream of tasks.
#[async_trait]
pub trait TaskSubscription: Send {
    /// Waits up to `wait` for the next task; `Ok(None)` when none arrived in time.
    async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>>;
}

/// A delivered task, to be acknowledged once handled.
pub struct Delivery {
    /// The task.
    pub task: Task,
    /// How many times it has been delivered, from 1.
    pub delivered: u64,
    acker: Box<dyn Acker>,
}

impl Delivery {
    /// Returns a delivery acknowledged through `acker`.
    pub fn new(task: Task, delivered: u64, acker: Box<dyn Acker>) -> Self {
        Self { task, delivered, acker }
    }

    /// Acknowledges: the task is done and must not be delivered again.
    pub async fn ack(&self) -> Result<()> {
        self.acker.ack().await
    }

    /// Hands the task back for redelivery after `delay`.
    pub async fn nak(&self, delay: Duration) -> Result<()> {
        self.acker.nak(delay).await
    }

    /// Tells the broker work is ongoing, resetting the redelivery timer.
    pub async fn in_progress(&self) -> Result<()> {
        self.acker.in_progress().await
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("task", &self.task).field("delivered", &self.delivered).finish()
    }
}

/// Acknowledgement operations of one delivery.
#[async_trait]
pub trait Acker: Send + Sync {
    /// See [`Delivery::ack`].
    async fn ack(&self) -> Result<()>;
    /// See [`Delivery::nak`].
    async fn nak(&self, delay: Duration) -> Result<()>;
    /// See [`Delivery::in_progress`].
    async fn in_progress(&self) -> Result<()>;
}
