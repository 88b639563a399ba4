//! PostgreSQL's short forms of two hot operations (`queries/postgres/*.sql`): a placement
//! batch is one statement (an `UPDATE` over arrays bound with `unnest`), a `LoadRun` two;
//! commits and Spawns are written by `groups.rs`, many per statement. Their semantics are those
//! of the shared [`SqlStore`] code they replace — same fences, same gap-free seqs, same
//! refusals — and the conformance suite checks both backends against the same assertions.

use sqlx::{Postgres, query_as};

use agentry_core::clock::now_ms;
use agentry_core::{Agent, NodeId, Run, RunId};

use crate::api::{RunContext, StoredMessage};
use crate::error::Result;
use crate::sql::queries::SELECT_MESSAGES;
use crate::sql::rows::{AgentRow, MessageRow, RunRow, to_db_int};
use crate::sql::{SqlStore, check_epoch, not_found};

const LOAD_RUN: &str = include_str!("../../queries/postgres/load_run.sql");
const ASSIGN_RUNS: &str = include_str!("../../queries/postgres/assign_runs.sql");

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
    started_tool_calls: Vec<String>,
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
    };
    let run = Run::try_from(row.run)?;
    check_epoch(&run, epoch)?;
    let agent = Agent::try_from(agent_row)?;
    let message_rows: Vec<MessageRow> =
        query_as(SELECT_MESSAGES).bind(agent.id.to_string()).fetch_all(store.pool()).await?;
    let messages = message_rows.into_iter().map(StoredMessage::try_from).collect::<Result<_>>()?;
    let started_tool_call_ids = row
        .started_tool_calls
        .iter()
        .filter_map(|data| serde_json::from_str::<serde_json::Value>(data).ok())
        .filter_map(|data| data["tool_call_id"].as_str().map(str::to_owned))
        .collect();
    Ok(RunContext { run, agent, messages, started_tool_call_ids })
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
