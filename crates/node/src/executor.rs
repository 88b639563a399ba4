//! Executes one delivered task: load the run, drive the agent loop, acknowledge.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use tonic::Code;
use tonic::transport::Channel;

use agentry_broker::Delivery;
use agentry_core::agent_loop::{RunOutcome, RunRequest, SinkError, StepCommit, StepSink, drive_run};
use agentry_core::event::kind;
use agentry_core::model::ModelProvider;
use agentry_core::tools::ToolRegistry;
use agentry_core::{AgentSpec, EventDraft, Message, NodeId, Role, RunId, RunStatus, ToolCall};
use agentry_proto::v1 as pb;
use agentry_proto::v1::node_service_client::NodeServiceClient;

use crate::config::NodeConfig;
use crate::leases::Leases;
use crate::sink::GrpcSink;

/// Delay before a task handed back after a failure is delivered again.
const REDELIVERY_DELAY: Duration = Duration::from_secs(2);

/// What a node needs to execute runs.
#[derive(Clone)]
pub struct Executor {
    pub(crate) node_id: NodeId,
    pub(crate) client: NodeServiceClient<Channel>,
    pub(crate) model: Arc<dyn ModelProvider>,
    pub(crate) config: NodeConfig,
    pub(crate) leases: Leases,
    /// Why each run handed back for redelivery failed last, for its dead-letter reason.
    pub(crate) failures: Arc<Mutex<HashMap<RunId, String>>>,
}

impl Executor {
    /// Handles one delivery to the end; never panics on bad data, always acks or naks.
    ///
    /// The run is held under the task's epoch in [`Leases`] meanwhile; when the hub revokes
    /// the lease (the run moved, was cancelled or paused) execution stops where it is (a tool
    /// process is killed) and the task is acknowledged: its epoch is stale, so nothing more of
    /// this attempt could be committed anyway.
    #[tracing::instrument(skip_all, fields(run_id = %delivery.task.run_id, epoch = delivery.task.epoch))]
    pub async fn handle(&self, delivery: Delivery) {
        let (run_id, epoch) = (delivery.task.run_id, delivery.task.epoch);
        let revoked = self.leases.acquire(run_id, epoch);
        let progress = self.keep_in_progress(&delivery);
        let settled = tokio::select! {
            settled = self.settle(&delivery) => settled,
            () = progress => Settled::Retry("progress ticker stopped".into()),
            () = revoked.cancelled() => {
                tracing::info!("lease revoked (run moved, cancelled or paused): run fenced, execution stopped");
                Settled::Done
            }
        };
        self.leases.release(run_id, epoch);
        let acknowledged = match settled {
            Settled::Done => {
                self.failures().remove(&run_id);
                delivery.ack().await
            }
            Settled::Retry(reason) => {
                tracing::warn!(%reason, delivered = delivery.delivered, "handing the run back for redelivery");
                self.failures().insert(run_id, reason);
                delivery.nak(REDELIVERY_DELAY).await
            }
        };
        if let Err(error) = acknowledged {
            tracing::warn!(%error, "acknowledgement failed; the broker will redeliver");
        }
    }

    /// Executes the delivery, or dead-letters its run once it was delivered more than
    /// `max_deliveries` times.
    async fn settle(&self, delivery: &Delivery) -> Settled {
        if delivery.delivered > self.config.max_deliveries {
            return self.dead_letter(delivery).await;
        }
        self.execute(delivery).await
    }

    /// Fails the run with the reason of its last failed attempt kept: the dead-letter state
    /// (`failed`, `run_failed {error, dead_letter: true, deliveries}`), shown by `agentry ps`.
    async fn dead_letter(&self, delivery: &Delivery) -> Settled {
        let task = &delivery.task;
        let attempts = delivery.delivered - 1;
        let last = self.failures().get(&task.run_id).cloned().unwrap_or_else(|| "unknown".to_owned());
        let reason = format!("dead-lettered after {attempts} failed deliveries; last failure: {last}");
        tracing::error!(%reason, "giving up on the run");
        let commit = StepCommit {
            events: vec![EventDraft::now(
                kind::RUN_FAILED,
                json!({ "error": reason, "dead_letter": true, "deliveries": attempts }),
            )],
            status: Some(RunStatus::Failed),
            error: Some(reason),
            ..StepCommit::default()
        };
        let mut sink = GrpcSink::new(self.client.clone(), task.run_id, task.epoch, self.config.commit_retry_window);
        match sink.commit(commit).await {
            Ok(()) | Err(SinkError::Fenced(_)) => Settled::Done,
            Err(SinkError::Failed(reason)) => Settled::Retry(format!("dead-lettering failed: {reason}")),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, String>> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn execute(&self, delivery: &Delivery) -> Settled {
        let task = &delivery.task;
        let request = pb::LoadRunRequest { run_id: task.run_id.to_string(), epoch: task.epoch };
        let loaded = match self.client.clone().load_run(request).await {
            Ok(response) => response.into_inner(),
            Err(status) if matches!(status.code(), Code::FailedPrecondition | Code::NotFound) => {
                tracing::info!(message = status.message(), "dropping task: the run is no longer ours");
                return Settled::Done;
            }
            Err(status) => return Settled::Retry(format!("load_run: {}", status.message())),
        };
        let run_request = match self.run_request(task.run_id, task.epoch, loaded) {
            Ok(Some(run_request)) => run_request,
            Ok(None) => return Settled::Done,
            Err(reason) => return Settled::Retry(reason),
        };
        let tools = match ToolRegistry::builtin(&run_request.spec.tools) {
            Ok(tools) => tools,
            Err(reason) => return Settled::Retry(format!("agent tools: {reason}")),
        };
        if let Err(error) = tokio::fs::create_dir_all(&run_request.workspace).await {
            return Settled::Retry(format!("workspace {}: {error}", run_request.workspace.display()));
        }
        let mut sink = GrpcSink::new(self.client.clone(), task.run_id, task.epoch, self.config.commit_retry_window);
        match drive_run(run_request, self.model.as_ref(), &tools, &mut sink).await {
            Ok(RunOutcome::Completed(_)) => tracing::info!("run completed"),
            Ok(RunOutcome::Failed(reason)) => tracing::info!(%reason, "run failed"),
            Ok(RunOutcome::Fenced) => tracing::info!("run fenced: it moved to another node or was stopped"),
            Err(error) => return Settled::Retry(error.to_string()),
        }
        Settled::Done
    }

    /// Builds the loop's request; `None` when the run needs nothing more (already ended).
    fn run_request(
        &self,
        run_id: RunId,
        epoch: u64,
        loaded: pb::LoadRunResponse,
    ) -> Result<Option<RunRequest>, String> {
        let run = loaded.run.ok_or("load_run answered without a run")?;
        let status = pb::RunStatus::try_from(run.status).unwrap_or(pb::RunStatus::Unspecified);
        if matches!(status, pb::RunStatus::Completed | pb::RunStatus::Failed | pb::RunStatus::Cancelled) {
            tracing::info!(status = ?status, "run already ended");
            return Ok(None);
        }
        let spec = loaded.spec.ok_or("load_run answered without a spec")?;
        let spec = AgentSpec {
            model: spec.model,
            tools: spec.tools,
            system: spec.system,
            max_iterations: spec.max_iterations,
            node_selector: spec.node_selector.into_iter().collect(),
            temperature: spec.temperature,
        };
        let history = loaded.messages.into_iter().map(message_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Some(RunRequest {
            run_id,
            node_id: self.node_id,
            epoch,
            spec,
            history,
            input: run.input,
            workspace: self.config.workspace_root.join(run_id.to_string()),
            tool_timeout: self.config.tool_timeout,
            started_tool_calls: loaded.started_tool_call_ids,
        }))
    }

    /// Tells the broker every `progress_interval` that the run is still being worked on.
    async fn keep_in_progress(&self, delivery: &Delivery) {
        let mut ticker = tokio::time::interval(self.config.progress_interval);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if let Err(error) = delivery.in_progress().await {
                tracing::debug!(%error, "progress ack failed");
            }
        }
    }
}

/// How a delivery ends.
enum Settled {
    /// Acknowledge: the run is finished, moved, or not ours.
    Done,
    /// Hand back for redelivery.
    Retry(String),
}

fn message_from(message: pb::Message) -> Result<Message, String> {
    let role = Role::parse(&message.role).ok_or_else(|| format!("load_run: unknown role {:?}", message.role))?;
    let run_id = match message.run_id.as_str() {
        "" => None,
        text => Some(text.parse::<RunId>().map_err(|error| format!("load_run: {error}"))?),
    };
    Ok(Message {
        role,
        content: message.content,
        tool_calls: message
            .tool_calls
            .into_iter()
            .map(|call| ToolCall { id: call.id, name: call.name, arguments: call.arguments })
            .collect(),
        tool_call_id: (!message.tool_call_id.is_empty()).then_some(message.tool_call_id),
        run_id,
    })
}
