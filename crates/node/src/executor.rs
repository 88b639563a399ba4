//! Executes one delivered task: load the run, drive the agent loop, acknowledge.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tracing::Instrument;

use agentry_broker::Delivery;
use agentry_core::event::kind;
use agentry_core::policy::ToolPolicy;
use agentry_core::{ErrorCode, EventDraft, LoadedRun, NodeId, RunId, RunStatus, StepCommit};
use agentry_runtime::agent_loop::{RunOutcome, RunRequest, SinkError, StepSink, drive_run};
use agentry_runtime::mcp::McpSession;
use agentry_runtime::model::ModelRouter;
use agentry_runtime::tools::{ToolCatalog, ToolRegistry};
use agentry_sandbox::Sandbox;

use crate::config::NodeConfig;
use crate::hub_client::HubClient;
use crate::leases::Leases;
use crate::metrics::NodeMetrics;
use crate::sink::HubSink;

/// Processes and threads an MCP stdio server may have.
const MCP_SERVER_MAX_PROCESSES: u64 = 512;

/// Delay before a task handed back after a failure is delivered again.
const REDELIVERY_DELAY: Duration = Duration::from_secs(2);

/// What a node needs to execute runs.
#[derive(Clone)]
pub struct Executor {
    pub(crate) node_id: NodeId,
    pub(crate) hub: HubClient,
    pub(crate) models: Arc<ModelRouter>,
    pub(crate) tools: Arc<dyn ToolCatalog>,
    /// Permissions and manifest overrides of tool calls.
    pub(crate) policy: Arc<ToolPolicy>,
    /// What confines the processes tools start.
    pub(crate) sandbox: Arc<dyn Sandbox>,
    pub(crate) config: NodeConfig,
    pub(crate) leases: Leases,
    /// Why each run handed back for redelivery failed last, for its dead-letter reason.
    pub(crate) failures: Arc<Mutex<HashMap<RunId, String>>>,
    pub(crate) metrics: NodeMetrics,
}

impl Executor {
    /// Handles one delivery to the end; never panics on bad data, always acks or naks.
    ///
    /// The run is held under the task's epoch in [`Leases`] meanwhile; when the hub revokes
    /// the lease (the run moved, was cancelled or paused) execution stops where it is (a tool
    /// process is killed) and the task is acknowledged: its epoch is stale, so nothing more of
    /// this attempt could be committed anyway.
    ///
    /// Everything happens in the run's `invoke_agent` span ([`crate::spans::invoke_agent`]), a
    /// child of the span the run's trace context (from the task) names.
    pub async fn handle(&self, delivery: Delivery) {
        let span = crate::spans::invoke_agent(self.node_id, &delivery.task);
        self.metrics.runs_active.inc();
        self.handle_in_span(delivery).instrument(span).await;
        self.metrics.runs_active.dec();
    }

    async fn handle_in_span(&self, delivery: Delivery) {
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
        self.metrics.dead_letters.inc();
        let commit = StepCommit {
            events: vec![EventDraft::now(
                kind::RUN_FAILED,
                json!({ "error": reason, "dead_letter": true, "deliveries": attempts }),
            )],
            status: Some(RunStatus::Failed),
            error: Some(reason),
            ..StepCommit::default()
        };
        // Whether the run is a sub-agent's is not known without loading it: the hub looks it up
        // (a dead letter is rare) and wakes a parent waiting for it.
        let mut sink = HubSink::new(self.hub.clone(), task.run_id, task.epoch, self.config.commit_retry_window)
            .with_trace_parent(task.trace_parent)
            .with_metrics(self.metrics.clone())
            .with_delegated(true);
        match sink.commit(commit).await {
            Ok(()) | Err(SinkError::Fenced(_) | SinkError::BudgetExceeded) => Settled::Done,
            Err(SinkError::Failed(reason)) => Settled::Retry(format!("dead-lettering failed: {reason}")),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, String>> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn execute(&self, delivery: &Delivery) -> Settled {
        let task = &delivery.task;
        let loaded = match self.hub.load_run(task.run_id, task.epoch).await {
            Ok(loaded) => loaded,
            Err(error) if error.is_fenced() || error.code == ErrorCode::NotFound => {
                tracing::info!(%error, "dropping task: the run is no longer ours");
                return Settled::Done;
            }
            Err(error) => return Settled::Retry(format!("load_run: {error}")),
        };
        let agent_id = loaded.run.agent_id;
        let delegated = loaded.delegated;
        let followed = Arc::new(std::sync::atomic::AtomicBool::new(loaded.followed));
        let Some(mut run_request) = self.run_request(task.run_id, task.epoch, loaded) else {
            return Settled::Done;
        };
        let publisher = self.config.stream_tokens.then(|| {
            let (sink, publisher) =
                crate::tokens::token_publisher(self.hub.clone(), agent_id, task.run_id, followed.clone());
            run_request.tokens = Some(std::sync::Arc::new(sink));
            publisher
        });
        if let Err(error) = tokio::fs::create_dir_all(&run_request.workspace).await {
            return Settled::Retry(format!("workspace {}: {error}", run_request.workspace.display()));
        }
        let (tools, mcp) = match self.tools_of(&run_request).await {
            Ok(tools) => tools,
            Err(reason) => return Settled::Retry(reason),
        };
        let mut sink = HubSink::new(self.hub.clone(), task.run_id, task.epoch, self.config.commit_retry_window)
            .with_followed(followed)
            .with_trace_parent(task.trace_parent)
            .with_metrics(self.metrics.clone())
            .with_delegated(delegated);
        crate::spans::record_request(&run_request);
        let outcome = drive_run(run_request, &self.models, &tools, &mut sink).await;
        if let Some(mcp) = mcp {
            mcp.shutdown().await;
        }
        if let Some(publisher) = publisher {
            // The loop dropped its sink: the publisher sends what is left and ends.
            let _ = publisher.await;
        }
        match outcome {
            Ok(RunOutcome::Completed(_)) => tracing::info!("run completed"),
            Ok(RunOutcome::Failed(reason)) => tracing::info!(%reason, "run failed"),
            Ok(RunOutcome::Fenced) => tracing::info!("run fenced: it moved to another node or was stopped"),
            Ok(RunOutcome::Paused(reason)) => tracing::info!(%reason, "run paused"),
            Ok(RunOutcome::WaitingApproval(call)) => tracing::info!(tool_call_id = %call, "run waits for an approval"),
            Ok(RunOutcome::WaitingChildren(started)) => tracing::info!(started, "run waits for its sub-agents"),
            Err(error) => return Settled::Retry(error.to_string()),
        }
        Settled::Done
    }

    /// Returns the agent's tools — its builtins with the node's manifest overrides, then the
    /// tools of its MCP servers (started for this run) — confined by the node's sandbox.
    ///
    /// Errors name the unknown tool or the MCP server that failed to start.
    async fn tools_of(&self, request: &RunRequest) -> Result<(ToolRegistry, Option<McpSession>), String> {
        let mut tools = self.tools.tools(&request.spec.tools).map_err(|reason| format!("agent tools: {reason}"))?;
        tools.set_sandbox(self.sandbox.clone());
        tools.apply_overrides(&self.policy.manifest);
        if request.spec.mcp_servers.is_empty() {
            return Ok((tools, None));
        }
        // A server lives as long as the run: no CPU or wall-time limit of its own (each call has
        // the tool timeout); no address-space limit, which runtimes such as Node.js exceed by
        // reserving memory they never use.
        let limits = agentry_sandbox::ResourceLimits {
            cpu_seconds: None,
            memory_bytes: None,
            max_processes: Some(MCP_SERVER_MAX_PROCESSES),
            wall_time: Duration::MAX,
            max_output_bytes: agentry_core::limits::MAX_TOOL_OUTPUT_BYTES,
        };
        let session = McpSession::start(&request.spec.mcp_servers, &self.sandbox, &request.workspace, limits)
            .await
            .map_err(|error| format!("MCP: {error}"))?;
        for tool in session.tools() {
            tools.insert(tool);
        }
        Ok((tools, Some(session)))
    }

    /// Builds the loop's request; `None` when the run needs nothing more (already ended).
    fn run_request(&self, run_id: RunId, epoch: u64, loaded: LoadedRun) -> Option<RunRequest> {
        if loaded.run.status.is_terminal() {
            tracing::info!(status = %loaded.run.status, "run already ended");
            return None;
        }
        Some(RunRequest {
            run_id,
            node_id: self.node_id,
            epoch,
            spec: loaded.spec,
            history: loaded.messages,
            input: loaded.run.input,
            workspace: self.config.workspace_root.join(run_id.to_string()),
            tool_timeout: self.config.tool_timeout,
            started_tool_calls: loaded.started_tool_call_ids,
            budgeted: loaded.budgeted,
            summary: loaded.summary,
            tokens: None,
            policy: self.policy.clone(),
            approvals: loaded.approvals,
            delegations: loaded.delegations,
        })
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
