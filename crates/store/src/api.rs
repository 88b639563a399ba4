//! The [`Store`] trait and the records it reads and writes.

use std::collections::BTreeMap;

use async_trait::async_trait;

use agentry_core::{
    Agent, AgentId, AgentSpec, CommitBatch, Message, NodeId, NodeInfo, NodeState, Run, RunId, TraceEvent,
};

use crate::error::Result;
use crate::security::{AuditQuery, AuditRecord, TenantUsage};
use agentry_core::approval::{Approval, ApprovalDecision};
use agentry_core::budget::{BudgetDecision, BudgetLimits, BudgetState, Spend};
use agentry_core::message::ConversationSummary;

/// An agent to create.
#[derive(Debug, Clone)]
pub struct NewAgent {
    /// Its id (chosen by the caller).
    pub id: AgentId,
    /// A validated spec.
    pub spec: AgentSpec,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// Parent agent, for sub-agents.
    pub parent_id: Option<AgentId>,
    /// When set, a second create with the same key returns the first agent (and its first run)
    /// instead of creating another.
    pub idempotency_key: Option<String>,
    /// The budget its model calls draw from: its own or its parent's.
    pub budget_id: Option<String>,
    /// With `budget_id`: the limits of a budget created with the agent, in the same write
    /// (`None` when `budget_id` names an existing budget, e.g. the parent's).
    pub budget_limits: Option<BudgetLimits>,
    /// The tenant it belongs to (see [`Agent::tenant`]); [`agentry_core::DEFAULT_TENANT`] when
    /// authentication is off.
    pub tenant: String,
}

/// A run to create, `queued` and unplaced.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Its id (chosen by the caller).
    pub id: RunId,
    /// The user input; becomes the run's first message when a node starts it.
    pub input: String,
    /// The run's distributed trace (see [`agentry_core::Run::trace_parent`]).
    pub trace_parent: Option<agentry_core::TraceParent>,
}

/// How many runs have one status and placement (see [`Store::run_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunCount {
    /// Their status (one that has not ended).
    pub status: agentry_core::RunStatus,
    /// Whether a node holds them.
    pub placed: bool,
    /// How many.
    pub count: u64,
}

/// A run ready for placement, with what the scheduler needs to know about it.
#[derive(Debug, Clone)]
pub struct PlaceableRun {
    /// The run (`queued`, unplaced).
    pub run: Run,
    /// Labels its node must have (from the agent's spec).
    pub node_selector: BTreeMap<String, String>,
    /// The node of the agent's previous placed run, for sticky placement.
    pub previous_node: Option<NodeId>,
}

/// An agent with its most recent run.
#[derive(Debug, Clone)]
pub struct AgentSummary {
    /// The agent.
    pub agent: Agent,
    /// Its newest run, if any.
    pub latest_run: Option<Run>,
}

/// Which agents [`Store::list_agents`] returns: a page of a listing, newest first, filtered.
///
/// Every filter narrows the listing; [`AgentQuery::default`] (with a `limit`) lists everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentQuery {
    /// Most agents returned.
    pub limit: u32,
    /// Only agents whose latest run has one of these statuses (empty: no status filter, agents
    /// without a run included).
    pub statuses: Vec<agentry_core::RunStatus>,
    /// Only agents whose latest run was dead-lettered: `failed` by a node that gave up on it
    /// after too many deliveries (its error starts with `dead-lettered` and it has a
    /// `run_failed` event with `dead_letter: true`). With `statuses`, either matches.
    pub dead_lettered: bool,
    /// A search, case-insensitive (SQLite: ASCII letters only), matched literally (`%`, `_` and
    /// `\` match themselves). An agent matches when its id or its latest run's id starts with
    /// it, its spec's model contains it, or one of its label values contains it; text of the
    /// form `key=value` also matches the agent with exactly that label (key and value
    /// compared as they are). `None` (or empty): no search.
    pub text: Option<String>,
    /// Keyset cursor: only agents created before this one (with a smaller id; ids are UUIDv7,
    /// so id order is creation order). The last id of a page continues the listing.
    pub before: Option<AgentId>,
    /// Only agents of this tenant ([`Agent::tenant`], compared exactly); `None`: every tenant's.
    pub tenant: Option<String>,
}

impl AgentQuery {
    /// Returns the query of the newest `limit` agents, unfiltered.
    pub fn newest(limit: u32) -> Self {
        Self { limit, ..Self::default() }
    }
}

/// A conversation message with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// Position in the agent's conversation, from 0, gap-free.
    pub index: u64,
    /// The message; `run_id` is set.
    pub message: Message,
    /// Seq of the agent's trace at the commit that appended it (the commit's last event);
    /// `None` for messages stored before issue 14.
    pub seq: Option<u64>,
}

/// Everything a node needs to execute or resume a run.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The run (its epoch equals the one asked for).
    pub run: Run,
    /// Its agent.
    pub agent: Agent,
    /// The agent's whole committed conversation, in order.
    pub messages: Vec<StoredMessage>,
    /// Ids of this run's tool calls with a committed `tool_start`, in order.
    pub started_tool_call_ids: Vec<String>,
    /// The agent's latest conversation summary (its latest `summary` event), if any.
    pub summary: Option<ConversationSummary>,
    /// Decisions on this run's held tool calls (`approval_decided` events), in order.
    pub approvals: Vec<ApprovalDecision>,
    /// The sub-agents this run delegated to, with their outcome so far, ordered by tool call
    /// id then position; read only when the run's messages hold a delegation call (so a run
    /// without one costs no query).
    pub delegations: Vec<agentry_core::team::Delegation>,
}

/// Where a fork branches off its source agent's conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForkPoint {
    /// After the source's last commit.
    End,
    /// After the commit that wrote this seq of the source's trace.
    Seq(u64),
    /// After the first `n` messages.
    MessageIndex(u64),
    /// After step `step` (1-based model call) of run `run_id` of the source: its answer and
    /// the results of its tool calls.
    Step {
        /// The run.
        run_id: RunId,
        /// The step.
        step: u32,
    },
}

/// A fork to make: `forks.len()` new agents sharing `agent_id`'s conversation up to `point`.
#[derive(Debug, Clone)]
pub struct ForkPlan {
    /// The source agent.
    pub agent_id: AgentId,
    /// Where the forks branch off.
    pub point: ForkPoint,
    /// Ids of each fork's agent and of the run it continues with (chosen by the hub).
    pub forks: Vec<(AgentId, RunId)>,
    /// Overrides the forks' model.
    pub model: Option<String>,
    /// New user input the forks continue with (`None`: they continue the interrupted run).
    pub input: Option<String>,
    /// Labels of the forks (besides the source's, which they keep).
    pub labels: BTreeMap<String, String>,
    /// The forks' runs' distributed trace.
    pub trace_parent: Option<agentry_core::TraceParent>,
}

/// What a fork made.
#[derive(Debug, Clone)]
pub struct Forked {
    /// Each fork's agent and the (queued) run it continues with, in `ForkPlan::forks` order.
    pub forks: Vec<(Agent, Run)>,
    /// How many messages each fork copied.
    pub message_count: u64,
    /// The seq of the source's trace the forks branch at.
    pub at_seq: u64,
}

/// One agent of a delegation tree (`Store::agent_tree`).
#[derive(Debug, Clone)]
pub struct TreeEntry {
    /// The agent with its latest run.
    pub summary: AgentSummary,
    /// 0 for the root asked for, 1 for its sub-agents, ...
    pub depth: u32,
    /// Its model calls (`usage` events), all runs.
    pub calls: u64,
    /// Their input + output tokens.
    pub total_tokens: u64,
    /// Their cost, USD.
    pub cost_usd: f64,
}

/// What a commit wrote.
#[derive(Debug, Clone)]
pub struct CommitOutcome {
    /// The run after the commit.
    pub run: Run,
    /// The agent's `last_seq` after the commit.
    pub last_seq: u64,
    /// True when the commit was a retry of the one applied last, answered without writing.
    pub replayed: bool,
    /// What the store decided about the commit's budget operation; `None` without one, for an
    /// agent without a budget, or for a replay (whose reservation, if any, stands).
    pub budget: Option<BudgetDecision>,
    /// The parent run this commit queued again (its `wake_parent` was set and it ended the
    /// last of the parent's sub-agents to end), for the hub to place it.
    pub woke_parent: Option<Run>,
}

/// Which runs [`Store::release_node_runs`] takes back from a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseScope {
    /// Runs placed on the node that it has not started (draining).
    Unstarted,
    /// Every run it holds, started or not (its lease expired, or it left).
    All,
}

/// An operator's change to a run's lifecycle (see [`Store::control_run`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunControl {
    /// Ends a run that has not ended: `cancelled`, with the reason as its error.
    Cancel {
        /// Why; kept as the run's error.
        reason: String,
    },
    /// Stops a queued or running run and keeps it `paused`, unplaced.
    Pause {
        /// Why; shown as the run's wait reason.
        reason: String,
    },
    /// Queues a paused run again.
    Resume,
    /// Records a decision on the call a `waiting_approval` run waits for (`approval_decided`)
    /// and queues the run again.
    Decide(ApprovalDecision),
}

/// How [`Store::cost_report`] groups model calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostGrouping {
    /// By root agent id: a sub-agent's calls count toward the agent at the top of its tree
    /// (followed through `parent_id`).
    #[default]
    Agent,
    /// By the model named in the call's `usage` event (a configured model or route target, or
    /// `provider:model`); `-` when the event names none.
    Model,
    /// By the UTC date of the call, `YYYY-MM-DD`.
    Day,
    /// By the agent's tenant ([`Agent::tenant`]; a sub-agent's is its root's, which it
    /// inherits).
    Tenant,
}

impl CostGrouping {
    /// Returns the grouping's name as the SQL receives it: `agent`, `model`, `day` or `tenant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Model => "model",
            Self::Day => "day",
            Self::Tenant => "tenant",
        }
    }
}

/// One group of model calls in a cost report ([`Store::cost_report`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CostRow {
    /// The group: a root agent id, a model name, a `YYYY-MM-DD` date or a tenant (see
    /// [`CostGrouping`]).
    pub key: String,
    /// Model calls (`usage` events).
    pub calls: u64,
    /// Input (prompt) tokens, summed.
    pub input_tokens: u64,
    /// Output (completion) tokens, summed.
    pub output_tokens: u64,
    /// Input + output tokens, summed.
    pub total_tokens: u64,
    /// Cost in USD at the configured model prices, summed (0 for unpriced models).
    pub cost_usd: f64,
    /// With a bucketed report: the start of the row's time bucket, milliseconds since the Unix
    /// epoch (a multiple of the bucket's length); `None` otherwise.
    pub bucket_start_ms: Option<i64>,
}

/// A trace to load as a new, read-only agent (see [`Store::import_trace`]).
///
/// Built by the hub from a trace file (`agentry trace import`); only the trace is stored, not
/// the conversation (the agent has no messages).
#[derive(Debug, Clone)]
pub struct TraceImport {
    /// The new agent's id (chosen by the caller).
    pub agent_id: AgentId,
    /// Its spec (the model the trace names, or `imported`); never validated nor run.
    pub spec: AgentSpec,
    /// Its labels, those naming the origin included.
    pub labels: BTreeMap<String, String>,
    /// What it was imported from (the file name), kept as [`Agent::imported_from`].
    pub source: String,
    /// The tenant of the new agent: the importer's (see [`Agent::tenant`]).
    pub tenant: String,
    /// Its runs, in order of first appearance; each has ended.
    pub runs: Vec<ImportedRun>,
    /// The events in trace order, each with its run (one of `runs`); they get seqs `1..=n`.
    pub events: Vec<(RunId, agentry_core::EventDraft)>,
}

/// A run of a [`TraceImport`]: ended, never placed.
#[derive(Debug, Clone)]
pub struct ImportedRun {
    /// Its id (chosen by the caller).
    pub id: RunId,
    /// The input that started it, when the trace tells (else empty).
    pub input: String,
    /// How it ended: completed, failed or cancelled.
    pub status: agentry_core::RunStatus,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// Time of its first event, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Time of its last event, milliseconds since the Unix epoch.
    pub updated_ms: i64,
}

/// Leadership of the cluster's singleton duties (the reaper), held until dropped.
#[async_trait]
pub trait Leadership: Send {
    /// Returns whether leadership is still held (false once its database session is lost, since
    /// another replica may have taken over).
    async fn still_leading(&mut self) -> bool;
}

/// Durable state of the cluster. Implemented for PostgreSQL and SQLite; both pass the same
/// conformance suite (`tests/conformance.rs`).
///
/// Every method is atomic. Errors: [`crate::Error::NotFound`] for unknown ids,
/// [`crate::Error::StaleEpoch`] when a fenced call carries an old epoch,
/// [`crate::Error::Conflict`] when the state forbids the change.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates an agent and, when given, its first run (`queued`, unplaced).
    async fn create_agent(&self, agent: NewAgent, first_run: Option<NewRun>) -> Result<(Agent, Option<Run>)>;

    /// Returns an agent with its latest run.
    async fn get_agent(&self, agent_id: AgentId) -> Result<AgentSummary>;

    /// Lists agents with their latest runs, newest first (by id), at most `query.limit`, those
    /// `query` selects (see [`AgentQuery`]). One query, whatever the filters.
    async fn list_agents(&self, query: &AgentQuery) -> Result<Vec<AgentSummary>>;

    /// Appends a `queued`, unplaced run to an existing agent.
    async fn create_run(&self, agent_id: AgentId, run: NewRun) -> Result<Run>;

    /// Returns one run.
    async fn get_run(&self, run_id: RunId) -> Result<Run>;

    /// Returns the agent's runs that have not ended (queued, running, paused), oldest first.
    async fn active_runs(&self, agent_id: AgentId) -> Result<Vec<Run>>;

    /// Returns runs ready for placement, oldest first, at most `limit`: `queued` runs with no
    /// node, each the oldest queued run of an agent that has no placed, running or paused run.
    /// Runs of one agent therefore execute one at a time, in order.
    async fn placeable_runs(&self, limit: u32) -> Result<Vec<PlaceableRun>>;

    /// Records why an unplaced queued run at `epoch` waits (`None` clears it); a no-op when the
    /// run moved on meanwhile.
    async fn set_wait_reason(&self, run_id: RunId, epoch: u64, reason: Option<String>) -> Result<()>;

    /// Returns how many runs have not ended, per status and placement (for the hub's gauges);
    /// absent combinations have none.
    async fn run_counts(&self) -> Result<Vec<RunCount>>;

    /// Returns, per node, how many runs it holds: placed, running or paused. Nodes holding none
    /// are absent.
    async fn node_loads(&self) -> Result<Vec<(NodeId, u32)>>;

    /// Returns how many runs each node is executing (`running`), for the nodes with any. Each
    /// holds one task delivery its node has not acknowledged, which the reaper's lost task
    /// check accounts for.
    async fn running_loads(&self) -> Result<Vec<(NodeId, u32)>>;

    /// Takes back runs from `node_id` (which ones: `scope`) so they are placed again: each
    /// becomes `queued` and unplaced with its epoch bumped, so the node is fenced, and gets a
    /// `run_moved` event `{from_node_id, reason, epoch}`. Returns them.
    async fn release_node_runs(&self, node_id: NodeId, scope: ReleaseScope, reason: &str) -> Result<Vec<Run>>;

    /// Applies an operator's change to a run, fencing its node (epoch + 1) for cancel and
    /// pause, and appends the matching event (`run_cancelled {reason}`, `run_paused {reason,
    /// epoch}`, `run_resumed {}`). Returns the run.
    ///
    /// Errors: [`crate::Error::NotFound`]; [`crate::Error::Conflict`] when the run's status
    /// forbids it (cancel or pause of an ended run, resume of a run that is not paused).
    async fn control_run(&self, run_id: RunId, control: RunControl) -> Result<Run>;

    /// Returns the runs of `leases` (run, epoch executed under) that `node_id` no longer owns:
    /// missing, placed elsewhere, at another epoch, paused or ended. One query, whatever the
    /// number of leases.
    async fn revoked_runs(&self, node_id: NodeId, leases: &[(RunId, u64)]) -> Result<Vec<RunId>>;

    /// Marks dead every node (not already dead or left) whose last heartbeat is older than
    /// `cutoff_ms`; returns them.
    async fn expire_nodes(&self, cutoff_ms: i64) -> Result<Vec<NodeInfo>>;

    /// Tries to become the leader of the cluster's singleton duties. PostgreSQL: a session
    /// advisory lock, so one hub replica leads and another takes over when its session ends;
    /// SQLite (one hub): always granted. `None` when another replica leads.
    async fn try_lead(&self) -> Result<Option<Box<dyn Leadership>>>;

    /// Assigns a run to `node_id` and bumps its epoch, if its epoch is still `expected_epoch`
    /// (compare-and-set; [`crate::Error::StaleEpoch`] otherwise). The run stays `queued` until
    /// the node commits `running`.
    async fn assign_run(&self, run_id: RunId, node_id: NodeId, expected_epoch: u64) -> Result<Run>;

    /// Applies [`Store::assign_run`] to each `(run, node, expected epoch)` of `assignments` —
    /// on PostgreSQL in one statement — and returns the runs assigned; a run whose
    /// compare-and-set fails (placed by another hub replica, changed meanwhile) is skipped.
    async fn assign_runs(&self, assignments: &[(RunId, NodeId, u64)]) -> Result<Vec<Run>>;

    /// Clears the node of a run still at `epoch` that no node has started (e.g. the task could
    /// not be published), so that it is placed again.
    async fn unassign_run(&self, run_id: RunId, epoch: u64) -> Result<()>;

    /// Returns runs assigned to a node that has not started them (`queued` with a node) whose
    /// assignment is older than `older_than_ms` (their `updated_ms`), oldest first, at most
    /// `limit`. A node commits `running` as soon as it has loaded a run, so these are the
    /// candidates for a lost task: the hub's safety net (the reaper) checks each one's node
    /// queue and takes back those with no task waiting ([`Store::revoke_assignment`]).
    async fn stale_assignments(&self, older_than_ms: i64, limit: u32) -> Result<Vec<Run>>;

    /// Takes back a run assigned to a node that has not started it, if it is still `queued`
    /// there at `epoch` (compare-and-set): it becomes unplaced with its epoch bumped, so the
    /// task published for `epoch`, should it still arrive, is refused as stale. Returns the run
    /// then; `None` when it moved on (started, reassigned, unassigned, paused or ended).
    ///
    /// Unlike [`Store::unassign_run`], it fences: a late task cannot start the run between this
    /// call and the run's next assignment.
    async fn revoke_assignment(&self, run_id: RunId, epoch: u64) -> Result<Option<Run>>;

    /// Returns the run's context if its epoch is `epoch` ([`crate::Error::StaleEpoch`] otherwise).
    async fn load_run(&self, run_id: RunId, epoch: u64) -> Result<RunContext>;

    /// Appends events and messages and updates the status in one transaction, fenced by epoch.
    /// A run in a terminal state accepts no commit ([`crate::Error::Conflict`]).
    async fn commit(&self, batch: CommitBatch) -> Result<CommitOutcome>;

    /// Returns the agent's events with `seq > after_seq` (only `run_id`'s when given), in `seq`
    /// order, at most `limit`.
    async fn events_after(
        &self,
        agent_id: AgentId,
        run_id: Option<RunId>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<TraceEvent>>;

    /// Records a node that joined.
    async fn register_node(&self, node: NodeInfo) -> Result<()>;

    /// Extends a node's lease: sets `last_heartbeat_ms = now_ms` and `running`; returns the node.
    /// [`crate::Error::Conflict`] when the node is gone (dead or left): it must join again.
    async fn heartbeat(&self, node_id: NodeId, running: u32, now_ms: i64) -> Result<NodeInfo>;

    /// Sets a node's membership state; returns the node. [`crate::Error::Conflict`] when the
    /// node is gone (dead or left).
    async fn set_node_state(&self, node_id: NodeId, state: NodeState) -> Result<NodeInfo>;

    /// Lists every node, oldest first.
    async fn list_nodes(&self) -> Result<Vec<NodeInfo>>;

    /// Returns a budget.
    async fn get_budget(&self, id: &str) -> Result<BudgetState>;

    /// Raises a budget's limits by `add` (an unlimited dimension stays unlimited); returns it.
    async fn raise_budget(&self, id: &str, add: Spend) -> Result<BudgetState>;

    /// Sums the cost and tokens of model calls (`usage` events) with `ts_ms >= since_ms`
    /// (`None`: all time) of agents of `tenant` (`None`: every tenant's), one row per group of
    /// `by`, costliest first, then by key (bytewise). Calls of sub-agents count toward their
    /// root agent (for [`CostGrouping::Agent`]) and their own tenant (for
    /// [`CostGrouping::Tenant`]: the root's, which sub-agents inherit). Aggregated by the
    /// database in one query; no groups: empty.
    ///
    /// With `bucket_ms` (a positive length in milliseconds), each group is split further by
    /// time bucket: one row per (group, bucket) that has calls, the bucket of a call starting
    /// at `floor(ts_ms / bucket_ms) * bucket_ms` ([`CostRow::bucket_start_ms`]); rows are then
    /// ordered by key (bytewise), then by bucket start, oldest first (the cells of a heat-map).
    ///
    /// Errors: [`crate::Error::Conflict`] for a `bucket_ms` below 1 or above `i64::MAX / 2`.
    async fn cost_report(
        &self,
        by: CostGrouping,
        since_ms: Option<i64>,
        bucket_ms: Option<i64>,
        tenant: Option<&str>,
    ) -> Result<Vec<CostRow>>;

    /// Returns approval requests with their decisions, newest first: of `run_id` only when
    /// given, undecided only when `pending_only`, at most `limit`.
    async fn list_approvals(&self, run_id: Option<RunId>, pending_only: bool, limit: u32) -> Result<Vec<Approval>>;

    /// Returns the `(run, tool_call_id)` of every run waiting for an approval whose request
    /// expired by `now_ms`.
    async fn expired_approvals(&self, now_ms: i64) -> Result<Vec<(RunId, String)>>;

    /// Writes `import` in one transaction: a new agent marked read-only
    /// ([`Agent::imported_from`]) with `last_seq` = the number of events, its ended runs (never
    /// placeable), and its events numbered gap-free from 1 in order. Returns the agent and its
    /// runs, in order. Controls of those runs are then refused with [`crate::Error::Conflict`]
    /// naming the import ([`agentry_core::agent::read_only_import`]).
    ///
    /// Errors: [`crate::Error::Conflict`] when a run has not ended or an event names a run
    /// that is not among `import.runs` (nothing is written).
    async fn import_trace(&self, import: TraceImport) -> Result<(Agent, Vec<Run>)>;

    /// Makes the forks of `plan` in one transaction: per fork an agent (the source's spec with
    /// `model` overridden, its labels plus `plan.labels`, `forked_from` set, the source's budget
    /// and tenant), the messages up to the point copied (those of the run the point falls in
    /// moved to the fork's run, so the loop continues it; with `input`, the point moves back
    /// before an answer whose tool calls have no result, and a user message is appended), a
    /// queued run, and a `forked_from` event as seq 1.
    ///
    /// Errors: [`crate::Error::NotFound`] for an unknown agent or run;
    /// [`crate::Error::Conflict`] for a point outside the conversation or before the seqs of
    /// messages were recorded, or a read-only import.
    async fn fork_agent(&self, plan: ForkPlan) -> Result<Forked>;

    /// Returns an agent's whole committed conversation, in order.
    ///
    /// Errors: [`crate::Error::NotFound`] for an unknown agent.
    async fn list_messages(&self, agent_id: AgentId) -> Result<Vec<StoredMessage>>;

    /// Returns `agent_id` and its sub-agents (through `parent_id`), depth first, children oldest
    /// first, each with its model use; at most 10000 entries.
    ///
    /// Errors: [`crate::Error::NotFound`] for an unknown agent.
    async fn agent_tree(&self, agent_id: AgentId) -> Result<Vec<TreeEntry>>;

    /// Queues again every `waiting_children` run whose sub-agents have all ended, and returns
    /// them: the hub's safety net (the reaper calls it each pass) for an ending that did not
    /// carry `wake_parent` (e.g. a child cancelled by an operator).
    async fn wake_waiting_parents(&self) -> Result<Vec<Run>>;

    /// Appends `records` to the audit log in one transaction, in order; each gets the next id
    /// (their [`AuditRecord::id`] is ignored). The log is append-only: the database itself
    /// refuses to update or delete its rows (triggers of migration `11_security`).
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<()>;

    /// Returns the audit records `query` selects (see [`AuditQuery`]), newest first (by id), at
    /// most `query.limit` and at most [`crate::MAX_AUDIT_LIMIT`]. One query, whatever the
    /// filters.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;

    /// Returns how much `tenant` holds, for its limits: its agents (imports and forks included)
    /// and its runs that have not ended. Unknown tenants hold nothing (zeros, not an error).
    async fn tenant_usage(&self, tenant: &str) -> Result<TenantUsage>;
}
