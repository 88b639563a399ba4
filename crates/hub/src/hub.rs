//! The hub's operations, independent of gRPC: each takes and returns domain types.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use agentry_broker::{Broker, TaskQueue};
use agentry_core::{
    Agent, AgentId, AgentSpec, CommitBatch, EventDraft, NodeInfo, Run, RunId, RunStatus, TraceEvent, TraceParent,
};
use agentry_store::{AgentQuery, AgentSummary, CommitOutcome, NewAgent, NewRun, RunContext, Store};

use crate::config::HubConfig;
use crate::error::Result;
use crate::fanout::Fanout;
use crate::metrics::HubMetrics;
use agentry_core::budget::{BudgetDecision, BudgetLimits, BudgetState, Spend};
use agentry_core::models::ModelsConfig;

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
    /// Budget of the agent's model calls (validated); unlimited: the parent's, if any.
    pub budget: BudgetLimits,
    /// The caller's W3C trace context (`traceparent` metadata), if it sent one.
    pub trace_parent: Option<TraceParent>,
    /// The tenant the agent belongs to (the caller's; [`agentry_core::DEFAULT_TENANT`] when
    /// authentication is off).
    pub tenant: String,
}

/// What `SendMessage` does when the agent has an active run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBusy {
    /// Queue the run behind the active one.
    #[default]
    Enqueue,
    /// Refuse the message.
    Reject,
    /// Cancel the agent's active and queued runs, then start this one.
    Interrupt,
}

/// A page of agents ([`Hub::list_agents`]).
#[derive(Debug, Clone)]
pub struct AgentPage {
    /// The agents with their latest runs, newest first.
    pub agents: Vec<AgentSummary>,
    /// Where the next page starts (its [`AgentQuery::before`]): the last agent of this page,
    /// when more agents match; `None` on the last page.
    pub next: Option<AgentId>,
}

/// Shared hub state: cheap to clone, used by every handler and background task.
#[derive(Clone)]
pub struct Hub {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) queue: Arc<dyn TaskQueue>,
    pub(crate) config: HubConfig,
    /// Configured models and routes: spawned specs must name one of them or `provider:model`.
    pub(crate) models: Arc<ModelsConfig>,
    /// Builtin tools spawned agents may name (`[tools] allowed`); `None`: all.
    pub(crate) allowed_tools: Option<Arc<[String]>>,
    /// Role templates a Spawn may name (built-in only unless [`Hub::with_templates`]).
    pub(crate) templates: Arc<crate::templates::TemplateLibrary>,
    pub(crate) placement_wakeup: Arc<Notify>,
    pub(crate) fanout: Fanout,
    /// Cancelled when the hub stops: open trace streams end so clients reconnect elsewhere.
    pub(crate) stopping: CancellationToken,
    /// Prometheus metrics (on a registry of their own unless [`Hub::with_metrics`]).
    pub(crate) metrics: HubMetrics,
    /// Tokens, JWT verification and tenant policies (disabled unless [`Hub::with_security`]).
    pub(crate) auth: crate::auth::Authenticator,
    /// Open trace streams per token (`max-trace-streams`).
    pub(crate) trace_streams: crate::auth::StreamLimiter,
    /// The audit trail (records nowhere unless [`Hub::with_security`]).
    pub(crate) audit: crate::audit::AuditLog,
    /// Node names by id, for binding calls to node certificates.
    pub(crate) node_names: crate::node_identity::NodeNames,
}

impl Hub {
    /// Returns a hub over `store` and `broker`.
    pub fn new(config: HubConfig, store: Arc<dyn Store>, broker: Broker) -> Self {
        Self {
            store,
            queue: broker.tasks,
            config,
            models: Arc::default(),
            allowed_tools: None,
            templates: Arc::new(crate::templates::TemplateLibrary::builtin().unwrap_or_default()),
            placement_wakeup: Arc::new(Notify::new()),
            fanout: Fanout::new(broker.hints),
            stopping: CancellationToken::new(),
            metrics: HubMetrics::unregistered(),
            auth: crate::auth::Authenticator::disabled(),
            trace_streams: crate::auth::StreamLimiter::unlimited(),
            audit: crate::audit::AuditLog::discard(),
            node_names: crate::node_identity::NodeNames::default(),
        }
    }

    /// Authenticates with `auth`, limits trace streams per token with `trace_streams` and
    /// records the audit trail into `audit`.
    pub fn with_security(
        mut self,
        auth: crate::auth::Authenticator,
        trace_streams: crate::auth::StreamLimiter,
        audit: crate::audit::AuditLog,
    ) -> Self {
        self.auth = auth;
        self.trace_streams = trace_streams;
        self.audit = audit;
        self
    }

    /// Records into `metrics` (registered on the registry `/metrics` serves).
    pub fn with_metrics(mut self, metrics: HubMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Accepts the configured models and routes of `models` in specs (besides `provider:model`).
    pub fn with_models(mut self, models: ModelsConfig) -> Self {
        self.models = Arc::new(models);
        self
    }

    /// Accepts only `allowed` builtin tools in spawned specs (`None`: all).
    pub fn with_allowed_tools(mut self, allowed: Option<Vec<String>>) -> Self {
        self.allowed_tools = allowed.map(Arc::from);
        self
    }

    /// Resolves Spawns that name a template with `templates` (see
    /// [`crate::templates::load_library`]).
    pub fn with_templates(mut self, templates: crate::templates::TemplateLibrary) -> Self {
        self.templates = Arc::new(templates);
        self
    }

    /// Returns the configuration.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Creates an agent and, with input, its first run (placed asynchronously).
    pub async fn spawn(&self, command: SpawnCommand) -> Result<(Agent, Option<Run>)> {
        let parent_budget = match command.parent_id {
            Some(parent_id) => self.store.get_agent(parent_id).await?.agent.budget_id,
            None => None,
        };
        // An own budget, else the parent's: sub-agents draw from what their parent may spend.
        let (budget_id, budget_limits) = if command.budget.is_unlimited() {
            (parent_budget, None)
        } else {
            (Some(uuid::Uuid::now_v7().to_string()), Some(command.budget))
        };
        let new_agent = NewAgent {
            id: AgentId::generate(),
            spec: command.spec,
            labels: command.labels,
            parent_id: command.parent_id,
            idempotency_key: command.idempotency_key,
            budget_id,
            budget_limits,
            tenant: command.tenant,
        };
        let first_run = command.input.map(|input| new_run(input, command.trace_parent));
        let created = self.store.create_agent(new_agent, first_run).await?;
        if created.1.is_some() {
            self.placement_wakeup.notify_one();
        }
        Ok(created)
    }

    /// Appends a run with `input` to an agent. Returns `None` when the agent is busy and
    /// `on_busy` is [`OnBusy::Reject`].
    /// `trace_parent` is the caller's trace context, if it sent one (see [`run_trace_parent`]).
    /// A read-only import ([`Agent::imported_from`]) is refused (FAILED_PRECONDITION).
    pub async fn send_message(
        &self,
        agent_id: AgentId,
        input: String,
        on_busy: OnBusy,
        trace_parent: Option<TraceParent>,
    ) -> Result<Option<Run>> {
        let summary = self.store.get_agent(agent_id).await?;
        if let Some(reason) = summary.agent.read_only_reason() {
            return Err(crate::error::HubError::FailedPrecondition(reason));
        }
        let busy = summary.latest_run.as_ref().is_some_and(|run| !run.status.is_terminal());
        match (busy, on_busy) {
            (true, OnBusy::Reject) => return Ok(None),
            (true, OnBusy::Interrupt) => self.interrupt_agent(agent_id).await?,
            _ => {}
        }
        let run = self.store.create_run(agent_id, new_run(input, trace_parent)).await?;
        self.placement_wakeup.notify_one();
        Ok(Some(run))
    }

    /// Returns an agent with its latest run.
    pub async fn get_agent(&self, agent_id: AgentId) -> Result<AgentSummary> {
        Ok(self.store.get_agent(agent_id).await?)
    }

    /// Returns the budget `agent` draws from (its own or an ancestor's), if any. A budget the
    /// store does not have (which it never writes) reads as none, with a warning.
    ///
    /// Errors: the store's.
    pub async fn budget_of(&self, agent: &Agent) -> Result<Option<BudgetState>> {
        let Some(budget_id) = &agent.budget_id else {
            return Ok(None);
        };
        match self.store.get_budget(budget_id).await {
            Ok(budget) => Ok(Some(budget)),
            Err(agentry_store::Error::NotFound { .. }) => {
                tracing::warn!(agent_id = %agent.id, budget_id, "the agent's budget is missing");
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Lists a page of the agents `query` selects (at most `query.limit`, newest first) and
    /// tells whether another page follows: one more agent is read to know.
    ///
    /// Errors: the store's.
    pub async fn list_agents(&self, query: AgentQuery) -> Result<AgentPage> {
        let limit = query.limit as usize;
        let probe = AgentQuery { limit: query.limit.saturating_add(1), ..query };
        let mut agents = self.store.list_agents(&probe).await?;
        let next = if agents.len() > limit {
            agents.truncate(limit);
            agents.last().map(|summary| summary.agent.id)
        } else {
            None
        };
        Ok(AgentPage { agents, next })
    }

    /// Returns one run.
    pub async fn get_run(&self, run_id: RunId) -> Result<Run> {
        Ok(self.store.get_run(run_id).await?)
    }

    /// Lists nodes, oldest first.
    pub async fn list_nodes(&self) -> Result<Vec<NodeInfo>> {
        Ok(self.store.list_nodes().await?)
    }

    /// Raises the budget that `run_id`'s agent draws from by `add`, before a resume.
    ///
    /// Errors: NOT_FOUND for an unknown run; FAILED_PRECONDITION when its agent has no budget.
    pub async fn raise_budget(&self, run_id: RunId, add: Spend) -> Result<BudgetState> {
        let run = self.store.get_run(run_id).await?;
        let agent = self.store.get_agent(run.agent_id).await?.agent;
        if let Some(reason) = agent.read_only_reason() {
            return Err(crate::error::HubError::FailedPrecondition(reason));
        }
        let Some(budget_id) = agent.budget_id else {
            return Err(crate::error::HubError::FailedPrecondition(format!(
                "agent {} of run {run_id} has no budget to raise; resume it without --add-tokens/--add-cost",
                agent.id
            )));
        };
        let budget = self.store.raise_budget(&budget_id, add).await?;
        tracing::info!(%run_id, budget_id, ?add, "budget raised");
        Ok(budget)
    }

    /// Hands the `text` a model streams for call `step` of `run_id` to this replica's followers of
    /// `agent_id` that take ephemeral events, as a `token` event (seq 0, not persisted); returns
    /// whether there was any.
    pub fn publish_tokens(&self, agent_id: AgentId, run_id: RunId, step: u32, text: String) -> bool {
        let event = TraceEvent {
            seq: 0,
            agent_id,
            run_id,
            kind: agentry_core::event::kind::TOKEN.to_owned(),
            data: serde_json::json!({ "step": step, "text": text }),
            ts_ms: agentry_core::clock::now_ms(),
            trace: None,
        };
        self.fanout.publish_ephemeral(event)
    }

    /// Returns whether a follower on this replica takes the ephemeral events of `agent_id`.
    pub fn is_followed_ephemerally(&self, agent_id: AgentId) -> bool {
        self.fanout.is_followed_ephemerally(agent_id)
    }

    /// Returns a run's context for the node holding `epoch`.
    pub async fn load_run(&self, run_id: RunId, epoch: u64) -> Result<RunContext> {
        Ok(self.store.load_run(run_id, epoch).await?)
    }

    /// Commits a node's progress, then wakes trace followers (and the placer when the run ended,
    /// so the agent's next queued run can start).
    pub async fn commit(&self, batch: CommitBatch) -> Result<CommitOutcome> {
        let (run_id, epoch) = (batch.run_id, batch.epoch);
        // Copied only for this replica's followers, who then need not read them back.
        // (Not with a budget operation: pausing a run may append events of the store's own.)
        let drafts = (self.fanout.has_followers() && !batch.events.is_empty() && batch.budget.is_none())
            .then(|| batch.events.clone());
        let dead_letter = batch.status == Some(RunStatus::Failed) && batch.events.iter().any(is_dead_letter);
        let started = std::time::Instant::now();
        let committed = self.store.commit(batch).await;
        let elapsed = started.elapsed();
        let outcome = match committed {
            Ok(outcome) => outcome,
            Err(error @ agentry_store::Error::StaleEpoch { .. }) => {
                tracing::info!(%run_id, epoch, %error, "stale commit refused (fenced)");
                return Err(error.into());
            }
            Err(error) => return Err(error.into()),
        };
        self.record_commit(&outcome, elapsed, dead_letter);
        let agent_id = outcome.run.agent_id;
        // A retried commit answered as already applied wrote nothing now: its events are not
        // handed over (their seqs are not known here), followers read them as usual.
        let events = drafts.filter(|_| !outcome.replayed).map(|drafts| committed_events(&outcome, agent_id, drafts));
        self.fanout.publish_committed(agent_id, outcome.last_seq, events).await;
        if let Some(parent) = &outcome.woke_parent {
            tracing::info!(run_id = %parent.id, agent_id = %parent.agent_id, "last sub-agent ended: parent run queued");
        }
        // An ended run frees a slot; a delegation queued sub-agents (and may have woken a parent).
        if outcome.run.status.is_terminal() || outcome.run.status == RunStatus::WaitingChildren {
            self.placement_wakeup.notify_one();
        }
        Ok(outcome)
    }
}

impl Hub {
    /// Records a commit's metrics: its store time, and the end of its run when it ended it.
    fn record_commit(&self, outcome: &CommitOutcome, elapsed: std::time::Duration, dead_letter: bool) {
        let run = &outcome.run;
        let ended = (!outcome.replayed && run.status.is_terminal()).then(|| {
            let age_ms = agentry_core::clock::now_ms().saturating_sub(run.created_ms).max(0);
            (run.status, std::time::Duration::from_millis(age_ms as u64))
        });
        self.metrics.record_commit(elapsed, ended, dead_letter && !outcome.replayed);
        if matches!(outcome.budget, Some(BudgetDecision::Exceeded(_))) {
            self.metrics.budget_exceeded.inc();
        }
    }
}

/// Returns whether `event` dead-letters its run (`run_failed` with `dead_letter: true`).
fn is_dead_letter(event: &EventDraft) -> bool {
    event.kind == agentry_core::event::kind::RUN_FAILED && event.data["dead_letter"] == true
}

/// Returns the events of a commit as written: the drafts numbered up to `outcome.last_seq`.
fn committed_events(outcome: &CommitOutcome, agent_id: AgentId, drafts: Vec<EventDraft>) -> Arc<[TraceEvent]> {
    let first_seq = (outcome.last_seq + 1).saturating_sub(drafts.len() as u64);
    (first_seq..)
        .zip(drafts)
        .map(|(seq, draft)| TraceEvent {
            seq,
            agent_id,
            run_id: outcome.run.id,
            kind: draft.kind,
            data: draft.data,
            ts_ms: draft.ts_ms,
            trace: draft.trace,
        })
        .collect()
}

/// Returns a new run of `input` in its own distributed trace (see [`run_trace_parent`]).
fn new_run(input: String, caller: Option<TraceParent>) -> NewRun {
    let id = RunId::generate();
    NewRun { id, input, trace_parent: Some(run_trace_parent(id, caller)) }
}

/// Returns the span a new run's executions descend from: the RPC span that created it when
/// spans are exported (itself a child of the caller's context, if any), else the caller's
/// context, else a trace of its own whose id is the run id ([`TraceParent::of_run`]).
pub fn run_trace_parent(run_id: RunId, caller: Option<TraceParent>) -> TraceParent {
    agentry_telemetry::propagation::current_if_exported().or(caller).unwrap_or_else(|| TraceParent::of_run(run_id))
}
