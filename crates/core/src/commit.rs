//! Commits: the unit in which a node's progress on a run becomes durable (DESIGN.md §4).

use crate::budget::BudgetOp;
use crate::event::EventDraft;
use crate::ids::RunId;
use crate::message::Message;
use crate::run::RunStatus;

/// One atomic unit of progress on a run: events and messages appended together, and maybe a
/// new status. The agent loop produces one per step boundary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepCommit {
    /// Events, in order.
    pub events: Vec<EventDraft>,
    /// Conversation messages, in order.
    pub messages: Vec<Message>,
    /// New run status, if it changes.
    pub status: Option<RunStatus>,
    /// Failure reason, with [`RunStatus::Failed`].
    pub error: Option<String>,
    /// Budget settlement and/or reservation, for runs under a budget.
    pub budget: Option<BudgetOp>,
    /// Sub-agents to start in this commit's transaction (with status
    /// [`RunStatus::WaitingChildren`]); see [`crate::team`].
    pub delegations: Vec<crate::team::Delegation>,
}

/// One atomic commit of a node's progress on a run, fenced by the run's epoch: what crosses
/// `NodeService.Commit` and what the store applies in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitBatch {
    /// The run.
    pub run_id: RunId,
    /// The committer's epoch; must equal the run's current epoch.
    pub epoch: u64,
    /// Events to append; the store assigns consecutive `seq` numbers.
    pub events: Vec<EventDraft>,
    /// Messages to append to the agent's conversation, in order.
    pub messages: Vec<Message>,
    /// New status, if it changes.
    pub status: Option<RunStatus>,
    /// Failure reason, with status `failed`.
    pub error: Option<String>,
    /// Id chosen by the committer, the same for every retry of this commit: when it equals the
    /// run's last applied commit id, the commit is answered as applied and nothing is written.
    pub commit_id: Option<String>,
    /// Budget settlement and/or reservation, applied in the commit's transaction.
    pub budget: Option<BudgetOp>,
    /// Sub-agents to start in the commit's transaction: for each, an agent (parent: the run's
    /// agent; spec: the run's agent's `team` role; budget: the parent's) and its first run,
    /// queued, and a `delegations` row. Empty for almost every commit.
    pub delegations: Vec<crate::team::Delegation>,
    /// On a delegated run's ending commit: queue the parent run again (in the same
    /// transaction) if this was the last of its sub-agents to end.
    pub wake_parent: bool,
}

impl CommitBatch {
    /// Returns the commit of `step` on `run_id` under `epoch`, identified by `commit_id`.
    pub fn of_step(run_id: RunId, epoch: u64, commit_id: Option<String>, step: StepCommit) -> Self {
        Self {
            run_id,
            epoch,
            events: step.events,
            messages: step.messages,
            status: step.status,
            error: step.error,
            commit_id,
            budget: step.budget,
            delegations: step.delegations,
            wake_parent: false,
        }
    }
}
