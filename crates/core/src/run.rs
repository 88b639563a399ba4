//! Runs: units of work on an agent, owned by one node at a time under an epoch.

use std::fmt;
use std::str::FromStr;

use crate::agent::AgentSpec;
use crate::ids::{AgentId, NodeId, RunId};
use crate::message::Message;

/// Lifecycle state of a run: `queued → running → completed | failed | cancelled | paused |
/// waiting_approval | waiting_children`; paused and waiting runs hold no node and go back to
/// `queued` when resumed, decided, or (waiting for children) when the last sub-agent ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Waiting for placement, or placed and not yet started.
    Queued,
    /// A node is executing it.
    Running,
    /// Finished with a final answer.
    Completed,
    /// Finished with an error (the reason is kept in [`Run::error`]).
    Failed,
    /// Stopped by an operator.
    Cancelled,
    /// Suspended by an operator (or its budget ran out).
    Paused,
    /// A tool call waits for a person's approval (`approval_requested`); holds no node.
    WaitingApproval,
    /// It delegated to sub-agents and waits for their answers; holds no node and is queued
    /// again when the last of them ends (see [`crate::team`]).
    WaitingChildren,
}

impl RunStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [RunStatus; 8] = [
        Self::Queued,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::Paused,
        Self::WaitingApproval,
        Self::WaitingChildren,
    ];

    /// Returns the lowercase name stored in the database and shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Paused => "paused",
            Self::WaitingApproval => "waiting_approval",
            Self::WaitingChildren => "waiting_children",
        }
    }

    /// Returns whether the run can never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| format!("unknown run status {text:?}"))
    }
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The run's id.
    pub id: RunId,
    /// The agent it works on.
    pub agent_id: AgentId,
    /// Current state.
    pub status: RunStatus,
    /// Ownership epoch: 0 until first placed, bumped on every (re)assignment.
    pub epoch: u64,
    /// Owning node, while placed.
    pub node_id: Option<NodeId>,
    /// The user input that started it.
    pub input: String,
    /// Failure reason, when failed.
    pub error: Option<String>,
    /// Why an unplaced queued run waits (e.g. no node has free slots), set by the placer.
    pub wait_reason: Option<String>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Last change, milliseconds since the Unix epoch.
    pub updated_ms: i64,
    /// The run's distributed trace: every execution of it is a child of this span (`None` for
    /// runs stored before tracing existed).
    pub trace_parent: Option<crate::TraceParent>,
}

/// What a node needs to execute (or resume) a run: the answer of `NodeService.LoadRun`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRun {
    /// The run, at the epoch asked for.
    pub run: Run,
    /// Its agent's spec.
    pub spec: AgentSpec,
    /// The agent's whole committed conversation, in order.
    pub messages: Vec<Message>,
    /// Ids of this run's tool calls with a committed `tool_start`, in order.
    pub started_tool_call_ids: Vec<String>,
    /// Whether its agent draws from a budget (commits then carry budget operations).
    pub budgeted: bool,
    /// The agent's latest conversation summary, if any.
    pub summary: Option<crate::message::ConversationSummary>,
    /// Whether a trace follower takes the agent's ephemeral events right now.
    pub followed: bool,
    /// Decisions on this run's held tool calls (`approval_decided`), in order.
    pub approvals: Vec<crate::approval::ApprovalDecision>,
    /// The sub-agents this run delegated to, with how each ended so far (see [`crate::team`]);
    /// empty unless the run has delegation calls.
    pub delegations: Vec<crate::team::Delegation>,
    /// Whether the agent was started by another agent's delegation: the run's ending commit
    /// then sets [`crate::CommitBatch::wake_parent`].
    pub delegated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>().unwrap(), status);
        }
        assert!("done".parse::<RunStatus>().is_err());
    }
}
