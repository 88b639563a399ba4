//! Commits on the shared SQL (SQLite's path; PostgreSQL has one-statement forms in
//! `postgres/` and sends here only the commits they cannot express: those that start
//! sub-agents or wake a parent): a group of commits in one transaction, a savepoint each.

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type, query, query_as};
use tracing::debug;

use agentry_core::clock::now_ms;
use agentry_core::{CommitBatch, Run, RunId};

use super::budget;
use super::lifecycle::append_events;
use super::queries::{COMMIT_RUN, INSERT_MESSAGE};
use super::rows::{AgentPositions, AgentRow, BudgetRow, RunBudgetRow, RunRow, json_text, to_db_int};
use super::teams;
use crate::api::CommitOutcome;
use crate::error::{Error, Result};

/// What writing one commit of a group did.
pub(crate) enum Written {
    /// It was applied.
    Applied(Box<CommitOutcome>),
    /// Its guarded update matched no row: nothing was written; the reason is read afterwards.
    Refused {
        /// The run.
        run_id: RunId,
        /// The epoch it was sent under.
        epoch: u64,
        /// Its commit id, to recognise a retry of the commit applied last.
        commit_id: Option<String>,
    },
    /// It failed and its savepoint was rolled back.
    Failed(Error),
}

/// Writes a group of commits in one transaction — one durable flush for all — each in a
/// savepoint, so that a commit that fails (a refused fence writes nothing; an error rolls back
/// to its savepoint) leaves the others applied. Returns what happened to each, in order, or the
/// error that failed the whole group (the transaction could not begin, roll back or commit).
pub(crate) async fn write_group<DB>(pool: &Pool<DB>, batches: Vec<CommitBatch>) -> Result<Vec<Written>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
    for<'r> AgentRow: FromRow<'r, DB::Row>,
    for<'r> AgentPositions: FromRow<'r, DB::Row>,
    for<'r> RunBudgetRow: FromRow<'r, DB::Row>,
    for<'r> BudgetRow: FromRow<'r, DB::Row>,
{
    let mut transaction = pool.begin().await?;
    let mut written = Vec::with_capacity(batches.len());
    for batch in batches {
        let (run_id, epoch, commit_id) = (batch.run_id, batch.epoch, batch.commit_id.clone());
        query("SAVEPOINT group_commit").execute(&mut *transaction).await?;
        match apply_commit(&mut transaction, batch).await {
            Ok(applied) => {
                query("RELEASE SAVEPOINT group_commit").execute(&mut *transaction).await?;
                written.push(match applied {
                    Some(outcome) => Written::Applied(Box::new(outcome)),
                    None => Written::Refused { run_id, epoch, commit_id },
                });
            }
            Err(error) => {
                query("ROLLBACK TO SAVEPOINT group_commit").execute(&mut *transaction).await?;
                written.push(Written::Failed(error));
            }
        }
    }
    transaction.commit().await?;
    Ok(written)
}

/// Applies one commit inside `transaction`; `None` when its guarded update matched no row
/// (nothing was written; the caller names the reason).
async fn apply_commit<DB>(transaction: &mut Transaction<'_, DB>, batch: CommitBatch) -> Result<Option<CommitOutcome>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
    for<'r> AgentRow: FromRow<'r, DB::Row>,
    for<'r> AgentPositions: FromRow<'r, DB::Row>,
    for<'r> RunBudgetRow: FromRow<'r, DB::Row>,
    for<'r> BudgetRow: FromRow<'r, DB::Row>,
{
    let run_id = batch.run_id.to_string();
    let budget_op = batch.budget;
    let updated: Option<RunRow> = query_as(COMMIT_RUN)
        .bind(run_id.clone())
        .bind(to_db_int(batch.epoch))
        .bind(batch.status.map(|status| status.as_str().to_owned()))
        .bind(batch.error)
        .bind(now_ms())
        .bind(batch.commit_id)
        .fetch_optional(&mut **transaction)
        .await?;
    let Some(updated) = updated else {
        return Ok(None);
    };
    let run = Run::try_from(updated)?;
    let agent_id = run.agent_id.to_string();
    let message_count = to_db_int(batch.messages.len() as u64);
    let positions: AgentPositions = append_events(transaction, &agent_id, &run_id, batch.events, message_count).await?;
    let first_index = positions.message_count - message_count;
    for (index, message) in (first_index..).zip(batch.messages) {
        // The seq of the commit's last event (the agent's last seq when it has none): a fork at
        // a seq copies the messages committed up to it.
        query(INSERT_MESSAGE)
            .bind(agent_id.clone())
            .bind(index)
            .bind(run_id.clone())
            .bind(message.role.as_str().to_owned())
            .bind(message.content)
            .bind(json_text("tool calls", serde_json::to_string(&message.tool_calls))?)
            .bind(message.tool_call_id)
            .bind(positions.last_seq)
            .execute(&mut **transaction)
            .await?;
    }
    let (mut run, mut last_seq, mut decision) = (run, positions.last_seq, None);
    if let Some(op) = budget_op
        && let Some(applied) = budget::apply(transaction, &run, op).await?
    {
        if let Some((paused, paused_last_seq)) = applied.paused {
            (run, last_seq) = (paused, paused_last_seq);
        }
        decision = Some(applied.decision);
    }
    if !batch.delegations.is_empty() {
        teams::start_children(transaction, &run, batch.delegations).await?;
    }
    let woke_parent = if batch.wake_parent && run.status.is_terminal() {
        teams::wake_parent(transaction, run.id).await?
    } else {
        None
    };
    let last_seq =
        u64::try_from(last_seq).map_err(|_| Error::Corrupt(format!("agents.last_seq: {last_seq} is negative")))?;
    debug!(last_seq, status = %run.status, "committed");
    Ok(Some(CommitOutcome { run, last_seq, replayed: false, budget: decision, woke_parent }))
}

/// The answers of a group that failed as a whole: the error for each of its `count` commits.
pub(crate) fn repeat_error(count: usize, error: Error) -> Vec<Result<CommitOutcome>> {
    let mut answers: Vec<Result<CommitOutcome>> = (1..count).map(|_| Err(error.duplicate())).collect();
    answers.push(Err(error));
    answers
}
