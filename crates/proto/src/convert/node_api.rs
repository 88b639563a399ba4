//! The payloads of `NodeService` that carry domain data: commits, loaded runs, run leases and
//! the beats of a `Lease` stream.

use agentry_core::budget::{BudgetOp, Spend};
use agentry_core::message::ConversationSummary;
use agentry_core::{CommitBatch, EventDraft, Heartbeat, LoadedRun, Message, RunId};

use super::types::run_status_from;
use super::{WireError, id, non_empty};
use crate::v1 as pb;

impl From<&CommitBatch> for pb::CommitRequest {
    fn from(batch: &CommitBatch) -> Self {
        Self {
            run_id: batch.run_id.to_string(),
            epoch: batch.epoch,
            events: batch.events.iter().map(pb::EventDraft::from).collect(),
            // The store assigns `run_id` and `index` of committed messages.
            messages: batch
                .messages
                .iter()
                .map(|message| pb::Message { run_id: String::new(), ..message.into() })
                .collect(),
            status: batch.status.map_or(pb::RunStatus::Unspecified, pb::RunStatus::from) as i32,
            error: batch.error.clone().unwrap_or_default(),
            commit_id: batch.commit_id.clone().unwrap_or_default(),
            budget: batch.budget.map(|op| {
                let (settle_step, settle) = op.settle.unwrap_or_default();
                let reserve = op.reserve.unwrap_or_default();
                pb::BudgetOp {
                    settle_step,
                    settle_tokens: settle.tokens,
                    settle_cost_usd: settle.cost_usd,
                    reserve: op.reserve.is_some(),
                    reserve_tokens: reserve.tokens,
                    reserve_cost_usd: reserve.cost_usd,
                }
            }),
            delegations: batch.delegations.iter().map(pb::Delegation::from).collect(),
            wake_parent: batch.wake_parent,
        }
    }
}

/// Returns the budget operation of a commit; costs must be finite and not negative.
fn budget_op(op: pb::BudgetOp) -> Result<BudgetOp, WireError> {
    for (field, cost) in
        [("budget.settle_cost_usd", op.settle_cost_usd), ("budget.reserve_cost_usd", op.reserve_cost_usd)]
    {
        if !(cost.is_finite() && cost >= 0.0) {
            return Err(WireError::new(field, format!("{cost} is not a cost in USD")));
        }
    }
    Ok(BudgetOp {
        settle: (op.settle_step > 0)
            .then_some((op.settle_step, Spend { tokens: op.settle_tokens, cost_usd: op.settle_cost_usd })),
        reserve: op.reserve.then_some(Spend { tokens: op.reserve_tokens, cost_usd: op.reserve_cost_usd }),
    })
}

impl TryFrom<pb::CommitRequest> for CommitBatch {
    type Error = WireError;

    /// Checks ids, statuses, roles and that event data is JSON; size limits are the hub's.
    fn try_from(request: pb::CommitRequest) -> Result<Self, WireError> {
        let events = request.events.into_iter().map(EventDraft::try_from).collect::<Result<Vec<_>, _>>()?;
        let messages = request
            .messages
            .into_iter()
            // A node never chooses the run of a committed message: the store sets it.
            .map(|message| Message::try_from(pb::Message { run_id: String::new(), ..message }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            run_id: id("run_id", &request.run_id)?,
            epoch: request.epoch,
            events,
            messages,
            status: run_status_from("status", request.status)?,
            error: non_empty(request.error),
            commit_id: non_empty(request.commit_id),
            budget: request.budget.map(budget_op).transpose()?,
            delegations: request
                .delegations
                .into_iter()
                .map(super::team::delegation_from)
                .collect::<Result<Vec<_>, _>>()?,
            wake_parent: request.wake_parent,
        })
    }
}

impl TryFrom<pb::LoadRunResponse> for LoadedRun {
    type Error = WireError;

    fn try_from(response: pb::LoadRunResponse) -> Result<Self, WireError> {
        let run = response.run.ok_or_else(|| WireError::missing("run"))?.try_into()?;
        let spec = response.spec.ok_or_else(|| WireError::missing("spec"))?.into();
        let messages = response.messages.into_iter().map(Message::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            run,
            spec,
            messages,
            started_tool_call_ids: response.started_tool_call_ids,
            budgeted: response.budgeted,
            summary: response.summary.map(|summary| ConversationSummary { covers: summary.covers, text: summary.text }),
            followed: response.followed,
            approvals: response
                .approval_decisions
                .iter()
                .map(|data| {
                    serde_json::from_str(data).map_err(|error| WireError::new("approval_decisions", error.to_string()))
                })
                .collect::<Result<_, _>>()?,
            delegations: response
                .delegations
                .into_iter()
                .map(super::team::delegation_from)
                .collect::<Result<Vec<_>, _>>()?,
            delegated: response.delegated,
        })
    }
}

/// Returns the wire leases of `(run, epoch)` pairs, for a heartbeat.
pub fn leases(held: &[(RunId, u64)]) -> Vec<pb::RunLease> {
    held.iter().map(|(run_id, epoch)| pb::RunLease { run_id: run_id.to_string(), epoch: *epoch }).collect()
}

/// Returns the `(run, epoch)` pairs of wire leases.
///
/// Errors name the first lease whose run id is malformed.
pub fn leases_from(leases: &[pb::RunLease]) -> Result<Vec<(RunId, u64)>, WireError> {
    leases.iter().map(|lease| Ok((id("leases.run_id", &lease.run_id)?, lease.epoch))).collect()
}

impl From<&Heartbeat> for pb::LeaseRequest {
    fn from(beat: &Heartbeat) -> Self {
        Self { node_id: beat.node_id.to_string(), running: beat.running, leases: leases(&beat.leases) }
    }
}

impl TryFrom<pb::LeaseRequest> for Heartbeat {
    type Error = WireError;

    /// Checks the node id and the run ids; the number of leases is the hub's limit.
    fn try_from(request: pb::LeaseRequest) -> Result<Self, WireError> {
        Ok(Self {
            node_id: id("node_id", &request.node_id)?,
            running: request.running,
            leases: leases_from(&request.leases)?,
        })
    }
}

/// Returns the answer to one beat of a `Lease` stream: the runs the node no longer owns.
pub fn lease_response(revoked: &[RunId]) -> pb::LeaseResponse {
    pb::LeaseResponse { revoked_run_ids: revoked.iter().map(ToString::to_string).collect() }
}

/// Returns the run ids of a heartbeat answer.
///
/// Errors name the first malformed id.
pub fn run_ids_from(field: &str, ids: &[String]) -> Result<Vec<RunId>, WireError> {
    ids.iter().map(|text| id(field, text)).collect()
}

#[cfg(test)]
mod tests {
    use agentry_core::{Role, RunStatus};
    use serde_json::json;

    use super::*;

    #[test]
    fn commits_round_trip() {
        let batch = CommitBatch {
            run_id: RunId::generate(),
            epoch: 3,
            events: vec![EventDraft {
                kind: "final".into(),
                data: json!({ "content": "done" }),
                ts_ms: 9,
                trace: None,
            }],
            messages: vec![Message {
                role: Role::Assistant,
                content: "done".into(),
                tool_calls: Vec::new(),
                tool_call_id: None,
                run_id: None,
            }],
            status: Some(RunStatus::Completed),
            error: None,
            commit_id: Some("c-1".into()),
            budget: Some(BudgetOp {
                settle: Some((2, Spend { tokens: 30, cost_usd: 0.25 })),
                reserve: Some(Spend { tokens: 400, cost_usd: 1.5 }),
            }),
            delegations: Vec::new(),
            wake_parent: false,
        };
        assert_eq!(CommitBatch::try_from(pb::CommitRequest::from(&batch)), Ok(batch));
    }

    #[test]
    fn leases_round_trip_and_bad_ids_are_named() {
        let held = vec![(RunId::generate(), 1), (RunId::generate(), 4)];
        assert_eq!(leases_from(&leases(&held)), Ok(held));
        let bad = [pb::RunLease { run_id: "x".into(), epoch: 1 }];
        assert_eq!(leases_from(&bad).unwrap_err().field, "leases.run_id");
    }

    #[test]
    fn beats_round_trip_and_a_bad_node_id_is_named() {
        let beat = Heartbeat {
            node_id: agentry_core::NodeId::generate(),
            running: 2,
            leases: vec![(RunId::generate(), 3), (RunId::generate(), 1)],
        };
        assert_eq!(Heartbeat::try_from(pb::LeaseRequest::from(&beat)), Ok(beat));
        let anonymous = pb::LeaseRequest { node_id: String::new(), ..pb::LeaseRequest::default() };
        assert_eq!(Heartbeat::try_from(anonymous).unwrap_err().field, "node_id");
        let revoked = [RunId::generate()];
        let answer = lease_response(&revoked);
        assert_eq!(run_ids_from("revoked_run_ids", &answer.revoked_run_ids), Ok(revoked.to_vec()));
    }
}
