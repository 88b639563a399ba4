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
        let run = self.store.control_run(run_id, control.clone()).await?;
        tracing::info!(%run_id, ?control, status = %run.status, epoch = run.epoch, "run control applied");
        self.fanout.publish(run.agent_id).await;
        self.placement_wakeup.notify_one();
        Ok(run)
    }

    /// Cancels every run of the agent that has not ended, for `on_busy=INTERRUPT`.
    pub(crate) async fn interrupt_agent(&self, agent_id: AgentId) -> Result<()> {
        for run in self.store.active_runs(agent_id).await? {
            let cancel = RunControl::Cancel { reason: INTERRUPTED_REASON.into() };
            match self.store.control_run(run.id, cancel).await {
                Ok(_) => tracing::info!(run_id = %run.id, %agent_id, "run interrupted"),
                // It ended meanwhile: nothing to interrupt.
                Err(agentry_store::Error::Conflict(reason)) => tracing::debug!(%reason, "run already ended"),
                Err(error) => return Err(error.into()),
            }
        }
        self.fanout.publish(agent_id).await;
        Ok(())
    }
}
