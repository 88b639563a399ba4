//! `agentry node join`: a node process that pulls tasks from NATS JetStream.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use agent_node::NodeConfig;
use agentry_broker::{JetStreamConfig, JetStreamQueue};
use agentry_core::model::OpenAiConfig;

use crate::commands::{DEFAULT_HUB_URL, parse_duration, warn_without_api_key};
use crate::labels::{Labels, parse_labels};
use crate::signal::shutdown_token;

/// Options of `agentry node join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Hub URL.
    #[arg(long, env = "AGENTRY_HUB", default_value = DEFAULT_HUB_URL, value_name = "URL")]
    hub: String,
    /// Name shown by `agentry nodes` (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Maximum concurrent runs.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    slots: u32,
    /// Labels for placement, e.g. `gpu=a100,zone=eu-1`.
    #[arg(long, value_parser = parse_labels, value_name = "KEY=VALUE,...")]
    labels: Option<Labels>,
    /// NATS server with JetStream that carries tasks.
    #[arg(long, env = "AGENTRY_NATS_URL", default_value = "nats://127.0.0.1:4222", value_name = "URL")]
    nats_url: String,
    /// Directory under which each run gets its workspace.
    #[arg(long, default_value = "./.agentry/workspaces", value_name = "DIR")]
    workspace_root: PathBuf,
    /// Time limit of one tool call (e.g. 120s, 5m).
    #[arg(long, default_value = "120s", value_parser = parse_duration, value_name = "DURATION")]
    tool_timeout: Duration,
    /// On SIGTERM, how long in-flight runs may take to finish before the node hands them back
    /// to the hub (other nodes resume them from their last commit) and leaves.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    shutdown_grace: Duration,
    /// Deliveries of one task after which its run is dead-lettered (failed, last error kept).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    max_deliveries: u64,
}

/// Runs the node until SIGINT/SIGTERM, then drains in-flight runs.
pub async fn run(args: JoinArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_token()?;
    let openai = OpenAiConfig::from_env();
    warn_without_api_key(&openai);
    let mut config = NodeConfig::new(args.hub, args.workspace_root, openai);
    if let Some(name) = args.name {
        config.name = name;
    }
    config.slots = args.slots;
    config.labels = args.labels.unwrap_or_default();
    config.tool_timeout = args.tool_timeout;
    config.shutdown_grace = args.shutdown_grace;
    config.max_deliveries = args.max_deliveries;
    let queue = JetStreamQueue::connect(JetStreamConfig::new(args.nats_url.clone()))
        .await
        .with_context(|| format!("connecting to NATS at {}", args.nats_url))?;
    tracing::info!(hub = %config.hub_url, name = %config.name, slots = config.slots, "starting node");
    agent_node::run(config, Arc::new(queue), shutdown).await.context("node")?;
    Ok(())
}
