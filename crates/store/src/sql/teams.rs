//! Delegation (see [`agentry_core::team`]): the sub-agents a commit starts, in that commit's
//! transaction; the parent run queued again when its last sub-agent ends; a run's delegations
//! read back with how each ended.
//!
//! Waking is exactly-once under concurrency: each ending sub-agent locks its parent's run row
//! first (PostgreSQL: `SELECT ... FOR UPDATE`; SQLite serializes writers), then checks its
//! siblings in a new statement, whose snapshot therefore includes every sibling that ended
//! before it took the lock. The last one to end sees none at work and queues the parent; the
//! guard `status = 'waiting_children'` makes any later check (a retry, the reaper's
//! [`SqlStore::wake_waiting_parents`]) a no-op.

use std::collections::BTreeMap;

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Transaction, Type, query, query_as};
use tracing::debug;

use agentry_core::clock::now_ms;
use agentry_core::team::{ChildOutcome, Delegation, ROLE_LABEL, is_delegation_tool};
use agentry_core::{Agent, Run, RunId, RunStatus};

use super::queries::{INSERT_AGENT, SELECT_AGENT};
use super::rows::{AgentRow, RunRow, json_text, parse};
use super::{SqlStore, insert_run, not_found};
use crate::api::{NewRun, StoredMessage};
use crate::error::{Error, Result};

/// `queries/insert_delegation.sql`.
const INSERT_DELEGATION: &str = include_str!("../../queries/insert_delegation.sql");
/// `queries/select_delegations.sql`.
const SELECT_DELEGATIONS: &str = include_str!("../../queries/select_delegations.sql");
/// `queries/delegating_run.sql` (SQLite: writers are serialized, no lock to take).
const DELEGATING_RUN: &str = include_str!("../../queries/delegating_run.sql");
/// `queries/postgres/lock_delegating_run.sql`.
const LOCK_DELEGATING_RUN: &str = include_str!("../../queries/postgres/lock_delegating_run.sql");
/// `queries/wake_parent_run.sql`.
const WAKE_PARENT_RUN: &str = include_str!("../../queries/wake_parent_run.sql");
/// `queries/wake_waiting_parents.sql`.
const WAKE_WAITING_PARENTS: &str = include_str!("../../queries/wake_waiting_parents.sql");

/// A row of `select_delegations.sql`: a delegation with its sub-agent's first run.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DelegationRow {
    tool_call_id: String,
    position: i64,
    role: String,
    child_agent_id: String,
    child_run_id: String,
    input: String,
    status: String,
    error: Option<String>,
    answer: Option<String>,
}

impl TryFrom<DelegationRow> for Delegation {
    type Error = Error;

    fn try_from(row: DelegationRow) -> Result<Self> {
        let status = parse::<RunStatus>("runs.status", &row.status)?;
        Ok(Self {
            position: u32::try_from(row.position)
                .map_err(|_| Error::Corrupt(format!("delegations.position: {} is out of range", row.position)))?,
            child_agent_id: parse("delegations.child_agent_id", &row.child_agent_id)?,
            child_run_id: parse("delegations.child_run_id", &row.child_run_id)?,
            tool_call_id: row.tool_call_id,
            role: row.role,
            input: row.input,
            outcome: Some(ChildOutcome {
                status,
                answer: row.answer.filter(|_| status == RunStatus::Completed),
                error: row.error,
            }),
        })
    }
}

/// Returns whether `run_id`'s messages among `messages` hold a delegation call (`agent` or
/// `parallel_agents`): only then does loading the run read its delegations.
pub(crate) fn has_delegation_calls(messages: &[StoredMessage], run_id: RunId) -> bool {
    messages.iter().any(|stored| {
        stored.message.run_id == Some(run_id)
            && stored.message.tool_calls.iter().any(|call| is_delegation_tool(&call.name))
    })
}

/// Returns the sub-agents `run_id` delegated to, ordered by tool call id then position, each
/// with its outcome so far (the answer only once its run completed).
pub(crate) async fn delegations_of<'c, DB, E>(executor: E, run_id: RunId) -> Result<Vec<Delegation>>
where
    DB: Database,
    E: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> DelegationRow: FromRow<'r, DB::Row>,
{
    let rows: Vec<DelegationRow> = query_as(SELECT_DELEGATIONS).bind(run_id.to_string()).fetch_all(executor).await?;
    rows.into_iter().map(Delegation::try_from).collect()
}

/// Starts the sub-agents of `delegations` for `run` in `transaction`: for each, an agent (spec:
/// the role's in the team of `run`'s agent; labels: [`ROLE_LABEL`]; parent: `run`'s agent;
/// budget and tenant: its own), its first run (queued, unplaced, under `run`'s trace) and the
/// `delegations` row.
///
/// Errors: [`Error::Conflict`] naming a role the agent's team does not have (checked for every
/// delegation before anything is written; the caller rolls back the commit).
pub(crate) async fn start_children<DB>(
    transaction: &mut Transaction<'_, DB>,
    run: &Run,
    delegations: Vec<Delegation>,
) -> Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> AgentRow: FromRow<'r, DB::Row>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
{
    let parent_row: Option<AgentRow> =
        query_as(SELECT_AGENT).bind(run.agent_id.to_string()).fetch_optional(&mut **transaction).await?;
    let parent = Agent::try_from(parent_row.ok_or_else(|| not_found("agent", run.agent_id))?)?;
    let mut children = Vec::with_capacity(delegations.len());
    for delegation in delegations {
        let role = parent.spec.team.as_ref().and_then(|team| team.roles.get(&delegation.role));
        let Some(role) = role else {
            return Err(unknown_role(&parent, run.id, &delegation.role));
        };
        let spec = json_text("agent spec", serde_json::to_string(&role.spec))?;
        children.push((delegation, spec));
    }
    let now = now_ms();
    let parent_id = parent.id.to_string();
    for (delegation, spec) in children {
        let labels = BTreeMap::from([(ROLE_LABEL.to_owned(), delegation.role.clone())]);
        let _child: Option<AgentRow> = query_as(INSERT_AGENT)
            .bind(delegation.child_agent_id.to_string())
            .bind(spec)
            .bind(json_text("agent labels", serde_json::to_string(&labels))?)
            .bind(Some(parent_id.clone()))
            .bind(None::<String>)
            .bind(now)
            .bind(parent.budget_id.clone())
            .bind(parent.tenant.clone())
            .fetch_optional(&mut **transaction)
            .await?;
        let first_run = NewRun { id: delegation.child_run_id, input: delegation.input, trace_parent: run.trace_parent };
        insert_run(&mut **transaction, delegation.child_agent_id, first_run, now)
            .await?
            .ok_or_else(|| not_found("agent", delegation.child_agent_id))?;
        query(INSERT_DELEGATION)
            .bind(run.id.to_string())
            .bind(delegation.tool_call_id)
            .bind(i64::from(delegation.position))
            .bind(delegation.role)
            .bind(delegation.child_agent_id.to_string())
            .bind(delegation.child_run_id.to_string())
            .execute(&mut **transaction)
            .await?;
    }
    Ok(())
}

/// Names a role that `parent`'s team does not have.
fn unknown_role(parent: &Agent, run_id: RunId, role: &str) -> Error {
    let known = match &parent.spec.team {
        Some(team) if !team.roles.is_empty() => team.roles.keys().map(String::as_str).collect::<Vec<_>>().join(", "),
        _ => {
            return Error::Conflict(format!(
                "run {run_id} delegates to role {role:?}, but agent {} has no team",
                parent.id
            ));
        }
    };
    Error::Conflict(format!(
        "run {run_id} delegates to role {role:?}, which the team of agent {} lacks (roles: {known})",
        parent.id
    ))
}

/// Queues again the run that delegated to `child_run_id` (which just ended, in `transaction`)
/// if it waits for its sub-agents and none of them is still at work; returns it then. `None`
/// when `child_run_id` was not started by a delegation, its parent does not wait (anymore), or
/// a sibling is still at work.
pub(crate) async fn wake_parent<DB>(transaction: &mut Transaction<'_, DB>, child_run_id: RunId) -> Result<Option<Run>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
{
    // SQLite has no row locks (and needs none: its writers are serialized).
    let lock = if DB::NAME == "PostgreSQL" { LOCK_DELEGATING_RUN } else { DELEGATING_RUN };
    let parent: Option<RunRow> =
        query_as(lock).bind(child_run_id.to_string()).fetch_optional(&mut **transaction).await?;
    let Some(parent) = parent.map(Run::try_from).transpose()? else {
        return Ok(None);
    };
    if parent.status != RunStatus::WaitingChildren {
        return Ok(None);
    }
    // A new statement: it sees every sibling that ended before the lock was granted.
    let woken: Option<RunRow> =
        query_as(WAKE_PARENT_RUN).bind(parent.id.to_string()).bind(now_ms()).fetch_optional(&mut **transaction).await?;
    let woken = woken.map(Run::try_from).transpose()?;
    if let Some(woken) = &woken {
        debug!(parent_run_id = %woken.id, %child_run_id, "last sub-agent ended: parent queued again");
    }
    Ok(woken)
}

impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
{
    pub(crate) async fn wake_waiting_parents(&self) -> Result<Vec<Run>> {
        let rows: Vec<RunRow> = query_as(WAKE_WAITING_PARENTS).bind(now_ms()).fetch_all(self.pool()).await?;
        let mut woken = rows.into_iter().map(Run::try_from).collect::<Result<Vec<_>>>()?;
        woken.sort_by_key(|run| run.id);
        if !woken.is_empty() {
            debug!(woken = woken.len(), "waiting parents queued again by the safety net");
        }
        Ok(woken)
    }
}
