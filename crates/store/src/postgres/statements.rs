//! PostgreSQL's one-round-trip forms of the hot operations (`queries/postgres/*.sql`): a commit,
//! a Spawn and a placement batch are each one statement (data-modifying CTEs over arrays bound
//! with `unnest`), a `LoadRun` two (three for a run that delegated); `groups.rs` writes many commits or Spawns per statement. Their semantics are those of the shared [`SqlStore`] code
//! they replace — same fences, same gap-free seqs, same refusals — and the conformance suite
//! checks both backends against the same assertions.

use sqlx::{PgConnection, Postgres, query_as};
use tracing::{debug, instrument};

use agentry_core::clock::now_ms;
use agentry_core::message::ConversationSummary;
use agentry_core::{Agent, CommitBatch, NodeId, Run, RunId};

use crate::api::{CommitOutcome, NewAgent, NewRun, RunContext, StoredMessage};
use crate::error::{Error, Result};
use crate::sql::queries::SELECT_MESSAGES;
use crate::sql::rows::{AgentRow, AgentSummaryRow, MessageRow, RunRow, json_text, to_db_int};
use crate::sql::{SqlStore, check_epoch, not_found, summary, teams};

const COMMIT: &str = include_str!("../../queries/postgres/commit.sql");
const CREATE_AGENT: &str = include_str!("../../queries/postgres/create_agent.sql");
const LOAD_RUN: &str = include_str!("../../queries/postgres/load_run.sql");
const ASSIGN_RUNS: &str = include_str!("../../queries/postgres/assign_runs.sql");

/// A row of `commit.sql`: the run after the commit and the agent's `last_seq`.
#[derive(Debug, sqlx::FromRow)]
struct CommittedRow {
    #[sqlx(flatten)]
    run: RunRow,
    agent_last_seq: i64,
}

/// A row of `load_run.sql`: the run, its agent's columns, its started tool calls' data.
#[derive(Debug, sqlx::FromRow)]
struct LoadRow {
    #[sqlx(flatten)]
    run: RunRow,
    agent_spec: String,
    agent_labels: String,
    agent_parent_id: Option<String>,
    agent_created_ms: i64,
    agent_last_seq: i64,
    agent_budget_id: Option<String>,
    agent_tenant: String,
    started_tool_calls: Vec<String>,
    approval_decisions: Vec<String>,
    latest_summary: Option<String>,
}

/// Creates an agent and its first run in one statement (see [`crate::Store::create_agent`]).
#[instrument(level = "debug", skip_all, fields(agent_id = %agent.id))]
pub(super) async fn create_agent(
    store: &SqlStore<Postgres>,
    agent: NewAgent,
    first_run: Option<NewRun>,
) -> Result<(Agent, Option<Run>)> {
    let traceparent = first_run.as_ref().and_then(|run| run.trace_parent).map(|trace| trace.to_string());
    let (run_id, input) = first_run.map(|run| (run.id.to_string(), run.input)).unzip();
    let row: Option<AgentSummaryRow> = query_as(CREATE_AGENT)
        .bind(agent.id.to_string())
        .bind(json_text("agent spec", serde_json::to_string(&agent.spec))?)
        .bind(json_text("agent labels", serde_json::to_string(&agent.labels))?)
        .bind(agent.parent_id.map(|parent_id| parent_id.to_string()))
        .bind(agent.idempotency_key.clone())
        .bind(now_ms())
        .bind(run_id)
        .bind(input.unwrap_or_default())
        .bind(agent.budget_id.clone())
        .bind(agent.budget_limits.is_some())
        .bind(agent.budget_limits.and_then(|limits| limits.max_tokens).map(to_db_int))
        .bind(agent.budget_limits.and_then(|limits| limits.max_cost_usd))
        .bind(traceparent)
        .bind(agent.tenant.clone())
        .fetch_optional(store.pool())
        .await?;
    match (row, agent.idempotency_key) {
        (Some(row), _) => summary(row).map(|summary| (summary.agent, summary.latest_run)),
        // Only a taken idempotency key makes the insert do nothing (a NULL key never does).
        (None, Some(key)) => {
            debug!(key, "idempotency key already used, returning its agent");
            store.agent_by_idempotency_key(&key).await
        }
        (None, None) => Err(Error::Conflict(format!("agent {} was not inserted", agent.id))),
    }
}

/// Returns a run's context in two statements (see [`crate::Store::load_run`]).
pub(super) async fn load_run(store: &SqlStore<Postgres>, run_id: RunId, epoch: u64) -> Result<RunContext> {
    let row: Option<LoadRow> = query_as(LOAD_RUN).bind(run_id.to_string()).fetch_optional(store.pool()).await?;
    let row = row.ok_or_else(|| not_found("run", run_id))?;
    let agent_row = AgentRow {
        id: row.run.agent_id.clone(),
        spec: row.agent_spec,
        labels: row.agent_labels,
        parent_id: row.agent_parent_id,
        created_ms: row.agent_created_ms,
        last_seq: row.agent_last_seq,
        budget_id: row.agent_budget_id,
        // Imported agents' runs are never placed, so never loaded.
        imported_from: None,
        // A node executes a fork's runs like any other; it needs no lineage.
        forked_from: None,
        forked_at_seq: None,
        tenant: row.agent_tenant,
    };
    let run = Run::try_from(row.run)?;
    check_epoch(&run, epoch)?;
    let agent = Agent::try_from(agent_row)?;
    let message_rows: Vec<MessageRow> =
        query_as(SELECT_MESSAGES).bind(agent.id.to_string()).fetch_all(store.pool()).await?;
    let messages: Vec<StoredMessage> = message_rows.into_iter().map(StoredMessage::try_from).collect::<Result<_>>()?;
    // A third statement only for a run that made a delegation call.
    let delegations = if teams::has_delegation_calls(&messages, run_id) {
        teams::delegations_of(store.pool(), run_id).await?
    } else {
        Vec::new()
    };
    let started_tool_call_ids = row
        .started_tool_calls
        .iter()
        .filter_map(|data| serde_json::from_str::<serde_json::Value>(data).ok())
        .filter_map(|data| data["tool_call_id"].as_str().map(str::to_owned))
        .collect();
    let summary = row
        .latest_summary
        .and_then(|data| serde_json::from_str::<serde_json::Value>(&data).ok())
        .and_then(|data| ConversationSummary::from_event(&data));
    let approvals = row.approval_decisions.iter().filter_map(|data| serde_json::from_str(data).ok()).collect();
    Ok(RunContext { run, agent, messages, started_tool_call_ids, summary, approvals, delegations })
}

/// Applies a commit in one statement (see [`crate::Store::commit`]).
#[instrument(level = "debug", skip_all, fields(run_id = %batch.run_id, epoch = batch.epoch))]
pub(super) async fn commit(store: &SqlStore<Postgres>, batch: CommitBatch) -> Result<CommitOutcome> {
    let (run_id, epoch, commit_id) = (batch.run_id, batch.epoch, batch.commit_id.clone());
    let mut connection = store.pool().acquire().await?;
    match commit_on(&mut connection, batch).await? {
        Some(outcome) => Ok(outcome),
        None => store.commit_refused(run_id, epoch, commit_id).await,
    }
}

/// Runs `commit.sql` for `batch` on `connection` (inside a transaction or not); `None` when
/// its fence refused it (nothing written).
pub(super) async fn commit_on(connection: &mut PgConnection, batch: CommitBatch) -> Result<Option<CommitOutcome>> {
    let mut kinds = Vec::with_capacity(batch.events.len());
    let mut data = Vec::with_capacity(batch.events.len());
    let mut timestamps = Vec::with_capacity(batch.events.len());
    let mut traceparents = Vec::with_capacity(batch.events.len());
    for event in batch.events {
        traceparents.push(event.trace.map(|trace| trace.to_string()));
        kinds.push(event.kind);
        data.push(json_text("event data", serde_json::to_string(&event.data))?);
        timestamps.push(event.ts_ms);
    }
    let mut roles = Vec::with_capacity(batch.messages.len());
    let mut contents = Vec::with_capacity(batch.messages.len());
    let mut tool_calls = Vec::with_capacity(batch.messages.len());
    let mut tool_call_ids = Vec::with_capacity(batch.messages.len());
    for message in batch.messages {
        roles.push(message.role.as_str().to_owned());
        contents.push(message.content);
        tool_calls.push(json_text("tool calls", serde_json::to_string(&message.tool_calls))?);
        tool_call_ids.push(message.tool_call_id);
    }
    let committed: Option<CommittedRow> = query_as(COMMIT)
        .bind(batch.run_id.to_string())
        .bind(to_db_int(batch.epoch))
        .bind(batch.status.map(|status| status.as_str().to_owned()))
        .bind(batch.error)
        .bind(now_ms())
        .bind(batch.commit_id.clone())
        .bind(kinds)
        .bind(data)
        .bind(timestamps)
        .bind(roles)
        .bind(contents)
        .bind(tool_calls)
        .bind(tool_call_ids)
        .bind(traceparents)
        .fetch_optional(&mut *connection)
        .await?;
    let Some(committed) = committed else {
        return Ok(None);
    };
    let run = Run::try_from(committed.run)?;
    let last_seq = u64::try_from(committed.agent_last_seq)
        .map_err(|_| Error::Corrupt(format!("agents.last_seq: {} is negative", committed.agent_last_seq)))?;
    debug!(last_seq, status = %run.status, "committed");
    Ok(Some(CommitOutcome { run, last_seq, replayed: false, budget: None, woke_parent: None }))
}

/// Applies a batch of compare-and-set assignments in one statement (see
/// [`crate::Store::assign_runs`]).
pub(super) async fn assign_runs(store: &SqlStore<Postgres>, assignments: &[(RunId, NodeId, u64)]) -> Result<Vec<Run>> {
    if assignments.is_empty() {
        return Ok(Vec::new());
    }
    let run_ids: Vec<String> = assignments.iter().map(|(run_id, _, _)| run_id.to_string()).collect();
    let epochs: Vec<i64> = assignments.iter().map(|(_, _, epoch)| to_db_int(*epoch)).collect();
    let node_ids: Vec<String> = assignments.iter().map(|(_, node_id, _)| node_id.to_string()).collect();
    let rows: Vec<RunRow> =
        query_as(ASSIGN_RUNS).bind(run_ids).bind(epochs).bind(node_ids).bind(now_ms()).fetch_all(store.pool()).await?;
    rows.into_iter().map(Run::try_from).collect()
}
