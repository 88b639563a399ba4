//! Approvals: decisions on tool calls the node's policy held (`ask`), listing them, and denying
//! those nobody decided on in time.
//!
//! A held call's run is `waiting_approval` and holds no node. A decision is recorded as an
//! `approval_decided` event in the same transaction that queues the run again; the placer puts
//! it on any live node, whose executor reads the decision back (`LoadRun`) and runs or refuses
//! the call.

use agentry_core::approval::{Approval, ApprovalDecision, EXPIRY_ACTOR};
use agentry_core::{Run, RunId, clock};
use agentry_store::RunControl;

use crate::error::Result;
use crate::hub::Hub;

/// Actor recorded when a decision names none.
pub const ANONYMOUS_ACTOR: &str = "anonymous";

impl Hub {
    /// Records a decision on the call `run_id` waits for and queues the run again; returns the
    /// run.
    ///
    /// Errors: NOT_FOUND for an unknown run; FAILED_PRECONDITION when the run does not wait for
    /// an approval of `tool_call_id` (the message names the call it waits for, if any).
    pub async fn decide_approval(
        &self,
        run_id: RunId,
        tool_call_id: &str,
        approved: bool,
        actor: &str,
        reason: String,
    ) -> Result<Run> {
        let actor = if actor.trim().is_empty() { ANONYMOUS_ACTOR } else { actor.trim() };
        let decision = ApprovalDecision {
            tool_call_id: tool_call_id.to_owned(),
            approved,
            actor: actor.to_owned(),
            reason,
            decided_ms: clock::now_ms(),
        };
        tracing::info!(%run_id, tool_call_id, approved, actor, "approval decided");
        self.control_run(run_id, RunControl::Decide(decision)).await
    }

    /// Returns approval requests with their decisions, newest first.
    pub async fn list_approvals(&self, run_id: Option<RunId>, pending_only: bool, limit: u32) -> Result<Vec<Approval>> {
        Ok(self.store.list_approvals(run_id, pending_only, limit).await?)
    }

    /// Denies every held call whose request expired; returns how many. A run decided by a
    /// person meanwhile is skipped.
    pub(crate) async fn expire_approvals(&self) -> Result<usize> {
        let mut denied = 0;
        for (run_id, tool_call_id) in self.store.expired_approvals(clock::now_ms()).await? {
            let reason = "nobody decided before the approval request expired".to_owned();
            match self.decide_approval(run_id, &tool_call_id, false, EXPIRY_ACTOR, reason).await {
                Ok(_) => denied += 1,
                Err(crate::error::HubError::Store(agentry_store::Error::Conflict(reason))) => {
                    tracing::debug!(%reason, "approval decided meanwhile");
                }
                Err(error) => return Err(error),
            }
        }
        Ok(denied)
    }
}
