//! Commits carrying a budget operation, on PostgreSQL: a group of them in one transaction —
//! per commit `commit.sql` then `budget_op.sql`, two statements — so the budget's
//! compare-and-set shares its commit's transaction and the group shares one flush. A
//! reservation that does not fit goes through the shared code (`sql/budget.rs`), which settles
//! and pauses the run in the same transaction. A group that fails as a whole is applied commit
//! by commit on the shared path.

use sqlx::{Postgres, query_as};

use agentry_core::CommitBatch;
use agentry_core::budget::BudgetDecision;

use super::statements::commit_on;
use crate::api::CommitOutcome;
use crate::error::Result;
use crate::sql::SqlStore;
use crate::sql::budget;
use crate::sql::rows::to_db_int;

const BUDGET_OP: &str = include_str!("../../queries/postgres/budget_op.sql");

/// A row of `budget_op.sql`.
#[derive(Debug, sqlx::FromRow)]
struct BudgetOpRow {
    budget_id: Option<String>,
    applied: bool,
}

/// Applies `batches` (each with a budget operation) and answers each, in order.
pub(super) async fn commit_group(store: &SqlStore<Postgres>, batches: Vec<CommitBatch>) -> Vec<Result<CommitOutcome>> {
    match write(store, batches.clone()).await {
        Ok(written) => {
            let mut answers = Vec::with_capacity(written.len());
            for (outcome, batch) in written.into_iter().zip(batches) {
                answers.push(match outcome {
                    Some(outcome) => Ok(outcome),
                    None => store.commit_refused(batch.run_id, batch.epoch, batch.commit_id).await,
                });
            }
            answers
        }
        Err(error) => {
            tracing::warn!(%error, commits = batches.len(), "budgeted group failed; applying its commits one by one");
            let mut answers = Vec::with_capacity(batches.len());
            for batch in batches {
                answers.extend(store.commit_group(vec![batch]).await);
            }
            answers
        }
    }
}

/// Writes the group in one transaction; `None` for a commit its fence refused.
async fn write(store: &SqlStore<Postgres>, batches: Vec<CommitBatch>) -> Result<Vec<Option<CommitOutcome>>> {
    let mut transaction = store.pool().begin().await?;
    let mut written = Vec::with_capacity(batches.len());
    for batch in batches {
        let op = batch.budget;
        let Some(mut outcome) = commit_on(&mut transaction, batch).await? else {
            written.push(None);
            continue;
        };
        if let Some(op) = op {
            let (settle_step, settled) = op.settle.unwrap_or_default();
            let reserve = op.reserve.unwrap_or_default();
            let row: BudgetOpRow = query_as(BUDGET_OP)
                .bind(outcome.run.id.to_string())
                .bind(i64::from(settle_step))
                .bind(to_db_int(settled.tokens))
                .bind(settled.cost_usd)
                .bind(op.reserve.is_some())
                .bind(to_db_int(reserve.tokens))
                .bind(reserve.cost_usd)
                .bind(outcome.run.status.is_terminal())
                .fetch_one(&mut *transaction)
                .await?;
            outcome.budget = match (row.budget_id, row.applied) {
                (None, _) => None,
                (Some(_), true) => Some(BudgetDecision::Granted),
                // The reservation does not fit: the shared code settles and pauses the run.
                (Some(_), false) => {
                    let applied = budget::apply(&mut transaction, &outcome.run, op).await?;
                    applied.map(|applied| {
                        if let Some((run, last_seq)) = applied.paused {
                            outcome.run = run;
                            outcome.last_seq = u64::try_from(last_seq).unwrap_or(outcome.last_seq);
                        }
                        applied.decision
                    })
                }
            };
        }
        written.push(Some(outcome));
    }
    transaction.commit().await?;
    Ok(written)
}
