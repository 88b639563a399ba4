//! Budgets in the store (see `agentry_core::budget`): creating and raising them, and applying a
//! commit's [`BudgetOp`] inside the commit's transaction.
//!
//! A reservation is a compare-and-set on the budget's row (`reserve_budget.sql`): the row lock
//! serializes concurrent runs of one budget, and the `WHERE` admits the reservation only if it
//! fits, so the sum of reservations never exceeds what is left. A settlement counts once per
//! model call (`runs.settled_step`), so a retried commit cannot count a call twice.

use serde_json::json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Transaction, Type, query, query_as};

use agentry_core::budget::{BudgetDecision, BudgetOp, BudgetState, Spend};
use agentry_core::clock::now_ms;
use agentry_core::event::{EventDraft, kind};
use agentry_core::{Run, RunStatus};

use super::SqlStore;
use super::lifecycle::append_events;
use super::not_found;
use super::queries::*;
use super::rows::{AgentPositions, BudgetRow, RunBudgetRow, RunRow, to_db_int};
use crate::error::{Error, Result};

/// Wait reason of a run paused by its budget.
pub(crate) const BUDGET_WAIT_REASON: &str =
    "paused: budget exceeded; raise it with agentry resume RUN_ID --add-tokens N";

/// What a commit's budget operation did.
pub(crate) struct Applied {
    /// The decision.
    pub(crate) decision: BudgetDecision,
    /// The run and the agent's last seq after pausing it, when the reservation did not fit.
    pub(crate) paused: Option<(Run, i64)>,
}

/// Applies `op` to `run`'s budget in `transaction`; `None` when its agent has no budget.
pub(crate) async fn apply<DB>(transaction: &mut Transaction<'_, DB>, run: &Run, op: BudgetOp) -> Result<Option<Applied>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'r> RunBudgetRow: FromRow<'r, DB::Row>,
    for<'r> BudgetRow: FromRow<'r, DB::Row>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
    for<'r> AgentPositions: FromRow<'r, DB::Row>,
{
    let run_id = run.id.to_string();
    let row: Option<RunBudgetRow> =
        query_as(SELECT_RUN_BUDGET).bind(run_id.clone()).fetch_optional(&mut **transaction).await?;
    let row = row.ok_or_else(|| not_found("run", run.id))?;
    let Some(budget_id) = row.budget_id else {
        return Ok(None);
    };
    let mut held = Spend { tokens: u64::try_from(row.reserved_tokens).unwrap_or(0), cost_usd: row.reserved_cost_usd };
    if let Some((step, usage)) = op.settle
        && i64::from(step) > row.settled_step
    {
        query(SETTLE_BUDGET)
            .bind(budget_id.clone())
            .bind(to_db_int(usage.tokens))
            .bind(usage.cost_usd)
            .bind(to_db_int(held.tokens))
            .bind(held.cost_usd)
            .execute(&mut **transaction)
            .await?;
        query(SETTLE_RUN)
            .bind(run_id.clone())
            .bind(to_db_int(usage.tokens))
            .bind(usage.cost_usd)
            .bind(i64::from(step))
            .execute(&mut **transaction)
            .await?;
        held = Spend::default();
    }
    let Some(estimate) = op.reserve else {
        if run.status.is_terminal() && (held.tokens > 0 || held.cost_usd > 0.0) {
            // The run ended holding a reservation (its call failed): give it back.
            let _released: BudgetRow = query_as(RELEASE_BUDGET)
                .bind(budget_id)
                .bind(to_db_int(held.tokens))
                .bind(held.cost_usd)
                .fetch_one(&mut **transaction)
                .await?;
            query(SET_RUN_RESERVATION).bind(run_id).bind(0_i64).bind(0.0_f64).execute(&mut **transaction).await?;
        }
        return Ok(Some(Applied { decision: BudgetDecision::Granted, paused: None }));
    };
    let reserved: Option<BudgetRow> = query_as(RESERVE_BUDGET)
        .bind(budget_id.clone())
        .bind(to_db_int(held.tokens))
        .bind(held.cost_usd)
        .bind(to_db_int(estimate.tokens))
        .bind(estimate.cost_usd)
        .fetch_optional(&mut **transaction)
        .await?;
    if reserved.is_some() {
        query(SET_RUN_RESERVATION)
            .bind(run_id)
            .bind(to_db_int(estimate.tokens))
            .bind(estimate.cost_usd)
            .execute(&mut **transaction)
            .await?;
        return Ok(Some(Applied { decision: BudgetDecision::Granted, paused: None }));
    }
    // It does not fit: give back what the run still holds and pause it.
    let budget: BudgetRow = query_as(RELEASE_BUDGET)
        .bind(budget_id)
        .bind(to_db_int(held.tokens))
        .bind(held.cost_usd)
        .fetch_one(&mut **transaction)
        .await?;
    let budget = BudgetState::try_from(budget)?;
    query(SET_RUN_RESERVATION).bind(run_id.clone()).bind(0_i64).bind(0.0_f64).execute(&mut **transaction).await?;
    let paused: Option<RunRow> = query_as(PAUSE_RUN)
        .bind(run_id.clone())
        .bind(BUDGET_WAIT_REASON.to_owned())
        .bind(now_ms())
        .fetch_optional(&mut **transaction)
        .await?;
    let paused = Run::try_from(paused.ok_or_else(|| Error::Conflict(format!("run {} cannot be paused", run.id)))?)?;
    debug_assert_eq!(paused.status, RunStatus::Paused);
    let events = vec![
        EventDraft::now(
            kind::BUDGET_EXCEEDED,
            json!({
                "budget_id": budget.id,
                "needed_tokens": estimate.tokens,
                "needed_cost_usd": estimate.cost_usd,
                "used_tokens": budget.used.tokens,
                "used_cost_usd": budget.used.cost_usd,
                "reserved_tokens": budget.reserved.tokens,
                "max_tokens": budget.limits.max_tokens,
                "max_cost_usd": budget.limits.max_cost_usd,
            }),
        ),
        EventDraft::now(kind::RUN_PAUSED, json!({ "reason": "budget exceeded", "epoch": paused.epoch })),
    ];
    let positions = append_events(transaction, &run.agent_id.to_string(), &run_id, events, 0).await?;
    Ok(Some(Applied { decision: BudgetDecision::Exceeded(budget), paused: Some((paused, positions.last_seq)) }))
}

impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'r> BudgetRow: FromRow<'r, DB::Row>,
{
    pub(crate) async fn get_budget(&self, id: &str) -> Result<BudgetState> {
        let row: Option<BudgetRow> = query_as(SELECT_BUDGET).bind(id.to_owned()).fetch_optional(self.pool()).await?;
        BudgetState::try_from(row.ok_or_else(|| not_found("budget", id))?)
    }

    pub(crate) async fn raise_budget(&self, id: &str, add: Spend) -> Result<BudgetState> {
        let row: Option<BudgetRow> = query_as(RAISE_BUDGET)
            .bind(id.to_owned())
            .bind(to_db_int(add.tokens))
            .bind(add.cost_usd)
            .fetch_optional(self.pool())
            .await?;
        BudgetState::try_from(row.ok_or_else(|| not_found("budget", id))?)
    }
}
