//! Operator controls of runs: cancel, pause, resume, and `on_busy=INTERRUPT`.
//!
//! Cancel and pause bump the run's epoch, which fences its executor: every later commit of the
//! old epoch is refused, and the node learns at its next heartbeat that its lease on the run
//! was revoked, and stops executing it.

use agentry_core::{AgentId, Run, RunId};
use agentry_store::RunControl;

use crate::error::Result;
use crate::hub::Hub;

/// Reason recorded on runs cancelled by `on_busy=INTERRUPT`.
pub const INTERRUPTED_REASON: &str = "interrupted by a new message (on_busy=INTERRUPT)";

impl Hub {
    /// Applies `control` to a run; returns the run after it.
    ///
    /// Errors: NOT_FOUND for an unknown run; FAILED_PRECONDITION when its status forbids the
    /// change (the message names the status).
    pub async fn control_run(&self, run_id: RunId, control: RunControl) -> Result<Run> {
        let cancelled = matches!(control, RunControl::Cancel { .. });
        let run = self.store.control_run(run_id, control.clone()).await?;
        tracing::info!(%run_id, ?control, status = %run.status, epoch = run.epoch, "run control applied");
        self.fanout.publish(run.agent_id).await;
        if cancelled {
            self.cancel_sub_agents(&run).await?;
        }
        self.placement_wakeup.notify_one();
        Ok(run)
    }

    /// Cancels the runs of `run`'s agent's sub-agents (its whole delegation tree below it) that
    /// have not ended: a cancelled parent's sub-agents have no one to answer.
    async fn cancel_sub_agents(&self, run: &Run) -> Result<()> {
        let tree = self.store.agent_tree(run.agent_id).await?;
        let reason = format!("its parent run {} was cancelled", run.id);
        for entry in tree.iter().filter(|entry| entry.depth > 0) {
            let Some(latest) = entry.summary.latest_run.as_ref().filter(|latest| !latest.status.is_terminal()) else {
                continue;
            };
            let agent_id = latest.agent_id;
            match self.store.control_run(latest.id, RunControl::Cancel { reason: reason.clone() }).await {
                Ok(_) => tracing::info!(run_id = %latest.id, %agent_id, "sub-agent run cancelled with its parent"),
                // It ended meanwhile: nothing to cancel.
                Err(agentry_store::Error::Conflict(reason)) => tracing::debug!(%reason, "sub-agent run already ended"),
                Err(error) => return Err(error.into()),
            }
            self.fanout.publish(agent_id).await;
        }
        Ok(())
    }

    /// Queues again every run waiting for sub-agents that have all ended (the reaper's safety
    /// net for endings that did not wake their parent); returns how many.
    pub async fn wake_waiting_parents(&self) -> Result<usize> {
        let woken = self.store.wake_waiting_parents().await?;
        if !woken.is_empty() {
            self.placement_wakeup.notify_one();
        }
        Ok(woken.len())
    }

    /// Cancels every run of the agent that has not ended, for `on_busy=INTERRUPT`.
    pub(crate) async fn interrupt_agent(&self, agent_id: AgentId) -> Result<()> {
        for run in self.store.active_runs(agent_id).await? {
            let cancel = RunControl::Cancel { reason: INTERRUPTED_REASON.into() };
            match self.store.control_run(run.id, cancel).await {
                Ok(cancelled) => {
                    tracing::info!(run_id = %run.id, %agent_id, "run interrupted");
                    self.cancel_sub_agents(&cancelled).await?;
                }
                // It ended meanwhile: nothing to interrupt.
                Err(agentry_store::Error::Conflict(reason)) => tracing::debug!(%reason, "run already ended"),
                Err(error) => return Err(error.into()),
            }
        }
        self.fanout.publish(agent_id).await;
        Ok(())
    }
}
