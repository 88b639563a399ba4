//! The node's lifecycle: join → lease stream (on its own thread) + pull loop → drain on
//! shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use agentry_broker::{BrokerError, JetStreamConfig, JetStreamQueue, NatsTls, TaskQueue};
use agentry_core::NodeId;
use agentry_core::models::ModelsConfig;
use agentry_core::policy::ToolPolicy;
use agentry_runtime::model::{ModelProvider, ModelRouter};
use agentry_runtime::tools::{BuiltinTools, ToolCatalog};
use agentry_supervisor::{Policy, Supervisor};
use agentry_telemetry::Readiness;
use agentry_telemetry::prometheus::Registry;

use crate::config::{InvalidConfig, NodeConfig};
use crate::error::NodeError;
use crate::executor::Executor;
use crate::heartbeat::{LeaseSettings, hold_lease_on_own_thread};
use crate::hub_client::{HubClient, Membership, client_tls};
use crate::leases::Leases;
use crate::metrics::{METRICS_TLS_RELOAD_INTERVAL, NodeMetrics, metrics_tls};

/// How long a node keeps trying to reach the hub at start before giving up.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long revoked executors may take to stop before they are aborted.
const REVOKED_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a leaving node waits for the hub to take its runs back.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Policy of the heartbeat task: without heartbeats the node's leases silently expire and its
/// runs are moved while it keeps executing them, so a heartbeat task that panics or ends takes
/// the node down (its process manager restarts it; the runs resume elsewhere meanwhile).
pub const HEARTBEAT_POLICY: Policy = Policy::Fatal;

/// A node to run: its configuration, its model catalogue and, optionally, an injected task
/// queue, model provider and tool catalog (tests and embedders swap them; `agentry dev` shares
/// its in-process queue).
pub struct Node {
    config: NodeConfig,
    models: ModelsConfig,
    queue: Option<Arc<dyn TaskQueue>>,
    model: Option<Arc<dyn ModelProvider>>,
    tools: Arc<dyn ToolCatalog>,
    policy: Arc<ToolPolicy>,
    supervisor: Supervisor,
    registry: Option<Registry>,
    http_listener: Option<TcpListener>,
}

impl Node {
    /// Returns a node that connects to `config.nats_url`, serves `provider:model` references from
    /// the implicit endpoints of `config` (no configured models) and offers the builtin tools.
    pub fn new(config: NodeConfig) -> Self {
        Self {
            config,
            models: ModelsConfig::default(),
            queue: None,
            model: None,
            tools: Arc::new(BuiltinTools),
            policy: Arc::new(ToolPolicy::default()),
            supervisor: Supervisor::new(),
            registry: None,
            http_listener: None,
        }
    }

    /// Registers the node's metrics on `registry` (shared by the nodes and the hub of `agentry
    /// dev`, each node's series labelled with its name) instead of a registry of its own.
    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Serves HTTP on `listener`: `/metrics` (Prometheus text format), `/healthz`, and
    /// `/readyz` (ready while the node is a member of the cluster and pulls tasks).
    pub fn with_http_listener(mut self, listener: TcpListener) -> Self {
        self.http_listener = Some(listener);
        self
    }

    /// Applies `policy` (the `[tools]` section: permissions, manifest overrides) to tool calls.
    pub fn with_tool_policy(mut self, policy: ToolPolicy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Serves the configured models and routes of `models` (validated, api keys read).
    pub fn with_models(mut self, models: ModelsConfig) -> Self {
        self.models = models;
        self
    }

    /// Pulls tasks from `queue` instead of connecting to NATS.
    pub fn with_queue(mut self, queue: Arc<dyn TaskQueue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Answers every model call (configured models and `provider:model` alike) with `model`.
    pub fn with_model(mut self, model: Arc<dyn ModelProvider>) -> Self {
        self.model = Some(model);
        self
    }

    /// Builds agents' tools with `tools` instead of the builtins.
    pub fn with_tools(mut self, tools: Arc<dyn ToolCatalog>) -> Self {
        self.tools = tools;
        self
    }

    /// Returns the supervisor of the node's background tasks (to observe their failures).
    pub fn supervisor(&self) -> Supervisor {
        self.supervisor.clone()
    }

    /// Runs the node until `shutdown`: joins the hub, heartbeats, executes tasks with at most
    /// `slots` runs at once. When the hub declares the node dead (it was cut off for longer
    /// than its lease), the node stops its runs (they were moved) and joins again under a new
    /// identity. On shutdown it stops pulling, lets in-flight runs finish within
    /// `shutdown_grace`, then leaves: the hub takes back the runs still going and other nodes
    /// resume them from their last commit.
    ///
    /// Errors when the configuration is invalid, NATS, the hub or the workspace root cannot be
    /// reached, or a fatal background task fails.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), NodeError> {
        let config = self.config;
        config.validate()?;
        let models = Arc::new(match self.model {
            Some(provider) => ModelRouter::with_provider(self.models, provider),
            None => ModelRouter::new(self.models, &config.default_endpoints())?,
        });
        // TLS files are read before anything connects: a wrong path fails the start at once.
        let hub_tls = client_tls(&config)?;
        let http_tls = match self.http_listener {
            Some(_) => metrics_tls(&config)?,
            None => None,
        };
        let sandbox = agentry_sandbox::detect(config.sandbox)?;
        match sandbox.kind() {
            agentry_sandbox::SandboxKind::None => tracing::warn!(
                "sandbox = \"none\": tool processes (bash, MCP stdio servers) run unconfined with this node's user, \
                 network and files"
            ),
            kind => tracing::info!(sandbox = %kind, "tool processes run in the sandbox"),
        }
        tokio::fs::create_dir_all(&config.workspace_root).await.map_err(|error| NodeError::Workspace {
            path: config.workspace_root.display().to_string(),
            reason: error.to_string(),
        })?;
        let queue = match self.queue {
            Some(queue) => queue,
            None => Arc::new(
                JetStreamQueue::connect(JetStreamConfig {
                    pull_batch: config.slots as usize,
                    tls: NatsTls { ca: config.nats_ca.clone() },
                    ..JetStreamConfig::new(config.nats_url.clone())
                })
                .await
                .map_err(|source| match source {
                    BrokerError::Tls { .. } => NodeError::Config(InvalidConfig::new("nats-ca", source.to_string())),
                    source => NodeError::Broker { url: config.nats_url.clone(), source },
                })?,
            ),
        };
        let registry = self.registry.unwrap_or_default();
        let metrics = NodeMetrics::register(&registry, &config.name)
            .map_err(|error| NodeError::Metrics(format!("registering the metrics of node {}: {error}", config.name)))?;
        metrics.slots.set(i64::from(config.slots));
        let readiness = Readiness::new(false);
        let http_stop = CancellationToken::new();
        let _stop_http = http_stop.clone().drop_guard();
        if let Some(listener) = self.http_listener {
            let router = agentry_telemetry::router(registry, readiness.clone(), None);
            match &http_tls {
                Some(tls) => {
                    tls.spawn_reloader(METRICS_TLS_RELOAD_INTERVAL, http_stop.clone());
                    agentry_telemetry::http::spawn_https(listener, tls, router, http_stop, "node");
                }
                None => agentry_telemetry::spawn_http(listener, router, http_stop, "node"),
            }
        }
        let hub = HubClient::with_tls(&config.hub, hub_tls.as_ref())?;
        let supervisor = self.supervisor;
        let failures = Arc::default();
        // The first join gives up after JOIN_TIMEOUT (a wrong URL should fail fast); joining
        // again after a lost membership keeps trying.
        let mut join_timeout = Some(JOIN_TIMEOUT);
        loop {
            let joined = tokio::select! {
                joined = hub.join(&config.name, config.slots, &config.labels, join_timeout) => joined,
                _ = shutdown.cancelled() => return Ok(()),
            };
            let membership = joined.map_err(|error| NodeError::Hub {
                url: config.hub.clone(),
                reason: format!("join refused: {}", error.message),
            })?;
            join_timeout = None;
            tracing::info!(node_id = %membership.node_id, name = %config.name, slots = config.slots, "node joined");
            let executor = Executor {
                node_id: membership.node_id,
                hub: hub.clone(),
                models: models.clone(),
                tools: self.tools.clone(),
                policy: self.policy.clone(),
                sandbox: sandbox.clone(),
                config: config.clone(),
                leases: Leases::default(),
                failures: Arc::clone(&failures),
                metrics: metrics.clone(),
            };
            readiness.set(true);
            let ended = serve_membership(executor, queue.as_ref(), membership, &supervisor, &shutdown).await;
            readiness.set(false);
            supervisor.join().await;
            // `Failed` always comes with a fatal failure; one may also come during a shutdown.
            if let Some(failure) = supervisor.fatal_failure() {
                return Err(NodeError::Task { task: failure.task, reason: failure.reason });
            }
            match ended {
                Ended::Shutdown | Ended::Failed => return Ok(()),
                Ended::Lost => {
                    tracing::warn!(node_id = %membership.node_id, "membership lost; joining again under a new identity")
                }
            }
        }
    }
}

/// Runs a node built from `config` until `shutdown`; see [`Node::run`].
pub async fn run(config: NodeConfig, shutdown: CancellationToken) -> Result<(), NodeError> {
    Node::new(config).run(shutdown).await
}

/// How a membership ended.
enum Ended {
    /// The node is shutting down (and has left).
    Shutdown,
    /// The hub no longer knows this identity.
    Lost,
    /// A fatal background task (the heartbeat) failed: the runs were stopped and handed back.
    Failed,
}

/// Executes tasks as one member of the cluster until shutdown or until the membership is lost.
async fn serve_membership(
    executor: Executor,
    queue: &dyn TaskQueue,
    membership: Membership,
    supervisor: &Supervisor,
    shutdown: &CancellationToken,
) -> Ended {
    let config = executor.config.clone();
    let node_id = membership.node_id;
    let leases = executor.leases.clone();
    let (stop_heartbeats, lost) = (CancellationToken::new(), CancellationToken::new());
    let lease_settings = LeaseSettings {
        hub_url: config.hub.clone(),
        tls: executor.hub.tls().cloned(),
        node_id,
        interval: membership.heartbeat_interval,
        lease_ttl: membership.lease_ttl,
    };
    let (heartbeat_leases, heartbeat_lost) = (leases.clone(), lost.clone());
    supervisor.spawn("heartbeat", HEARTBEAT_POLICY, stop_heartbeats.clone(), move |stop| {
        let (settings, leases, lost) = (lease_settings.clone(), heartbeat_leases.clone(), heartbeat_lost.clone());
        async move {
            hold_lease_on_own_thread(settings, leases, stop.clone(), lost.clone()).await;
            // A lost membership ends the loop on purpose: wait to be stopped with it.
            if lost.is_cancelled() {
                stop.cancelled().await;
            }
        }
    });
    let heartbeat_failed = supervisor.failed();
    let slots = Arc::new(Semaphore::new(config.slots as usize));
    let mut in_flight = JoinSet::new();
    let mut subscription = None;
    let ended = loop {
        let Some(tasks) = subscription.as_mut() else {
            match queue.subscribe(node_id).await {
                Ok(opened) => subscription = Some(opened),
                Err(error) => {
                    tracing::warn!(%error, "opening the task subscription failed; retrying");
                    if let Some(ended) = pause(shutdown, &lost, Duration::from_secs(1)).await {
                        break ended;
                    }
                }
            }
            continue;
        };
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break Ended::Shutdown,
            _ = heartbeat_failed.cancelled() => break Ended::Failed,
            _ = lost.cancelled() => break Ended::Lost,
            permit = slots.clone().acquire_owned() => permit.expect("slot semaphore is never closed"),
        };
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break Ended::Shutdown,
            _ = heartbeat_failed.cancelled() => break Ended::Failed,
            _ = lost.cancelled() => break Ended::Lost,
            next = tasks.next(config.pull_wait) => next,
        };
        while let Some(joined) = in_flight.try_join_next() {
            report_executor(joined);
        }
        match delivery {
            Ok(Some(delivery)) => {
                let executor = executor.clone();
                in_flight.spawn(async move {
                    executor.handle(delivery).await;
                    drop(permit);
                });
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "pulling tasks failed; retrying");
                if let Some(ended) = pause(shutdown, &lost, Duration::from_secs(1)).await {
                    break ended;
                }
            }
        }
    };
    if matches!(ended, Ended::Lost | Ended::Failed) {
        // Lost: every lease was revoked, the runs moved elsewhere. Failed: without heartbeats
        // the leases are about to expire, so stop now and hand the runs back below. The
        // executors stop at their next await (each logs that its run was fenced).
        leases.revoke_all();
        let stopped =
            tokio::time::timeout(REVOKED_STOP_TIMEOUT, async { while in_flight.join_next().await.is_some() {} });
        if stopped.await.is_err() {
            in_flight.abort_all();
            while in_flight.join_next().await.is_some() {}
        }
        stop_heartbeats.cancel();
        if matches!(ended, Ended::Failed) {
            leave(&executor.hub, node_id).await;
        }
        return ended;
    }
    tracing::info!(in_flight = in_flight.len(), "node stopping; waiting for in-flight runs");
    let drained =
        tokio::time::timeout(config.shutdown_grace, async { while in_flight.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(remaining = leases.len(), "grace period over; handing the remaining runs back");
        in_flight.abort_all();
        while in_flight.join_next().await.is_some() {}
    }
    stop_heartbeats.cancel();
    leave(&executor.hub, node_id).await;
    Ended::Shutdown
}

/// Sleeps `delay` unless the node shuts down or loses its membership first.
async fn pause(shutdown: &CancellationToken, lost: &CancellationToken, delay: Duration) -> Option<Ended> {
    tokio::select! {
        _ = shutdown.cancelled() => Some(Ended::Shutdown),
        _ = lost.cancelled() => Some(Ended::Lost),
        _ = tokio::time::sleep(delay) => None,
    }
}

/// Leaves the cluster: the hub takes back the runs this node still holds. Best effort: when the
/// hub cannot be reached, the node's lease expires and the reaper does the same.
async fn leave(hub: &HubClient, node_id: NodeId) {
    match hub.leave(node_id, LEAVE_TIMEOUT).await {
        Ok(released_runs) => tracing::info!(released_runs, "left the cluster"),
        Err(error) => tracing::warn!(%error, "leave failed; the lease will expire instead"),
    }
}

/// Logs an executor that panicked: its delivery was neither acked nor naked, so the broker
/// redelivers the task after its ack wait and the run resumes from its last commit.
fn report_executor(joined: Result<(), JoinError>) {
    if let Err(error) = joined
        && error.is_panic()
    {
        tracing::error!(task = "executor", %error, "run executor panicked; the broker will redeliver its task");
    }
}
