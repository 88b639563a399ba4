//! [`HubSink`]: the agent loop's [`StepSink`] over [`HubClient::commit`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use agentry_core::{CommitBatch, RunId, StepCommit};
use agentry_runtime::agent_loop::{SinkError, StepSink};

use crate::hub_client::HubClient;

/// Commits one run's steps under its epoch.
pub struct HubSink {
    hub: HubClient,
    run_id: RunId,
    epoch: u64,
    retry_window: Duration,
    followed: Option<Arc<AtomicBool>>,
}

impl HubSink {
    /// Returns a sink for `run_id` at `epoch`; commits are retried for `retry_window`.
    pub fn new(hub: HubClient, run_id: RunId, epoch: u64, retry_window: Duration) -> Self {
        Self { hub, run_id, epoch, retry_window, followed: None }
    }

    /// Keeps `followed` set to what each commit's answer says: whether someone follows the
    /// agent's streamed text.
    pub fn with_followed(mut self, followed: Arc<AtomicBool>) -> Self {
        self.followed = Some(followed);
        self
    }
}

#[async_trait]
impl StepSink for HubSink {
    async fn commit(&mut self, commit: StepCommit) -> Result<(), SinkError> {
        // One id for every attempt of this commit: a retry of a commit that was applied but
        // whose answer was lost is recognised by the hub and not written again.
        let commit_id = uuid::Uuid::now_v7().to_string();
        let batch = CommitBatch::of_step(self.run_id, self.epoch, Some(commit_id), commit);
        match self.hub.commit(&batch, self.retry_window).await {
            Ok(response) => {
                if let Some(followed) = &self.followed {
                    followed.store(response.followed, Ordering::Relaxed);
                }
                if response.budget_exceeded { Err(SinkError::BudgetExceeded) } else { Ok(()) }
            }
            Err(error) if error.is_fenced() => Err(SinkError::Fenced(error.message)),
            Err(error) => Err(SinkError::Failed(error.to_string())),
        }
    }
}
