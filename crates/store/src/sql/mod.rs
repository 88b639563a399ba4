//! The store logic, written once over any sqlx database that speaks the shared SQL.
//!
//! [`SqlStore`] holds the semantics (fencing, sequence numbering, idempotency); the backends
//! only open a pool and run their migrations, then forward every [`crate::Store`] method here
//! with [`forward_store!`]. Fences are checked by guarded `UPDATE ... RETURNING` statements:
//! the `UPDATE` takes the row lock and checks its `WHERE` under it, so a missing row means the
//! guard failed, and the run is then read once more only to name the reason.

pub(crate) mod approvals;
mod audit;
pub(crate) mod budget;
mod commit;
mod cost;
mod fork;
mod forward;
pub(crate) mod group;
mod import;
mod lifecycle;
mod listing;
pub(crate) mod queries;
pub(crate) mod rows;
pub(crate) mod teams;
mod tree;

pub(crate) use forward::forward_store;

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type, query, query_as};
use tracing::{debug, instrument};

use agentry_core::clock::now_ms;
use agentry_core::message::ConversationSummary;
use agentry_core::{Agent, AgentId, CommitBatch, NodeId, NodeInfo, NodeState, Run, RunId, RunStatus, TraceEvent};

use crate::api::{AgentSummary, CommitOutcome, NewAgent, NewRun, PlaceableRun, RunContext, RunCount, StoredMessage};
use crate::error::{Error, Result};
use commit::Written;
use queries::*;
use rows::{
    AgentPositions, AgentRow, AgentSummaryRow, BudgetRow, CommitMarkerRow, EventRow, KindDataRow, MessageRow,
    NodeLoadRow, NodeRow, PlaceableRow, RunBudgetRow, RunCountRow, RunRow, json_text, to_db_int,
};

/// The store over a pool of `DB` connections.
#[derive(Debug)]
pub(crate) struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> SqlStore<DB> {
    /// Wraps a pool whose database is migrated.
    pub(crate) fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }

    /// Returns the pool.
    pub(crate) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

// The bounds say: `DB` runs queries on its connections, encodes the three column types we
// bind, and decodes every row type. Both PostgreSQL and SQLite satisfy them.
impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<f64>: Encode<'q, DB> + Type<DB>,
    for<'r> AgentRow: FromRow<'r, DB::Row>,
    for<'r> AgentSummaryRow: FromRow<'r, DB::Row>,
    for<'r> AgentPositions: FromRow<'r, DB::Row>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
    for<'r> MessageRow: FromRow<'r, DB::Row>,
    for<'r> EventRow: FromRow<'r, DB::Row>,
    for<'r> NodeRow: FromRow<'r, DB::Row>,
    for<'r> PlaceableRow: FromRow<'r, DB::Row>,
    for<'r> NodeLoadRow: FromRow<'r, DB::Row>,
    for<'r> RunCountRow: FromRow<'r, DB::Row>,
    for<'r> CommitMarkerRow: FromRow<'r, DB::Row>,
    for<'r> KindDataRow: FromRow<'r, DB::Row>,
    for<'r> RunBudgetRow: FromRow<'r, DB::Row>,
    for<'r> BudgetRow: FromRow<'r, DB::Row>,
    for<'r> teams::DelegationRow: FromRow<'r, DB::Row>,
{
    #[instrument(level = "debug", skip_all, fields(agent_id = %agent.id))]
    pub(crate) async fn create_agent(
        &self,
        agent: NewAgent,
        first_run: Option<NewRun>,
    ) -> Result<(Agent, Option<Run>)> {
        let now = now_ms();
        let mut transaction = self.pool.begin().await?;
        if let (Some(id), Some(limits)) = (&agent.budget_id, agent.budget_limits) {
            query(INSERT_BUDGET)
                .bind(id.clone())
                .bind(limits.max_tokens.map(to_db_int))
                .bind(limits.max_cost_usd)
                .bind(now)
                .execute(&mut *transaction)
                .await?;
        }
        let inserted: Option<AgentRow> = query_as(INSERT_AGENT)
            .bind(agent.id.to_string())
            .bind(json_text("agent spec", serde_json::to_string(&agent.spec))?)
            .bind(json_text("agent labels", serde_json::to_string(&agent.labels))?)
            .bind(agent.parent_id.map(|parent_id| parent_id.to_string()))
            .bind(agent.idempotency_key.clone())
            .bind(now)
            .bind(agent.budget_id.clone())
            .bind(agent.tenant.clone())
            .fetch_optional(&mut *transaction)
            .await?;
        let Some(inserted) = inserted else {
            // Only a taken idempotency key makes the insert do nothing (a NULL key never does).
            transaction.rollback().await?;
            let Some(key) = agent.idempotency_key else {
                return Err(Error::Conflict(format!("agent {} was not inserted", agent.id)));
            };
            debug!(key, "idempotency key already used, returning its agent");
            return self.agent_by_idempotency_key(&key).await;
        };
        let created = Agent::try_from(inserted)?;
        let run = match first_run {
            Some(new_run) => Some(
                insert_run(&mut *transaction, created.id, new_run, now)
                    .await?
                    .ok_or_else(|| not_found("agent", created.id))?,
            ),
            None => None,
        };
        transaction.commit().await?;
        Ok((created, run))
    }

    pub(crate) async fn agent_by_idempotency_key(&self, key: &str) -> Result<(Agent, Option<Run>)> {
        let row: Option<AgentRow> =
            query_as(SELECT_AGENT_BY_IDEMPOTENCY_KEY).bind(key.to_owned()).fetch_optional(&self.pool).await?;
        let row =
            row.ok_or_else(|| Error::Conflict(format!("idempotency key {key:?} is taken but no agent has it")))?;
        let agent = Agent::try_from(row)?;
        let first_run: Option<RunRow> =
            query_as(SELECT_FIRST_RUN).bind(agent.id.to_string()).fetch_optional(&self.pool).await?;
        Ok((agent, first_run.map(Run::try_from).transpose()?))
    }

    pub(crate) async fn get_agent(&self, agent_id: AgentId) -> Result<AgentSummary> {
        let row: Option<AgentSummaryRow> =
            query_as(SELECT_AGENT_SUMMARY).bind(agent_id.to_string()).fetch_optional(&self.pool).await?;
        summary(row.ok_or_else(|| not_found("agent", agent_id))?)
    }

    pub(crate) async fn create_run(&self, agent_id: AgentId, run: NewRun) -> Result<Run> {
        insert_run(&self.pool, agent_id, run, now_ms()).await?.ok_or_else(|| not_found("agent", agent_id))
    }

    pub(crate) async fn get_run(&self, run_id: RunId) -> Result<Run> {
        self.find_run(run_id).await?.ok_or_else(|| not_found("run", run_id))
    }

    async fn find_run(&self, run_id: RunId) -> Result<Option<Run>> {
        let row: Option<RunRow> = query_as(SELECT_RUN).bind(run_id.to_string()).fetch_optional(&self.pool).await?;
        row.map(Run::try_from).transpose()
    }

    pub(crate) async fn placeable_runs(&self, limit: u32) -> Result<Vec<PlaceableRun>> {
        let rows: Vec<PlaceableRow> = query_as(PLACEABLE_RUNS).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.into_iter().map(PlaceableRun::try_from).collect()
    }

    pub(crate) async fn set_wait_reason(&self, run_id: RunId, epoch: u64, reason: Option<String>) -> Result<()> {
        query(SET_WAIT_REASON).bind(run_id.to_string()).bind(to_db_int(epoch)).bind(reason).execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn run_counts(&self) -> Result<Vec<RunCount>> {
        let rows: Vec<RunCountRow> = query_as(RUN_COUNTS).fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|row| {
                Ok(RunCount {
                    status: rows::parse::<RunStatus>("runs.status", &row.status)?,
                    placed: row.placed != 0,
                    count: u64::try_from(row.count).unwrap_or_default(),
                })
            })
            .collect()
    }

    pub(crate) async fn node_loads(&self) -> Result<Vec<(NodeId, u32)>> {
        let rows: Vec<NodeLoadRow> = query_as(NODE_LOADS).fetch_all(&self.pool).await?;
        rows.into_iter().map(<(NodeId, u32)>::try_from).collect()
    }

    pub(crate) async fn running_loads(&self) -> Result<Vec<(NodeId, u32)>> {
        let rows: Vec<NodeLoadRow> = query_as(RUNNING_LOADS).fetch_all(&self.pool).await?;
        rows.into_iter().map(<(NodeId, u32)>::try_from).collect()
    }

    pub(crate) async fn set_node_state(&self, node_id: NodeId, state: NodeState) -> Result<NodeInfo> {
        let row: Option<NodeRow> = query_as(SET_NODE_STATE)
            .bind(node_id.to_string())
            .bind(state.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => NodeInfo::try_from(row),
            None => Err(self.node_refusal(node_id).await),
        }
    }

    /// Names why a guarded update of a node matched no row: it is unknown or gone.
    async fn node_refusal(&self, node_id: NodeId) -> Error {
        let row: Option<NodeRow> =
            match query_as(SELECT_NODE).bind(node_id.to_string()).fetch_optional(&self.pool).await {
                Ok(row) => row,
                Err(error) => return error.into(),
            };
        match row.map(NodeInfo::try_from) {
            None => not_found("node", node_id),
            Some(Err(error)) => error,
            Some(Ok(node)) => Error::Conflict(format!(
                "node {node_id} is {}: its runs were taken back; a node that comes back joins under a new id",
                node.state
            )),
        }
    }

    #[instrument(level = "debug", skip_all, fields(%run_id, %node_id, expected_epoch))]
    pub(crate) async fn assign_run(&self, run_id: RunId, node_id: NodeId, expected_epoch: u64) -> Result<Run> {
        let assigned: Option<RunRow> = query_as(ASSIGN_RUN)
            .bind(run_id.to_string())
            .bind(to_db_int(expected_epoch))
            .bind(node_id.to_string())
            .bind(now_ms())
            .fetch_optional(&self.pool)
            .await?;
        match assigned {
            Some(row) => Run::try_from(row),
            None => Err(refusal(Guard::Assign, run_id, expected_epoch, self.find_run(run_id).await?)),
        }
    }

    /// Assigns each run in turn (the generic form of [`crate::Store::assign_runs`]); runs whose
    /// compare-and-set fails are skipped.
    pub(crate) async fn assign_runs(&self, assignments: &[(RunId, NodeId, u64)]) -> Result<Vec<Run>> {
        let mut assigned = Vec::with_capacity(assignments.len());
        for &(run_id, node_id, expected_epoch) in assignments {
            match self.assign_run(run_id, node_id, expected_epoch).await {
                Ok(run) => assigned.push(run),
                Err(Error::StaleEpoch { .. } | Error::Conflict(_) | Error::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(assigned)
    }

    pub(crate) async fn unassign_run(&self, run_id: RunId, epoch: u64) -> Result<()> {
        let unassigned: Option<RunRow> = query_as(UNASSIGN_RUN)
            .bind(run_id.to_string())
            .bind(to_db_int(epoch))
            .bind(now_ms())
            .fetch_optional(&self.pool)
            .await?;
        if unassigned.is_none() && self.find_run(run_id).await?.is_none() {
            return Err(not_found("run", run_id));
        }
        Ok(())
    }

    pub(crate) async fn load_run(&self, run_id: RunId, epoch: u64) -> Result<RunContext> {
        let run = self.get_run(run_id).await?;
        check_epoch(&run, epoch)?;
        let agent_row: Option<AgentRow> =
            query_as(SELECT_AGENT).bind(run.agent_id.to_string()).fetch_optional(&self.pool).await?;
        let agent = Agent::try_from(agent_row.ok_or_else(|| not_found("agent", run.agent_id))?)?;
        let message_rows: Vec<MessageRow> =
            query_as(SELECT_MESSAGES).bind(agent.id.to_string()).fetch_all(&self.pool).await?;
        let messages: Vec<StoredMessage> =
            message_rows.into_iter().map(StoredMessage::try_from).collect::<Result<_>>()?;
        // Only a run that made a delegation call pays for reading its delegations.
        let delegations = if teams::has_delegation_calls(&messages, run_id) {
            teams::delegations_of(&self.pool, run_id).await?
        } else {
            Vec::new()
        };
        let events: Vec<KindDataRow> = query_as(SELECT_LOAD_EVENTS)
            .bind(agent.id.to_string())
            .bind(run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut started_tool_call_ids = Vec::new();
        let mut summary = None;
        let mut approvals = Vec::new();
        for row in events {
            let Ok(data) = serde_json::from_str::<serde_json::Value>(&row.data) else { continue };
            if row.kind == agentry_core::event::kind::SUMMARY {
                summary = ConversationSummary::from_event(&data).or(summary);
            } else if row.kind == agentry_core::event::kind::APPROVAL_DECIDED {
                approvals.extend(serde_json::from_value(data).ok());
            } else if let Some(id) = data["tool_call_id"].as_str() {
                started_tool_call_ids.push(id.to_owned());
            }
        }
        Ok(RunContext { run, agent, messages, started_tool_call_ids, summary, approvals, delegations })
    }

    /// Applies a group of commits (see [`crate::Store::commit`]) with [`commit::write_group`],
    /// then names the reason of each refused one; answers each, in order.
    pub(crate) async fn commit_group(&self, batches: Vec<CommitBatch>) -> Vec<Result<CommitOutcome>> {
        let count = batches.len();
        // Written first and released before refusals are read: SQLite's pool has one connection.
        let written = match commit::write_group(&self.pool, batches).await {
            Ok(written) => written,
            Err(error) => return commit::repeat_error(count, error),
        };
        let mut outcomes = Vec::with_capacity(count);
        for step in written {
            outcomes.push(match step {
                Written::Applied(outcome) => Ok(*outcome),
                Written::Refused { run_id, epoch, commit_id } => self.commit_refused(run_id, epoch, commit_id).await,
                Written::Failed(error) => Err(error),
            });
        }
        outcomes
    }

    /// Answers a commit whose guarded update matched no row: a retry of the commit applied last
    /// is answered as applied; anything else is refused with its reason.
    pub(crate) async fn commit_refused(
        &self,
        run_id: RunId,
        epoch: u64,
        commit_id: Option<String>,
    ) -> Result<CommitOutcome> {
        let current = self.find_run(run_id).await?;
        if let (Some(run), Some(commit_id)) = (&current, commit_id)
            && run.epoch == epoch
        {
            let marker: Option<CommitMarkerRow> =
                query_as(SELECT_COMMIT_MARKER).bind(run_id.to_string()).fetch_optional(&self.pool).await?;
            if let Some(marker) = marker.filter(|marker| marker.last_commit_id.as_deref() == Some(&commit_id)) {
                debug!(%run_id, commit_id, "retried commit already applied");
                let last_seq = u64::try_from(marker.last_seq).unwrap_or_default();
                return Ok(CommitOutcome {
                    run: run.clone(),
                    last_seq,
                    replayed: true,
                    budget: None,
                    woke_parent: None,
                });
            }
        }
        Err(refusal(Guard::Commit, run_id, epoch, current))
    }

    pub(crate) async fn events_after(
        &self,
        agent_id: AgentId,
        run_id: Option<RunId>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<TraceEvent>> {
        let rows: Vec<EventRow> = query_as(EVENTS_AFTER)
            .bind(agent_id.to_string())
            .bind(to_db_int(after_seq))
            .bind(run_id.map(|run_id| run_id.to_string()))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        if rows.is_empty() {
            // No events: tell an unknown agent apart from a quiet one.
            let agent: Option<AgentRow> =
                query_as(SELECT_AGENT).bind(agent_id.to_string()).fetch_optional(&self.pool).await?;
            agent.ok_or_else(|| not_found("agent", agent_id))?;
        }
        rows.into_iter().map(TraceEvent::try_from).collect()
    }

    pub(crate) async fn register_node(&self, node: NodeInfo) -> Result<()> {
        query(UPSERT_NODE)
            .bind(node.id.to_string())
            .bind(node.name)
            .bind(node.state.as_str().to_owned())
            .bind(i64::from(node.slots))
            .bind(i64::from(node.running))
            .bind(json_text("node labels", serde_json::to_string(&node.labels))?)
            .bind(node.last_heartbeat_ms)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn heartbeat(&self, node_id: NodeId, running: u32, now_ms: i64) -> Result<NodeInfo> {
        let row: Option<NodeRow> = query_as(HEARTBEAT_NODE)
            .bind(node_id.to_string())
            .bind(i64::from(running))
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => NodeInfo::try_from(row),
            None => Err(self.node_refusal(node_id).await),
        }
    }

    pub(crate) async fn list_nodes(&self) -> Result<Vec<NodeInfo>> {
        let rows: Vec<NodeRow> = query_as(LIST_NODES).fetch_all(&self.pool).await?;
        rows.into_iter().map(NodeInfo::try_from).collect()
    }
}

/// Inserts a `queued`, unplaced run; returns `None` when the agent does not exist.
async fn insert_run<'c, DB, E>(executor: E, agent_id: AgentId, run: NewRun, now: i64) -> Result<Option<Run>>
where
    DB: Database,
    E: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
{
    let row: Option<RunRow> = query_as(INSERT_RUN)
        .bind(run.id.to_string())
        .bind(agent_id.to_string())
        .bind(run.input)
        .bind(now)
        .bind(run.trace_parent.map(|trace| trace.to_string()))
        .fetch_optional(executor)
        .await?;
    row.map(Run::try_from).transpose()
}

pub(crate) fn summary(row: AgentSummaryRow) -> Result<AgentSummary> {
    let (agent, latest_run) = row.into_parts()?;
    Ok(AgentSummary { agent, latest_run })
}

pub(crate) fn not_found(what: &'static str, id: impl ToString) -> Error {
    Error::NotFound { what, id: id.to_string() }
}

pub(crate) fn check_epoch(run: &Run, epoch: u64) -> Result<()> {
    if run.epoch == epoch {
        Ok(())
    } else {
        Err(Error::StaleEpoch { run_id: run.id, given: epoch, current: run.epoch })
    }
}

/// The guarded update that matched no row.
#[derive(Clone, Copy)]
enum Guard {
    /// `commit_run.sql`: the run must be at the epoch and not terminal.
    Commit,
    /// `assign_run.sql`: the run must be at the epoch and queued.
    Assign,
}

/// Names why a guarded update of run `run_id` at `epoch` matched no row, given the run as it
/// is now: it is missing, its epoch moved, or its status forbids the change. Epochs only grow
/// and terminal states are final, so the reason read now is the reason the update failed.
fn refusal(guard: Guard, run_id: RunId, epoch: u64, current: Option<Run>) -> Error {
    let Some(run) = current else {
        return not_found("run", run_id);
    };
    if let Err(stale) = check_epoch(&run, epoch) {
        return stale;
    }
    match (guard, run.status) {
        (Guard::Commit, status) if status.is_terminal() => {
            Error::Conflict(format!("run {run_id} is {status}: a finished run accepts no commit"))
        }
        (Guard::Assign, status) if status != RunStatus::Queued => {
            Error::Conflict(format!("run {run_id} is {status}, not queued: it cannot be assigned"))
        }
        _ => Error::Conflict(format!("run {run_id} changed concurrently; read it again")),
    }
}
