//! [`StepSink`] over `NodeService.Commit`, retrying while the hub is unreachable.

use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tonic::Code;
use tonic::transport::Channel;

use agentry_core::agent_loop::{SinkError, StepCommit, StepSink};
use agentry_core::{RunId, RunStatus};
use agentry_proto::v1 as pb;
use agentry_proto::v1::node_service_client::NodeServiceClient;

/// Commits one run's steps under its epoch.
pub struct GrpcSink {
    client: NodeServiceClient<Channel>,
    run_id: RunId,
    epoch: u64,
    retry_window: Duration,
}

impl GrpcSink {
    /// Returns a sink for `run_id` at `epoch`.
    pub fn new(client: NodeServiceClient<Channel>, run_id: RunId, epoch: u64, retry_window: Duration) -> Self {
        Self { client, run_id, epoch, retry_window }
    }
}

#[async_trait]
impl StepSink for GrpcSink {
    async fn commit(&mut self, commit: StepCommit) -> Result<(), SinkError> {
        // One id for every attempt of this commit: a retry of a commit that was applied but
        // whose answer was lost is recognised by the hub and not written again.
        let mut request = commit_request(self.run_id, self.epoch, commit);
        request.commit_id = uuid::Uuid::now_v7().to_string();
        let deadline = Instant::now() + self.retry_window;
        let mut backoff = Duration::from_millis(100);
        loop {
            let status = match self.client.commit(request.clone()).await {
                Ok(_) => return Ok(()),
                Err(status) => status,
            };
            match status.code() {
                Code::FailedPrecondition => return Err(SinkError::Fenced(status.message().to_owned())),
                Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Cancelled
                    if Instant::now() + backoff < deadline =>
                {
                    tracing::warn!(run_id = %self.run_id, code = ?status.code(), message = status.message(), "commit failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                _ => return Err(SinkError::Failed(format!("{:?}: {}", status.code(), status.message()))),
            }
        }
    }
}

/// Returns the wire form of a commit.
pub fn commit_request(run_id: RunId, epoch: u64, commit: StepCommit) -> pb::CommitRequest {
    pb::CommitRequest {
        run_id: run_id.to_string(),
        epoch,
        events: commit
            .events
            .into_iter()
            .map(|event| pb::EventDraft { r#type: event.kind, data: event.data.to_string(), ts_unix_ms: event.ts_ms })
            .collect(),
        messages: commit
            .messages
            .into_iter()
            .map(|message| pb::Message {
                role: message.role.as_str().to_owned(),
                content: message.content,
                tool_calls: message
                    .tool_calls
                    .into_iter()
                    .map(|call| pb::ToolCall { id: call.id, name: call.name, arguments: call.arguments })
                    .collect(),
                tool_call_id: message.tool_call_id.unwrap_or_default(),
                run_id: String::new(),
                index: 0,
            })
            .collect(),
        status: commit.status.map_or(pb::RunStatus::Unspecified, status) as i32,
        error: commit.error.unwrap_or_default(),
        commit_id: String::new(),
    }
}

fn status(status: RunStatus) -> pb::RunStatus {
    match status {
        RunStatus::Queued => pb::RunStatus::Queued,
        RunStatus::Running => pb::RunStatus::Running,
        RunStatus::Completed => pb::RunStatus::Completed,
        RunStatus::Failed => pb::RunStatus::Failed,
        RunStatus::Cancelled => pb::RunStatus::Cancelled,
        RunStatus::Paused => pb::RunStatus::Paused,
    }
}
