//! Serving: gRPC (AgentHub, NodeService, health, reflection) plus the background tasks.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use agentry_broker::TaskQueue;
use agentry_core::limits::MAX_GRPC_MESSAGE_BYTES;
use agentry_proto::v1::agent_hub_server::AgentHubServer;
use agentry_proto::v1::node_service_server::NodeServiceServer;
use agentry_store::Store;

use crate::config::HubConfig;
use crate::grpc::{AgentHubApi, NodeServiceApi};
use crate::hub::Hub;
use crate::placer::{run_hint_relay, run_placer};
use crate::reaper::run_reaper;

/// Why the hub could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reflection could not be built from the descriptors (a build bug).
    #[error("building gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves the hub on `listener` until `shutdown` is cancelled, then stops in order: health
/// NOT_SERVING → background tasks → in-flight RPCs (within `shutdown_grace`).
pub async fn run(
    config: HubConfig,
    store: Arc<dyn Store>,
    queue: Arc<dyn TaskQueue>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let grace = config.shutdown_grace;
    let hub = Hub::new(config, store, queue);
    let local_addr = listener.local_addr().ok();
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<AgentHubServer<AgentHubApi>>().await;
    health_reporter.set_serving::<NodeServiceServer<NodeServiceApi>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(agentry_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let background = CancellationToken::new();
    let placer = tokio::spawn(run_placer(hub.clone(), background.clone()));
    let relay = tokio::spawn(run_hint_relay(hub.clone(), background.clone()));
    let reaper = tokio::spawn(run_reaper(hub.clone(), background.clone()));

    let agent_hub = AgentHubServer::new(AgentHubApi::new(hub.clone()))
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let node_service = NodeServiceServer::new(NodeServiceApi::new(hub.clone()))
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tracing::info!(addr = ?local_addr, "hub serving");

    let rpc_stop = CancellationToken::new();
    let serve = Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(agent_hub)
        .add_service(node_service)
        .serve_with_incoming_shutdown(incoming, rpc_stop.clone().cancelled_owned());
    tokio::pin!(serve);

    let served = tokio::select! {
        result = &mut serve => Some(result),
        _ = shutdown.cancelled() => None,
    };
    let result = match served {
        Some(result) => result,
        None => {
            tracing::info!("hub shutting down");
            health_reporter.set_not_serving::<AgentHubServer<AgentHubApi>>().await;
            health_reporter.set_not_serving::<NodeServiceServer<NodeServiceApi>>().await;
            background.cancel();
            hub.stopping.cancel();
            rpc_stop.cancel();
            match tokio::time::timeout(grace, &mut serve).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(?grace, "in-flight RPCs did not finish within the grace period");
                    Ok(())
                }
            }
        }
    };
    background.cancel();
    let _ = placer.await;
    let _ = relay.await;
    let _ = reaper.await;
    Ok(result?)
}
