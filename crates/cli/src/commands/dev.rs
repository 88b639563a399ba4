//! `agentry dev`: a whole cluster in one process for local development.
//!
//! The hub on SQLite (`DIR/agentry.db`), an in-process broker shared by hub and nodes, and N
//! nodes that join the hub over gRPC like remote ones would. The `[hub]` and `[node]` sections
//! of `--config` and the `AGENTRY_*` environment apply to them, except for what `dev` decides
//! (listen address, database, broker, node names, workspaces). Shutdown stops the nodes first
//! (they drain and commit through the hub), then the hub.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use agent_hub::HubServer;
use agent_node::Node;
use agentry_broker::{Broker, MemoryQueue};

use crate::commands::{bind_metrics, warn_without_api_key};
use crate::config::{Sources, load_hub, load_models, load_node, load_templates, load_tool_policy};
use crate::signal::shutdown_token;

/// Options of `agentry dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Address the hub listens on.
    #[arg(long, default_value = "127.0.0.1:7700", value_name = "ADDR")]
    listen: String,
    /// Number of in-process nodes.
    #[arg(long, default_value_t = 2, value_name = "N")]
    nodes: u32,
    /// Directory for the database (`agentry.db`) and run workspaces (`workspaces/`).
    #[arg(long, default_value = "./.agentry", value_name = "DIR")]
    data_dir: PathBuf,
    /// Address of `/metrics` (the hub's and every node's series), `/healthz` and `/readyz`;
    /// `off`: none.
    #[arg(long, default_value = "127.0.0.1:7701", value_name = "ADDR")]
    metrics_listen: String,
}

/// Runs hub and nodes until SIGINT/SIGTERM or until one of them fails.
pub async fn run(args: DevArgs, config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let sources = Sources::of_process(config_file);
    let database_url = format!("sqlite:{}", args.data_dir.join("agentry.db").display());
    let overrides = vec![
        ("listen", args.listen.clone()),
        ("database-url", database_url),
        ("metrics-listen", args.metrics_listen.clone()),
    ];
    let hub_config = load_hub(&sources, overrides)?;
    let workspace_root = args.data_dir.join("workspaces").display().to_string();
    let node_config = load_node(&sources, vec![("workspace-root", workspace_root)])?;
    let models = load_models(&sources)?;
    let policy = load_tool_policy(&sources)?;
    let templates = load_templates(&sources)?;
    warn_without_api_key(&node_config);

    let shutdown = shutdown_token()?;
    let listener = TcpListener::bind(&hub_config.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let hub_url = format!("http://{}", connectable(listener.local_addr().context("reading the listen address")?));
    let queue = MemoryQueue::new();
    // One registry for the hub and the nodes: one `/metrics` shows the whole dev cluster.
    let registry = agentry_telemetry::prometheus::Registry::new();
    let http = bind_metrics(hub_config.metrics_address()).await?;
    let http_address = http.as_ref().and_then(|listener| listener.local_addr().ok()).map(connectable);

    let hub_stop = CancellationToken::new();
    let mut hub_server = HubServer::new(hub_config)
        .with_models(models.clone())
        .with_allowed_tools(policy.allowed.clone())
        .with_templates(templates)
        .with_broker(Broker::in_process_with(queue.clone()))
        .with_registry(registry.clone());
    if let Some(listener) = http {
        hub_server = hub_server.with_http_listener(listener);
    }
    let mut hub = tokio::spawn(hub_server.serve(listener, hub_stop.clone()));
    let nodes_stop = CancellationToken::new();
    let mut nodes = JoinSet::new();
    for index in 1..=args.nodes {
        let mut config = node_config.clone();
        config.hub = hub_url.clone();
        config.name = format!("dev-node-{index}");
        let (queue, stop, models, policy) = (queue.clone(), nodes_stop.clone(), models.clone(), policy.clone());
        let registry = registry.clone();
        nodes.spawn(async move {
            let name = config.name.clone();
            let node = Node::new(config)
                .with_models(models)
                .with_tool_policy(policy)
                .with_queue(Arc::new(queue))
                .with_registry(registry);
            node.run(stop).await.with_context(|| format!("node {name}"))
        });
    }
    eprintln!(
        "agentry dev: hub on {hub_url} with {} node{} (data in {})",
        args.nodes,
        if args.nodes == 1 { "" } else { "s" },
        args.data_dir.display()
    );
    if let Some(address) = http_address {
        eprintln!("agentry dev: console on http://{address}/ (metrics on http://{address}/metrics)");
    }

    let mut failure: Option<anyhow::Error> = None;
    let mut hub_ended_early = None;
    tokio::select! {
        _ = shutdown.cancelled() => {}
        joined = &mut hub => hub_ended_early = Some(joined),
        Some(joined) = nodes.join_next() => failure = Some(node_failure(joined)),
    }
    nodes_stop.cancel();
    while let Some(joined) = nodes.join_next().await {
        if matches!(joined, Ok(Ok(()))) {
            continue;
        }
        let error = node_failure(joined);
        match &failure {
            None => failure = Some(error),
            Some(_) => tracing::error!(error = %crate::report::one_line(&error), "node failed"),
        }
    }
    hub_stop.cancel();
    let hub_failure = match hub_ended_early {
        Some(Ok(Ok(()))) => Some(anyhow::anyhow!("the hub stopped unexpectedly")),
        Some(joined) => hub_failure(joined),
        None => hub_failure(hub.await),
    };
    match hub_failure.or(failure) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Returns why the hub task failed, if it did.
fn hub_failure(joined: Result<Result<(), agent_hub::ServeError>, tokio::task::JoinError>) -> Option<anyhow::Error> {
    match joined {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(anyhow::Error::new(error).context("hub")),
        Err(error) => Some(anyhow::Error::new(error).context("hub task")),
    }
}

/// Returns why a node task ended; every end before shutdown is a failure.
fn node_failure(joined: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Error {
    match joined {
        Ok(Ok(())) => anyhow::anyhow!("a node stopped unexpectedly"),
        Ok(Err(error)) => error,
        Err(error) => anyhow::Error::new(error).context("node task"),
    }
}

/// Returns the address nodes dial: loopback when the hub listens on all interfaces.
fn connectable(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), address.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), address.port()),
        _ => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_dialed_on_loopback() {
        let any: SocketAddr = "0.0.0.0:7700".parse().expect("address");
        assert_eq!(connectable(any).to_string(), "127.0.0.1:7700");
        let specific: SocketAddr = "10.0.0.5:7700".parse().expect("address");
        assert_eq!(connectable(specific), specific);
    }
}
