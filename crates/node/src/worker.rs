//! The node's lifecycle: join → heartbeat + pull loop → drain on shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use agentry_broker::TaskQueue;
use agentry_core::NodeId;
use agentry_core::limits::MAX_GRPC_MESSAGE_BYTES;
use agentry_core::model::OpenAiProvider;
use agentry_proto::v1 as pb;
use agentry_proto::v1::node_service_client::NodeServiceClient;

use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::executor::Executor;
use crate::heartbeat::heartbeat_loop;
use crate::leases::Leases;

/// How long a node keeps trying to reach the hub at start before giving up.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long revoked executors may take to stop before they are aborted.
const REVOKED_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a leaving node waits for the hub to take its runs back.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a node until `shutdown`: joins the hub, heartbeats, executes tasks with at most
/// `slots` runs at once. When the hub declares the node dead (it was cut off for longer than its
/// lease), the node stops its runs (they were moved) and joins again under a new identity. On
/// shutdown it stops pulling, lets in-flight runs finish within `shutdown_grace`, then leaves:
/// the hub takes back the runs still going and other nodes resume them from their last commit.
pub async fn run(config: NodeConfig, queue: Arc<dyn TaskQueue>, shutdown: CancellationToken) -> Result<(), NodeError> {
    let model = Arc::new(OpenAiProvider::new(config.openai.clone())?);
    tokio::fs::create_dir_all(&config.workspace_root).await.map_err(|error| NodeError::Workspace {
        path: config.workspace_root.display().to_string(),
        reason: error.to_string(),
    })?;
    let client = connect(&config.hub_url)?;
    let failures = Arc::default();
    // The first join gives up after JOIN_TIMEOUT (a wrong URL should fail fast); joining again
    // after a lost membership keeps trying.
    let mut join_timeout = Some(JOIN_TIMEOUT);
    loop {
        let (node_id, heartbeat_interval) = tokio::select! {
            joined = join(&config, client.clone(), join_timeout) => joined?,
            _ = shutdown.cancelled() => return Ok(()),
        };
        join_timeout = None;
        tracing::info!(%node_id, name = %config.name, slots = config.slots, "node joined");
        let executor = Executor {
            node_id,
            client: client.clone(),
            model: model.clone(),
            config: config.clone(),
            leases: Leases::default(),
            failures: Arc::clone(&failures),
        };
        match serve_membership(executor, queue.as_ref(), heartbeat_interval, &shutdown).await {
            Ended::Shutdown => return Ok(()),
            Ended::Lost => tracing::warn!(%node_id, "membership lost; joining again under a new identity"),
        }
    }
}

/// How a membership ended.
enum Ended {
    /// The node is shutting down (and has left).
    Shutdown,
    /// The hub no longer knows this identity.
    Lost,
}

/// Executes tasks as one member of the cluster until shutdown or until the membership is lost.
async fn serve_membership(
    executor: Executor,
    queue: &dyn TaskQueue,
    heartbeat_interval: Duration,
    shutdown: &CancellationToken,
) -> Ended {
    let config = executor.config.clone();
    let node_id = executor.node_id;
    let leases = executor.leases.clone();
    let (stop_heartbeats, lost) = (CancellationToken::new(), CancellationToken::new());
    let heartbeats = tokio::spawn(heartbeat_loop(
        executor.client.clone(),
        node_id,
        heartbeat_interval,
        leases.clone(),
        stop_heartbeats.clone(),
        lost.clone(),
    ));
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
            _ = lost.cancelled() => break Ended::Lost,
            permit = slots.clone().acquire_owned() => permit.expect("slot semaphore is never closed"),
        };
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break Ended::Shutdown,
            _ = lost.cancelled() => break Ended::Lost,
            next = tasks.next(config.pull_wait) => next,
        };
        while in_flight.try_join_next().is_some() {}
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
    if matches!(ended, Ended::Lost) {
        // Every lease was revoked: the executors stop at their next await (each logs that its
        // run was fenced); their runs moved elsewhere.
        let stopped =
            tokio::time::timeout(REVOKED_STOP_TIMEOUT, async { while in_flight.join_next().await.is_some() {} });
        if stopped.await.is_err() {
            in_flight.abort_all();
            while in_flight.join_next().await.is_some() {}
        }
        stop_heartbeats.cancel();
        let _ = heartbeats.await;
        return Ended::Lost;
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
    let _ = heartbeats.await;
    leave(executor.client.clone(), node_id).await;
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
async fn leave(mut client: NodeServiceClient<Channel>, node_id: NodeId) {
    let request = pb::LeaveRequest { node_id: node_id.to_string() };
    match tokio::time::timeout(LEAVE_TIMEOUT, client.leave(request)).await {
        Ok(Ok(response)) => {
            tracing::info!(released_runs = response.into_inner().released_runs, "left the cluster");
        }
        Ok(Err(status)) => tracing::warn!(message = status.message(), "leave refused; the lease will expire instead"),
        Err(_) => tracing::warn!("hub unreachable on leave; the lease will expire instead"),
    }
}

/// Returns a lazily connecting client of the hub's `NodeService`.
fn connect(hub_url: &str) -> Result<NodeServiceClient<Channel>, NodeError> {
    let endpoint = Endpoint::from_shared(hub_url.to_owned())
        .map_err(|error| NodeError::Hub { url: hub_url.to_owned(), reason: format!("invalid URL: {error}") })?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    Ok(NodeServiceClient::new(endpoint.connect_lazy())
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES))
}

/// Joins, retrying while the hub is unreachable, for up to `timeout` (`None`: until it works).
async fn join(
    config: &NodeConfig,
    mut client: NodeServiceClient<Channel>,
    timeout: Option<Duration>,
) -> Result<(NodeId, Duration), NodeError> {
    let request = pb::JoinRequest {
        name: config.name.clone(),
        slots: config.slots,
        labels: config.labels.clone().into_iter().collect(),
    };
    let deadline = timeout.map(|timeout| tokio::time::Instant::now() + timeout);
    let hub_error = |reason: String| NodeError::Hub { url: config.hub_url.clone(), reason };
    let response = loop {
        match client.join(request.clone()).await {
            Ok(response) => break response.into_inner(),
            Err(status)
                if status.code() == tonic::Code::Unavailable
                    && deadline.is_none_or(|deadline| tokio::time::Instant::now() < deadline) =>
            {
                tracing::debug!(message = status.message(), "hub not reachable yet");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => return Err(hub_error(format!("join refused: {}", status.message()))),
        }
    };
    let node_id =
        response.node_id.parse().map_err(|error| hub_error(format!("join answered a bad node id: {error}")))?;
    let interval = Duration::from_millis(response.heartbeat_interval_ms.max(100));
    Ok((node_id, interval))
}
