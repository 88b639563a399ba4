//! [`HubSink`]: the agent loop's [`StepSink`] over [`HubClient::commit`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use agentry_core::{CommitBatch, RunId, StepCommit, TraceParent};
use agentry_runtime::agent_loop::{SinkError, StepSink};

use crate::hub_client::HubClient;
use crate::metrics::NodeMetrics;

/// Commits one run's steps under its epoch.
pub struct HubSink {
    hub: HubClient,
    run_id: RunId,
    epoch: u64,
    retry_window: Duration,
    followed: Option<Arc<AtomicBool>>,
    trace_parent: Option<TraceParent>,
    metrics: Option<NodeMetrics>,
    delegated: bool,
}

impl HubSink {
    /// Returns a sink for `run_id` at `epoch`; commits are retried for `retry_window`.
    pub fn new(hub: HubClient, run_id: RunId, epoch: u64, retry_window: Duration) -> Self {
        Self { hub, run_id, epoch, retry_window, followed: None, trace_parent: None, metrics: None, delegated: false }
    }

    /// Marks the run as a sub-agent's (started by another run's delegation): its ending
    /// commit then asks the hub to queue the parent run again if it was the last sub-agent to
    /// end (`wake_parent`).
    pub fn with_delegated(mut self, delegated: bool) -> Self {
        self.delegated = delegated;
        self
    }

    /// Records the events of every commit into `metrics` once committed.
    pub fn with_metrics(mut self, metrics: NodeMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Names `trace_parent` (the run's, from its task) as the span of the events committed
    /// while no exported span is current.
    pub fn with_trace_parent(mut self, trace_parent: Option<TraceParent>) -> Self {
        self.trace_parent = trace_parent;
        self
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
    async fn commit(&mut self, mut commit: StepCommit) -> Result<(), SinkError> {
        // The step's span (`chat`, `execute_tool` or `invoke_agent`) produced these events.
        if let Some(producer) = agentry_telemetry::propagation::current_if_exported().or(self.trace_parent) {
            for event in &mut commit.events {
                event.trace.get_or_insert(producer);
            }
        }
        // One id for every attempt of this commit: a retry of a commit that was applied but
        // whose answer was lost is recognised by the hub and not written again.
        let commit_id = uuid::Uuid::now_v7().to_string();
        let mut batch = CommitBatch::of_step(self.run_id, self.epoch, Some(commit_id), commit);
        batch.wake_parent = self.delegated && batch.status.is_some_and(|status| status.is_terminal());
        // The hub's `NodeService/Commit` span, a child of the step's span, is the commit's span.
        match self.hub.commit(&batch, self.retry_window).await {
            Ok(response) => {
                if let Some(metrics) = &self.metrics {
                    metrics.record_committed(&batch.events);
                }
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
