//! Approvals on the wire: `Approval` rows of `ListApprovals`.

use agentry_core::approval::Approval;

use super::timestamp;
use crate::v1 as pb;

impl From<&Approval> for pb::Approval {
    fn from(approval: &Approval) -> Self {
        let request = &approval.request;
        let decision = approval.decision.as_ref();
        Self {
            agent_id: approval.agent_id.to_string(),
            run_id: approval.run_id.to_string(),
            tool_call_id: request.tool_call_id.clone(),
            tool: request.name.clone(),
            arguments: request.arguments.clone(),
            rule: request.rule.clone().unwrap_or_default(),
            rule_reason: request.reason.clone().unwrap_or_default(),
            requested_at: Some(timestamp(request.requested_ms)),
            expires_at: Some(timestamp(request.expires_ms)),
            state: approval.state().as_str().to_owned(),
            actor: decision.map(|decision| decision.actor.clone()).unwrap_or_default(),
            reason: decision.map(|decision| decision.reason.clone()).unwrap_or_default(),
            decided_at: decision.map(|decision| timestamp(decision.decided_ms)),
        }
    }
}
