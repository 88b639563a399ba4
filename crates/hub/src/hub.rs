//! The hub's operations, independent of gRPC: each takes and returns domain types.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use agentry_broker::{TaskQueue, task_subject};
use agentry_core::{Agent, AgentId, AgentSpec, NodeId, NodeInfo, NodeState, Run, RunId, clock};
use agentry_store::{AgentSummary, CommitBatch, CommitOutcome, NewAgent, NewRun, RunContext, Store};

use crate::config::HubConfig;
use crate::error::{HubError, Result};
use crate::validate;

/// What a client asked `Spawn` for, validated.
#[derive(Debug, Clone)]
pub struct SpawnCommand {
    /// The agent's spec (validated, defaults filled).
    pub spec: AgentSpec,
    /// First input, if any (validated).
    pub input: Option<String>,
    /// Labels (validated).
    pub labels: BTreeMap<String, String>,
    /// Parent agent.
    pub parent_id: Option<AgentId>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
}

/// What `SendMessage` does when the agent has an active run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBusy {
    /// Queue the run behind the active one.
    #[default]
    Enqueue,
    /// Refuse the message.
    Reject,
    /// Stop the active run and start this one.
    Interrupt,
}

/// Answer of `Join`.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The node's identity for this membership.
    pub node_id: NodeId,
    /// Subject it pulls tasks from.
    pub subject: String,
}

/// Shared hub state: cheap to clone, used by every handler and background task.
#[derive(Clone)]
pub struct Hub {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) queue: Arc<dyn TaskQueue>,
    pub(crate) config: HubConfig,
    pub(crate) placement_wakeup: Arc<Notify>,
    pub(crate) event_hints: broadcast::Sender<AgentId>,
    /// Cancelled when the hub stops: open trace streams end so clients reconnect elsewhere.
    pub(crate) stopping: CancellationToken,
}

impl Hub {
    /// Returns a hub over `store` and `queue`.
    pub fn new(config: HubConfig, store: Arc<dyn Store>, queue: Arc<dyn TaskQueue>) -> Self {
        let (event_hints, _) = broadcast::channel(4096);
        Self {
            store,
            queue,
            config,
            placement_wakeup: Arc::new(Notify::new()),
            event_hints,
            stopping: CancellationToken::new(),
        }
    }

    /// Returns the configuration.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Creates an agent and, with input, its first run (placed asynchronously).
    pub async fn spawn(&self, command: SpawnCommand) -> Result<(Agent, Option<Run>)> {
        if let Some(parent_id) = command.parent_id {
            self.store.get_agent(parent_id).await?;
        }
        let new_agent = NewAgent {
            id: AgentId::generate(),
            spec: command.spec,
            labels: command.labels,
            parent_id: command.parent_id,
            idempotency_key: command.idempotency_key,
        };
        let first_run = command.input.map(|input| NewRun { id: RunId::generate(), input });
        let created = self.store.create_agent(new_agent, first_run).await?;
        if created.1.is_some() {
            self.placement_wakeup.notify_one();
        }
        Ok(created)
    }

    /// Appends a run with `input` to an agent. Returns `None` when the agent is busy and
    /// `on_busy` is [`OnBusy::Reject`].
    pub async fn send_message(&self, agent_id: AgentId, input: String, on_busy: OnBusy) -> Result<Option<Run>> {
        let summary = self.store.get_agent(agent_id).await?;
        let busy = summary.latest_run.as_ref().is_some_and(|run| !run.status.is_terminal());
        match (busy, on_busy) {
            (true, OnBusy::Reject) => return Ok(None),
            (true, OnBusy::Interrupt) => {
                return Err(HubError::Unimplemented(
                    "on_busy=INTERRUPT needs run cancellation, which this hub version does not have; \
                     use ENQUEUE or REJECT"
                        .into(),
                ));
            }
            _ => {}
        }
        let run = self.store.create_run(agent_id, NewRun { id: RunId::generate(), input }).await?;
        self.placement_wakeup.notify_one();
        Ok(Some(run))
    }

    /// Returns an agent with its latest run.
    pub async fn get_agent(&self, agent_id: AgentId) -> Result<AgentSummary> {
        Ok(self.store.get_agent(agent_id).await?)
    }

    /// Lists agents, newest first.
    pub async fn list_agents(&self, limit: u32) -> Result<Vec<AgentSummary>> {
        Ok(self.store.list_agents(limit).await?)
    }

    /// Returns one run.
    pub async fn get_run(&self, run_id: RunId) -> Result<Run> {
        Ok(self.store.get_run(run_id).await?)
    }

    /// Lists nodes, oldest first.
    pub async fn list_nodes(&self) -> Result<Vec<NodeInfo>> {
        Ok(self.store.list_nodes().await?)
    }

    /// Registers a node under a new identity and wakes the placer.
    pub async fn join(&self, name: String, slots: u32, labels: BTreeMap<String, String>) -> Result<Membership> {
        if name.is_empty() || name.len() > 128 {
            return Err(HubError::InvalidArgument("name must be 1-128 bytes".into()));
        }
        if slots == 0 || slots > 10_000 {
            return Err(HubError::InvalidArgument(format!("slots is {slots}; it must be 1-10000")));
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

    /// Stops placing new runs on a node; returns it.
    pub async fn cordon(&self, node_id: NodeId) -> Result<NodeInfo> {
        let node = self.store.set_node_state(node_id, NodeState::Cordoned).await?;
        tracing::info!(%node_id, "node cordoned");
        Ok(node)
    }

    /// Makes a node eligible for new runs again; returns it.
    pub async fn uncordon(&self, node_id: NodeId) -> Result<NodeInfo> {
        let current = self.node(node_id).await?;
        if current.state == NodeState::Dead {
            return Err(HubError::FailedPrecondition(format!(
                "node {node_id} is dead; a node that comes back joins under a new id"
            )));
        }
        let node = self.store.set_node_state(node_id, NodeState::Ready).await?;
        tracing::info!(%node_id, "node uncordoned");
        self.placement_wakeup.notify_one();
        Ok(node)
    }

    /// Drains a node: no new runs, runs placed there but not started go elsewhere, running
    /// runs finish where they are. Returns the node and how many runs moved.
    pub async fn drain(&self, node_id: NodeId) -> Result<(NodeInfo, usize)> {
        let node = self.store.set_node_state(node_id, NodeState::Draining).await?;
        let moved = self.store.release_node_runs(node_id).await?;
        tracing::info!(%node_id, moved = moved.len(), "node draining");
        if !moved.is_empty() {
            self.placement_wakeup.notify_one();
        }
        Ok((node, moved.len()))
    }

    async fn node(&self, node_id: NodeId) -> Result<NodeInfo> {
        let nodes = self.store.list_nodes().await?;
        nodes
            .into_iter()
            .find(|node| node.id == node_id)
            .ok_or_else(|| HubError::Store(agentry_store::Error::NotFound { what: "node", id: node_id.to_string() }))
    }

    /// Extends a node's lease.
    pub async fn heartbeat(&self, node_id: NodeId, running: u32) -> Result<()> {
        self.store.heartbeat(node_id, running, clock::now_ms()).await?;
        Ok(())
    }

    /// Returns a run's context for the node holding `epoch`.
    pub async fn load_run(&self, run_id: RunId, epoch: u64) -> Result<RunContext> {
        Ok(self.store.load_run(run_id, epoch).await?)
    }

    /// Commits a node's progress, then wakes trace followers (and the placer when the run ended,
    /// so the agent's next queued run can start).
    pub async fn commit(&self, batch: CommitBatch) -> Result<CommitOutcome> {
        let outcome = self.store.commit(batch).await?;
        self.hint_events(outcome.run.agent_id).await;
        if outcome.run.status.is_terminal() {
            self.placement_wakeup.notify_one();
        }
        Ok(outcome)
    }

    /// Tells every hub's trace followers that the agent has new events. Best effort: followers
    /// also poll, so a lost hint only delays delivery.
    pub(crate) async fn hint_events(&self, agent_id: AgentId) {
        if let Err(error) = self.queue.notify_events(agent_id).await {
            tracing::debug!(%error, "event hint not published; followers will poll");
            let _ = self.event_hints.send(agent_id);
        }
    }
}
