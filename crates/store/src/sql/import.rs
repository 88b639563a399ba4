//! Imported traces: a trace file loaded as a new, read-only agent ([`crate::Store::import_trace`]),
//! and the refusal that names the import when one of its runs is controlled.
//!
//! The whole import is one transaction. Runs and events go in multi-row `INSERT`s (the rows
//! appended to `queries/insert_imported_*.sql`), so a large trace costs a few statements, not
//! one per event.

use std::collections::HashSet;

use sqlx::database::HasStatementCache;
use sqlx::{AssertSqlSafe, Database, Encode, Executor, FromRow, IntoArguments, Transaction, Type, query, query_as};
use tracing::{debug, instrument};

use agentry_core::agent::read_only_import;
use agentry_core::clock::now_ms;
use agentry_core::{Agent, AgentId, Run};

use super::queries::SELECT_AGENT;
use super::rows::{AgentRow, json_text, to_db_int};
use super::{SqlStore, not_found};
use crate::api::{ImportedRun, TraceImport};
use crate::error::{Error, Result};

/// `queries/insert_imported_agent.sql`.
const INSERT_IMPORTED_AGENT: &str = include_str!("../../queries/insert_imported_agent.sql");
/// `queries/insert_imported_runs.sql`: the statement up to `VALUES`; rows are appended.
const INSERT_IMPORTED_RUNS: &str = include_str!("../../queries/insert_imported_runs.sql");
/// `queries/insert_imported_events.sql`: the statement up to `VALUES`; rows are appended.
const INSERT_IMPORTED_EVENTS: &str = include_str!("../../queries/insert_imported_events.sql");

/// Rows per multi-row `INSERT`: 7 parameters a run and 6 an event stay far below both
/// databases' limits on bound parameters (SQLite 32766, PostgreSQL 65535).
const ROWS_PER_STATEMENT: usize = 1000;

impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> AgentRow: FromRow<'r, DB::Row>,
    // Statements built per import are not kept prepared (`persistent(false)`).
    DB: HasStatementCache,
{
    #[instrument(level = "debug", skip_all, fields(agent_id = %import.agent_id, events = import.events.len()))]
    pub(crate) async fn import_trace(&self, import: TraceImport) -> Result<(Agent, Vec<Run>)> {
        check_import(&import)?;
        let agent_id = import.agent_id.to_string();
        let mut transaction = self.pool().begin().await?;
        let row: AgentRow = query_as(INSERT_IMPORTED_AGENT)
            .bind(agent_id.clone())
            .bind(json_text("agent spec", serde_json::to_string(&import.spec))?)
            .bind(json_text("agent labels", serde_json::to_string(&import.labels))?)
            .bind(now_ms())
            .bind(to_db_int(import.events.len() as u64))
            .bind(import.source.clone())
            .bind(import.tenant.clone())
            .fetch_one(&mut *transaction)
            .await?;
        let agent = Agent::try_from(row)?;
        for runs in import.runs.chunks(ROWS_PER_STATEMENT) {
            insert_runs(&mut transaction, &agent_id, runs).await?;
        }
        for (chunk_index, events) in import.events.chunks(ROWS_PER_STATEMENT).enumerate() {
            let first_seq = (chunk_index * ROWS_PER_STATEMENT) as u64 + 1;
            insert_events(&mut transaction, &agent_id, first_seq, events).await?;
        }
        transaction.commit().await?;
        debug!(source = import.source, "trace imported");
        let runs = import.runs.into_iter().map(|run| imported_run(agent.id, run)).collect();
        Ok((agent, runs))
    }
}

impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> AgentRow: FromRow<'r, DB::Row>,
{
    /// Returns the refusal naming the import when `agent_id` is a read-only import, for a run
    /// control that its guard refused (imported runs have all ended, so every control is
    /// refused there first: live agents never pay for this read).
    pub(crate) async fn read_only_refusal(&self, agent_id: AgentId) -> Result<Option<Error>> {
        let row: Option<AgentRow> =
            query_as(SELECT_AGENT).bind(agent_id.to_string()).fetch_optional(self.pool()).await?;
        let agent = Agent::try_from(row.ok_or_else(|| not_found("agent", agent_id))?)?;
        Ok(agent.imported_from.map(|source| Error::Conflict(read_only_import(agent_id, &source))))
    }
}

/// Checks what the trait promises to refuse: runs that have not ended, events of unknown runs.
fn check_import(import: &TraceImport) -> Result<()> {
    if let Some(run) = import.runs.iter().find(|run| !run.status.is_terminal()) {
        return Err(Error::Conflict(format!(
            "imported run {} is {}: an imported run must have ended (completed, failed or cancelled)",
            run.id, run.status
        )));
    }
    let known: HashSet<_> = import.runs.iter().map(|run| run.id).collect();
    if let Some((index, (run_id, _))) =
        import.events.iter().enumerate().find(|(_, (run_id, _))| !known.contains(run_id))
    {
        return Err(Error::Conflict(format!("imported event {index} names run {run_id}, which the import lacks")));
    }
    Ok(())
}

/// Inserts `runs` of agent `agent_id` in one statement.
async fn insert_runs<DB>(transaction: &mut Transaction<'_, DB>, agent_id: &str, runs: &[ImportedRun]) -> Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    DB: HasStatementCache,
{
    let sql = format!("{INSERT_IMPORTED_RUNS}{}", value_rows(runs.len(), 7, ", 0, NULL"));
    // Its text varies with the row count: kept prepared, it would crowd the statement cache.
    let mut statement = query(AssertSqlSafe(sql)).persistent(false);
    for run in runs {
        statement = statement
            .bind(run.id.to_string())
            .bind(agent_id.to_owned())
            .bind(run.status.as_str().to_owned())
            .bind(run.input.clone())
            .bind(run.error.clone())
            .bind(run.created_ms)
            .bind(run.updated_ms);
    }
    statement.execute(&mut **transaction).await?;
    Ok(())
}

/// Inserts `events` of agent `agent_id` in one statement, numbered from `first_seq`.
async fn insert_events<DB>(
    transaction: &mut Transaction<'_, DB>,
    agent_id: &str,
    first_seq: u64,
    events: &[(agentry_core::RunId, agentry_core::EventDraft)],
) -> Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    DB: HasStatementCache,
{
    let sql = format!("{INSERT_IMPORTED_EVENTS}{}", value_rows(events.len(), 6, ""));
    let mut statement = query(AssertSqlSafe(sql)).persistent(false);
    for (seq, (run_id, event)) in (first_seq..).zip(events) {
        statement = statement
            .bind(agent_id.to_owned())
            .bind(to_db_int(seq))
            .bind(run_id.to_string())
            .bind(event.kind.clone())
            .bind(json_text("event data", serde_json::to_string(&event.data))?)
            .bind(event.ts_ms);
    }
    statement.execute(&mut **transaction).await?;
    Ok(())
}

/// Returns `rows` rows of `columns` numbered parameters each, then `tail` (literal columns):
/// `($1, $2, 0), ($3, $4, 0)` for 2, 2, `", 0"`.
pub(super) fn value_rows(rows: usize, columns: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        sql.push_str(if row == 0 { "\n(" } else { ",\n(" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * columns + column + 1));
        }
        sql.push_str(tail);
        sql.push(')');
    }
    sql
}

/// Returns the run as written by [`insert_runs`].
fn imported_run(agent_id: AgentId, run: ImportedRun) -> Run {
    Run {
        id: run.id,
        agent_id,
        status: run.status,
        epoch: 0,
        node_id: None,
        input: run.input,
        error: run.error,
        wait_reason: None,
        created_ms: run.created_ms,
        updated_ms: run.updated_ms,
        trace_parent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::value_rows;

    #[test]
    fn value_rows_number_parameters_across_rows() {
        assert_eq!(value_rows(2, 2, ", 0"), "\n($1, $2, 0),\n($3, $4, 0)");
        assert_eq!(value_rows(1, 3, ""), "\n($1, $2, $3)");
    }
}
