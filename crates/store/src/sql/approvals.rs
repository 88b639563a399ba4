//! Approvals, read from the trace: a run's `approval_requested` events and the
//! `approval_decided` events that answer them (see `agentry_core::approval`).

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type, query_as};

use agentry_core::approval::{Approval, ApprovalDecision, ApprovalRequest};
use agentry_core::event::kind;
use agentry_core::{Run, RunId};

use super::SqlStore;
use super::queries::{LIST_APPROVALS, RUN_APPROVAL_EVENTS, WAITING_RUNS};
use super::rows::{KindDataRow, RunRow};
use crate::error::{Error, Result};

/// Most approvals one listing returns.
pub const MAX_APPROVALS_LISTED: u32 = 1000;

/// A request with the decision that answered it, as `list_approvals.sql` returns them.
#[derive(Debug, FromRow)]
pub(crate) struct ApprovalRow {
    agent_id: String,
    run_id: String,
    request: String,
    decision: Option<String>,
}

impl TryFrom<ApprovalRow> for Approval {
    type Error = Error;

    fn try_from(row: ApprovalRow) -> Result<Self> {
        let corrupt =
            |what: &str, error: serde_json::Error| Error::Corrupt(format!("{what} of run {}: {error}", row.run_id));
        Ok(Self {
            agent_id: row.agent_id.parse().map_err(|error| Error::Corrupt(format!("agent id: {error}")))?,
            run_id: row.run_id.parse().map_err(|error| Error::Corrupt(format!("run id: {error}")))?,
            request: serde_json::from_str(&row.request).map_err(|error| corrupt("approval_requested", error))?,
            decision: row
                .decision
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|error| corrupt("approval_decided", error))?,
        })
    }
}

/// Returns the request among `events` (a run's approval events in seq order) that no decision
/// answered yet.
pub(crate) fn pending_request(events: &[KindDataRow]) -> Option<ApprovalRequest> {
    let mut pending = None;
    for event in events {
        if event.kind == kind::APPROVAL_REQUESTED {
            pending = serde_json::from_str::<ApprovalRequest>(&event.data).ok();
        } else if event.kind == kind::APPROVAL_DECIDED
            && let Ok(decision) = serde_json::from_str::<ApprovalDecision>(&event.data)
            && pending.as_ref().is_some_and(|request| request.tool_call_id == decision.tool_call_id)
        {
            pending = None;
        }
    }
    pending
}

impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
    for<'r> KindDataRow: FromRow<'r, DB::Row>,
    for<'r> ApprovalRow: FromRow<'r, DB::Row>,
{
    /// Returns the call `run` waits for, if any.
    pub(crate) async fn pending_approval(&self, run: &Run) -> Result<Option<ApprovalRequest>> {
        let events: Vec<KindDataRow> = query_as(RUN_APPROVAL_EVENTS)
            .bind(run.agent_id.to_string())
            .bind(run.id.to_string())
            .fetch_all(self.pool())
            .await?;
        Ok(pending_request(&events))
    }

    pub(crate) async fn list_approvals(
        &self,
        run_id: Option<RunId>,
        pending_only: bool,
        limit: u32,
    ) -> Result<Vec<Approval>> {
        let rows: Vec<ApprovalRow> = query_as(LIST_APPROVALS)
            .bind(run_id.map(|id| id.to_string()).unwrap_or_default())
            .bind(i64::from(pending_only))
            .bind(i64::from(limit.clamp(1, MAX_APPROVALS_LISTED)))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(Approval::try_from).collect()
    }

    pub(crate) async fn expired_approvals(&self, now_ms: i64) -> Result<Vec<(RunId, String)>> {
        let rows: Vec<RunRow> = query_as(WAITING_RUNS).fetch_all(self.pool()).await?;
        let mut expired = Vec::new();
        for row in rows {
            let run = Run::try_from(row)?;
            if let Some(request) = self.pending_approval(&run).await?
                && request.expires_ms <= now_ms
            {
                expired.push((run.id, request.tool_call_id));
            }
        }
        Ok(expired)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(kind: &str, data: serde_json::Value) -> KindDataRow {
        KindDataRow { kind: kind.to_owned(), data: data.to_string() }
    }

    fn request(call: &str) -> serde_json::Value {
        json!({"step": 1, "tool_call_id": call, "name": "bash", "arguments": "{}", "requested_ms": 1, "expires_ms": 2})
    }

    fn decision(call: &str) -> serde_json::Value {
        json!({"tool_call_id": call, "approved": true, "actor": "a", "reason": "", "decided_ms": 3})
    }

    #[test]
    fn the_last_undecided_request_is_pending() {
        assert_eq!(pending_request(&[]), None);
        let answered = [row(kind::APPROVAL_REQUESTED, request("a")), row(kind::APPROVAL_DECIDED, decision("a"))];
        assert_eq!(pending_request(&answered), None);
        let waiting = [
            row(kind::APPROVAL_REQUESTED, request("a")),
            row(kind::APPROVAL_DECIDED, decision("a")),
            row(kind::APPROVAL_REQUESTED, request("b")),
            row(kind::APPROVAL_DECIDED, decision("a")),
        ];
        assert_eq!(pending_request(&waiting).map(|request| request.tool_call_id), Some("b".to_owned()));
    }
}
