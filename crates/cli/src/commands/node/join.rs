//! `agentry node join`: a node process that pulls tasks from NATS JetStream.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use agentry_core::labels::{Labels, parse_labels};

use crate::commands::{bind_metrics, duration_flag, parse_duration, warn_without_api_key};
use crate::config::{Flags, Sources, load_models, load_node, load_tool_policy};
use crate::signal::shutdown_token;

/// Options of `agentry node join`. Each overrides the `[node]` key of the same name from the
/// config file and `AGENTRY_*` environment (`agentry config print --node` shows the result).
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Hub URL [env: AGENTRY_HUB].
    #[arg(long, value_name = "URL")]
    hub: Option<String>,
    /// Name shown by `agentry nodes`.
    #[arg(long)]
    name: Option<String>,
    /// Maximum concurrent runs.
    #[arg(long)]
    slots: Option<u32>,
    /// Labels for placement, e.g. `gpu=a100,zone=eu-1`.
    #[arg(long, value_parser = parse_labels, value_name = "KEY=VALUE,...")]
    labels: Option<Labels>,
    /// NATS server with JetStream that carries tasks [env: AGENTRY_NATS_URL].
    #[arg(long, value_name = "URL")]
    nats_url: Option<String>,
    /// Directory under which each run gets its workspace.
    #[arg(long, value_name = "DIR")]
    workspace_root: Option<PathBuf>,
    /// Time limit of one tool call (e.g. 120s, 5m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    tool_timeout: Option<Duration>,
    /// On SIGTERM, how long in-flight runs may take to finish before the node hands them back
    /// to the hub (other nodes resume them from their last commit) and leaves.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    shutdown_grace: Option<Duration>,
    /// Deliveries of one task after which its run is dead-lettered (failed, last error kept).
    #[arg(long)]
    max_deliveries: Option<u64>,
    /// What confines tool processes: bwrap, landlock, docker or none (default: bwrap where it
    /// works, else landlock) [env: AGENTRY_SANDBOX].
    #[arg(long, value_name = "KIND")]
    sandbox: Option<String>,
    /// Serve `/metrics` (Prometheus), `/healthz` and `/readyz` on this address, e.g.
    /// `0.0.0.0:7702` (default: none).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// CA certificates (PEM) to verify an `https://` hub with (default: the system's roots).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// The node's certificate (PEM) for mutual TLS with the hub; its SPIFFE ID must name this
    /// node (`agentry certs dev --node NAME` makes one). With --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl JoinArgs {
    /// Returns the flags given, as configuration overrides.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::new();
        let mut set = |key, value: Option<String>| flags.extend(value.map(|value| (key, value)));
        set("hub", self.hub.clone());
        set("name", self.name.clone());
        set("slots", self.slots.map(|slots| slots.to_string()));
        set("labels", self.labels.as_ref().map(format_labels));
        set("nats-url", self.nats_url.clone());
        set("workspace-root", self.workspace_root.as_ref().map(|path| path.display().to_string()));
        set("tool-timeout", self.tool_timeout.map(duration_flag));
        set("shutdown-grace", self.shutdown_grace.map(duration_flag));
        set("max-deliveries", self.max_deliveries.map(|count| count.to_string()));
        set("sandbox", self.sandbox.clone());
        set("metrics-listen", self.metrics_listen.clone());
        let path = |path: &Option<PathBuf>| path.as_ref().map(|path| path.display().to_string());
        set("tls-ca", path(&self.tls_ca));
        set("tls-cert", path(&self.tls_cert));
        set("tls-key", path(&self.tls_key));
        flags
    }
}

/// Returns labels as `key=value,...` text, the form the config layer parses.
fn format_labels(labels: &Labels) -> String {
    labels.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(",")
}

/// Runs the node until SIGINT/SIGTERM, then drains in-flight runs.
pub async fn run(args: JoinArgs, config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let sources = Sources::of_process(config_file);
    let config = load_node(&sources, args.flags())?;
    let models = load_models(&sources)?;
    let policy = load_tool_policy(&sources)?;
    let shutdown = shutdown_token()?;
    warn_without_api_key(&config);
    tracing::info!(hub = %config.hub, name = %config.name, slots = config.slots, "starting node");
    let http = bind_metrics(config.metrics_address()).await?;
    let mut node = agent_node::Node::new(config).with_models(models).with_tool_policy(policy);
    if let Some(listener) = http {
        node = node.with_http_listener(listener);
    }
    node.run(shutdown).await.context("node")?;
    Ok(())
}
