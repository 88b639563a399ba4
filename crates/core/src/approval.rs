//! Approvals: a tool call that the policy holds for a person (`ask`) parks its run in
//! `waiting_approval` until someone decides, or the request expires (denied).
//!
//! The request and the decision are both trace events of the run (`approval_requested`,
//! `approval_decided`); the run's executor reads the decisions back when the run resumes.

use serde::{Deserialize, Serialize};

/// Actor recorded when the hub denies an expired request.
pub const EXPIRY_ACTOR: &str = "system:expiry";

/// Largest `reason` accepted with a decision, bytes.
pub const MAX_REASON_BYTES: usize = 4096;

/// A person's (or the expiry's) decision on one held call: `approval_decided` event data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    /// The held call.
    pub tool_call_id: String,
    /// Whether the call may run.
    pub approved: bool,
    /// Who decided (`user@host`, a token's identity, or [`EXPIRY_ACTOR`]).
    pub actor: String,
    /// Why; may be empty.
    #[serde(default)]
    pub reason: String,
    /// When, milliseconds since the Unix epoch.
    pub decided_ms: i64,
}

/// A held call as requested: `approval_requested` event data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// Step of the assistant message holding the call.
    pub step: u32,
    /// The call.
    pub tool_call_id: String,
    /// Tool name.
    pub name: String,
    /// The call's arguments (JSON text as the model wrote them).
    pub arguments: String,
    /// The policy rule that asked (its description), if not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The rule's reason, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the request was made, milliseconds since the Unix epoch.
    pub requested_ms: i64,
    /// When it expires (denied), milliseconds since the Unix epoch.
    pub expires_ms: i64,
}

/// State of an [`Approval`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalState {
    /// Waiting for a decision.
    Pending,
    /// Approved.
    Approved,
    /// Denied by a person.
    Denied,
    /// Denied because nobody decided in time.
    Expired,
}

impl ApprovalState {
    /// Returns the lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
        }
    }
}

/// One request with its decision, if made: a row of `agentry approvals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The agent.
    pub agent_id: crate::AgentId,
    /// The run.
    pub run_id: crate::RunId,
    /// The request.
    pub request: ApprovalRequest,
    /// The decision, once made.
    pub decision: Option<ApprovalDecision>,
}

impl Approval {
    /// Returns the state.
    pub fn state(&self) -> ApprovalState {
        match &self.decision {
            None => ApprovalState::Pending,
            Some(decision) if decision.approved => ApprovalState::Approved,
            Some(decision) if decision.actor == EXPIRY_ACTOR => ApprovalState::Expired,
            Some(_) => ApprovalState::Denied,
        }
    }
}
