//! Run and node lifecycle changes made by the hub rather than by a run's executor: taking runs
//! back from nodes (lease expiry, leave, drain), operator controls, lease revocation, node
//! expiry. Each change that a trace reader must see appends its event in the same transaction.

use serde_json::json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Transaction, Type, query, query_as};
use tracing::{debug, instrument};

use agentry_core::clock::now_ms;
use agentry_core::event::kind;
use agentry_core::{AgentId, EventDraft, NodeId, NodeInfo, Run, RunId, RunStatus};

use super::approvals::pending_request;
use super::queries::*;
use super::rows::KindDataRow;
use super::rows::{AgentPositions, NodeRow, RunRow, json_text, to_db_int};
use super::{SqlStore, not_found, teams};
use crate::api::{ReleaseScope, RunControl};
use crate::error::{Error, Result};
use agentry_core::approval::ApprovalRequest;

impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
    for<'r> NodeRow: FromRow<'r, DB::Row>,
    for<'r> AgentPositions: FromRow<'r, DB::Row>,
    for<'r> KindDataRow: FromRow<'r, DB::Row>,
    for<'r> super::rows::AgentRow: FromRow<'r, DB::Row>,
{
    #[instrument(level = "debug", skip_all, fields(%node_id, ?scope))]
    pub(crate) async fn release_node_runs(
        &self,
        node_id: NodeId,
        scope: ReleaseScope,
        reason: &str,
    ) -> Result<Vec<Run>> {
        let mut transaction = self.pool().begin().await?;
        let rows: Vec<RunRow> = query_as(RELEASE_NODE_RUNS)
            .bind(node_id.to_string())
            .bind(i64::from(scope == ReleaseScope::All))
            .bind(now_ms())
            .fetch_all(&mut *transaction)
            .await?;
        let runs = rows.into_iter().map(Run::try_from).collect::<Result<Vec<_>>>()?;
        for run in &runs {
            let moved = EventDraft {
                trace: run.trace_parent,
                ..EventDraft::now(
                    kind::RUN_MOVED,
                    json!({ "from_node_id": node_id, "reason": reason, "epoch": run.epoch }),
                )
            };
            append_events(&mut transaction, &run.agent_id.to_string(), &run.id.to_string(), vec![moved], 0).await?;
        }
        transaction.commit().await?;
        debug!(released = runs.len(), "runs taken back from the node");
        Ok(runs)
    }

    #[instrument(level = "debug", skip_all, fields(%run_id, ?control))]
    pub(crate) async fn control_run(&self, run_id: RunId, control: RunControl) -> Result<Run> {
        let now = now_ms();
        let mut transaction = self.pool().begin().await?;
        let id = run_id.to_string();
        let updated: Option<RunRow> = match &control {
            RunControl::Cancel { reason } => {
                query_as(CANCEL_RUN).bind(id.clone()).bind(reason.clone()).bind(now).fetch_optional(&mut *transaction)
            }
            RunControl::Pause { reason } => query_as(PAUSE_RUN)
                .bind(id.clone())
                .bind(format!("paused: {reason}"))
                .bind(now)
                .fetch_optional(&mut *transaction),
            RunControl::Resume => query_as(RESUME_RUN).bind(id.clone()).bind(now).fetch_optional(&mut *transaction),
            RunControl::Decide(_) => {
                query_as(DECIDE_APPROVAL).bind(id.clone()).bind(now).fetch_optional(&mut *transaction)
            }
        }
        .await?;
        let Some(updated) = updated else {
            transaction.rollback().await?;
            return Err(self.control_refusal(run_id, &control).await);
        };
        let run = Run::try_from(updated)?;
        if let RunControl::Decide(decision) = &control {
            // Under the run's row lock: the call it waits for cannot change meanwhile.
            let events: Vec<KindDataRow> = query_as(RUN_APPROVAL_EVENTS)
                .bind(run.agent_id.to_string())
                .bind(id.clone())
                .fetch_all(&mut *transaction)
                .await?;
            if let Err(refusal) = pending_matches(run_id, pending_request(&events), &decision.tool_call_id) {
                transaction.rollback().await?;
                return Err(refusal);
            }
        }
        let event = match control {
            RunControl::Cancel { reason } => EventDraft::now(kind::RUN_CANCELLED, json!({ "reason": reason })),
            RunControl::Pause { reason } => {
                EventDraft::now(kind::RUN_PAUSED, json!({ "reason": reason, "epoch": run.epoch }))
            }
            RunControl::Resume => EventDraft::now(kind::RUN_RESUMED, json!({})),
            RunControl::Decide(decision) => EventDraft {
                ts_ms: decision.decided_ms,
                ..EventDraft::now(kind::APPROVAL_DECIDED, serde_json::to_value(&decision).unwrap_or_default())
            },
        };
        // The hub's own events belong to the run's trace, under the span it descends from.
        let event = EventDraft { trace: run.trace_parent, ..event };
        append_events(&mut transaction, &run.agent_id.to_string(), &id, vec![event], 0).await?;
        if run.status == RunStatus::Cancelled {
            // A cancelled sub-agent may have been the last one its parent waited for: queue the
            // parent (the placer's next pass places it; this answer names only the child).
            teams::wake_parent(&mut transaction, run.id).await?;
        }
        transaction.commit().await?;
        Ok(run)
    }

    /// Names why `control` matched no row: the run is unknown, or its status forbids it.
    async fn control_refusal(&self, run_id: RunId, control: &RunControl) -> Error {
        let run = match self.run_row(run_id).await {
            Ok(Some(run)) => run,
            Ok(None) => return not_found("run", run_id),
            Err(error) => return error,
        };
        // An imported agent's runs have all ended: name the import rather than the status.
        match self.read_only_refusal(run.agent_id).await {
            Ok(Some(refusal)) => return refusal,
            Ok(None) => {}
            Err(error) => return error,
        }
        let status = run.status;
        Error::Conflict(match control {
            RunControl::Cancel { .. } => format!("run {run_id} is {status}: an ended run cannot be cancelled"),
            RunControl::Pause { .. } if status == RunStatus::Paused => format!("run {run_id} is already paused"),
            RunControl::Pause { .. } => format!("run {run_id} is {status}: only queued or running runs can be paused"),
            RunControl::Resume => format!("run {run_id} is {status}, not paused: only a paused run can be resumed"),
            RunControl::Decide(decision) => {
                format!("run {run_id} is {status}: it does not wait for an approval of call {}", decision.tool_call_id)
            }
        })
    }

    pub(crate) async fn revoked_runs(&self, node_id: NodeId, leases: &[(RunId, u64)]) -> Result<Vec<RunId>> {
        let rows: Vec<RunRow> = query_as(HELD_RUNS).bind(node_id.to_string()).fetch_all(self.pool()).await?;
        let held = rows.into_iter().map(Run::try_from).collect::<Result<Vec<_>>>()?;
        Ok(leases
            .iter()
            .filter(|(run_id, epoch)| !held.iter().any(|run| run.id == *run_id && run.epoch == *epoch))
            .map(|(run_id, _)| *run_id)
            .collect())
    }

    async fn run_row(&self, run_id: RunId) -> Result<Option<Run>> {
        let row: Option<RunRow> = query_as(SELECT_RUN).bind(run_id.to_string()).fetch_optional(self.pool()).await?;
        row.map(Run::try_from).transpose()
    }

    pub(crate) async fn active_runs(&self, agent_id: AgentId) -> Result<Vec<Run>> {
        let rows: Vec<RunRow> = query_as(ACTIVE_RUNS).bind(agent_id.to_string()).fetch_all(self.pool()).await?;
        rows.into_iter().map(Run::try_from).collect()
    }

    pub(crate) async fn expire_nodes(&self, cutoff_ms: i64) -> Result<Vec<NodeInfo>> {
        let rows: Vec<NodeRow> = query_as(EXPIRE_NODES).bind(cutoff_ms).fetch_all(self.pool()).await?;
        rows.into_iter().map(NodeInfo::try_from).collect()
    }

    pub(crate) async fn stale_assignments(&self, older_than_ms: i64, limit: u32) -> Result<Vec<Run>> {
        let rows: Vec<RunRow> =
            query_as(STALE_ASSIGNMENTS).bind(older_than_ms).bind(i64::from(limit)).fetch_all(self.pool()).await?;
        rows.into_iter().map(Run::try_from).collect()
    }

    #[instrument(level = "debug", skip_all, fields(%run_id, epoch))]
    pub(crate) async fn revoke_assignment(&self, run_id: RunId, epoch: u64) -> Result<Option<Run>> {
        let revoked: Option<RunRow> = query_as(REVOKE_ASSIGNMENT)
            .bind(run_id.to_string())
            .bind(to_db_int(epoch))
            .bind(now_ms())
            .fetch_optional(self.pool())
            .await?;
        match revoked {
            Some(row) => Run::try_from(row).map(Some),
            None if self.run_row(run_id).await?.is_none() => Err(not_found("run", run_id)),
            None => Ok(None),
        }
    }
}

/// Checks that the request `run_id` waits for (`pending`) is the one for `tool_call_id`.
///
/// Errors with [`Error::Conflict`] naming the call it waits for, or saying it waits for none.
fn pending_matches(run_id: RunId, pending: Option<ApprovalRequest>, tool_call_id: &str) -> Result<()> {
    match pending {
        Some(request) if request.tool_call_id == tool_call_id => Ok(()),
        Some(request) => Err(Error::Conflict(format!(
            "run {run_id} waits for an approval of call {} ({}), not of call {tool_call_id}",
            request.tool_call_id, request.name
        ))),
        None => Err(Error::Conflict(format!("run {run_id} has no pending approval request"))),
    }
}

/// Appends `events` to the agent's trace (consecutive seqs after its `last_seq`) and reserves
/// `message_count` message indexes, in `transaction`; returns the agent's counters after.
///
/// The agent row's lock serializes appends of one agent, so seqs and indexes are gap-free and
/// never given out twice.
pub(crate) async fn append_events<DB>(
    transaction: &mut Transaction<'_, DB>,
    agent_id: &str,
    run_id: &str,
    events: Vec<EventDraft>,
    message_count: i64,
) -> Result<AgentPositions>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> AgentPositions: FromRow<'r, DB::Row>,
{
    let event_count = to_db_int(events.len() as u64);
    let positions: Option<AgentPositions> = query_as(RESERVE_AGENT_POSITIONS)
        .bind(agent_id.to_owned())
        .bind(event_count)
        .bind(message_count)
        .fetch_optional(&mut **transaction)
        .await?;
    let positions = positions.ok_or_else(|| not_found("agent", agent_id))?;
    let first_seq = positions.last_seq - event_count + 1;
    for (seq, event) in (first_seq..).zip(events) {
        query(INSERT_EVENT)
            .bind(agent_id.to_owned())
            .bind(seq)
            .bind(run_id.to_owned())
            .bind(event.kind)
            .bind(json_text("event data", serde_json::to_string(&event.data))?)
            .bind(event.ts_ms)
            .bind(event.trace.map(|trace| trace.to_string()))
            .execute(&mut **transaction)
            .await?;
    }
    Ok(positions)
}
