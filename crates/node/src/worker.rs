//! The node's lifecycle: join → heartbeat + pull loop → drain on shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
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

/// How long a node keeps trying to reach the hub at start before giving up.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a node until `shutdown`: joins the hub, heartbeats, executes tasks with at most
/// `slots` runs at once. On shutdown it stops pulling and lets in-flight runs finish within
/// `shutdown_grace`; runs still going are then dropped unacknowledged, so the broker
/// redelivers them (they resume from their last commit).
pub async fn run(config: NodeConfig, queue: Arc<dyn TaskQueue>, shutdown: CancellationToken) -> Result<(), NodeError> {
    let model = Arc::new(OpenAiProvider::new(config.openai.clone())?);
    tokio::fs::create_dir_all(&config.workspace_root).await.map_err(|error| NodeError::Workspace {
        path: config.workspace_root.display().to_string(),
        reason: error.to_string(),
    })?;
    let client = connect(&config.hub_url)?;
    let (node_id, heartbeat_interval) = tokio::select! {
        joined = join(&config, client.clone()) => joined?,
        _ = shutdown.cancelled() => return Ok(()),
    };
    tracing::info!(%node_id, name = %config.name, slots = config.slots, "node joined");

    let slots = Arc::new(Semaphore::new(config.slots as usize));
    let running = Arc::new(AtomicU32::new(0));
    let heartbeats =
        tokio::spawn(heartbeat_loop(client.clone(), node_id, heartbeat_interval, running.clone(), shutdown.clone()));
    let mut subscription = queue.subscribe(node_id).await?;
    let executor = Executor { node_id, client, model, config: config.clone() };
    let mut in_flight = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit.expect("slot semaphore is never closed"),
        };
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = subscription.next(config.pull_wait) => next,
        };
        while in_flight.try_join_next().is_some() {}
        match delivery {
            Ok(Some(delivery)) => {
                let executor = executor.clone();
                let running = running.clone();
                running.fetch_add(1, Ordering::Relaxed);
                in_flight.spawn(async move {
                    executor.handle(delivery).await;
                    running.fetch_sub(1, Ordering::Relaxed);
                    drop(permit);
                });
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "pulling tasks failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    tracing::info!(in_flight = in_flight.len(), "node stopping; waiting for in-flight runs");
    let drained =
        tokio::time::timeout(config.shutdown_grace, async { while in_flight.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(remaining = in_flight.len(), "grace period over; remaining runs will be redelivered");
        in_flight.abort_all();
    }
    heartbeats.abort();
    Ok(())
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

/// Joins, retrying while the hub is unreachable for up to [`JOIN_TIMEOUT`].
async fn join(config: &NodeConfig, mut client: NodeServiceClient<Channel>) -> Result<(NodeId, Duration), NodeError> {
    let request = pb::JoinRequest {
        name: config.name.clone(),
        slots: config.slots,
        labels: config.labels.clone().into_iter().collect(),
    };
    let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
    let hub_error = |reason: String| NodeError::Hub { url: config.hub_url.clone(), reason };
    let response = loop {
        match client.join(request.clone()).await {
            Ok(response) => break response.into_inner(),
            Err(status) if status.code() == tonic::Code::Unavailable && tokio::time::Instant::now() < deadline => {
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

/// Heartbeats every `interval` with the number of executing runs until `shutdown`.
async fn heartbeat_loop(
    mut client: NodeServiceClient<Channel>,
    node_id: NodeId,
    interval: Duration,
    running: Arc<AtomicU32>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let request = pb::HeartbeatRequest { node_id: node_id.to_string(), running: running.load(Ordering::Relaxed) };
        if let Err(status) = client.heartbeat(request).await {
            tracing::warn!(code = ?status.code(), message = status.message(), "heartbeat failed");
        }
    }
}
