//! `agentry hub serve`: the hub as a standalone server.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;

use agent_hub::scheduler::Strategy;

use crate::commands::{bind_metrics, duration_flag, parse_duration};
use crate::config::{Flags, Sources, load_hub, load_models, load_templates, load_tool_policy};
use crate::signal::shutdown_token;

/// Options of `agentry hub serve`. Each overrides the `[hub]` key of the same name from the
/// config file and `AGENTRY_*` environment (`agentry config print --hub` shows the result).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on for clients and nodes.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Database: `postgres://...` for clusters, `sqlite:PATH` for a single hub [env:
    /// AGENTRY_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// NATS server with JetStream that carries tasks to nodes; without it an in-process broker
    /// is used, which only nodes inside this process could read [env: AGENTRY_NATS_URL].
    #[arg(long, value_name = "URL")]
    nats_url: Option<String>,
    /// Placement strategy: round_robin, binpack or spread [env: AGENTRY_SCHEDULER].
    #[arg(long, value_name = "NAME")]
    scheduler: Option<Strategy>,
    /// How long a silent node keeps its lease.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    lease_ttl: Option<Duration>,
    /// Heartbeat interval suggested to nodes; must be shorter than the lease.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    heartbeat_interval: Option<Duration>,
    /// Serve `/metrics` (Prometheus), `/healthz` and `/readyz` on this address (default
    /// `0.0.0.0:7701`; `off`: none).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Certificate chain (PEM) to serve TLS with on the gRPC and HTTP listeners; with
    /// --tls-key. Re-read when it changes (`agentry certs dev` makes one for trying it).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA certificates (PEM) of node certificates: mutual TLS, a node is admitted only with a
    /// certificate from this CA that names it. Needs --tls-cert.
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
    /// Serve plaintext on an address other hosts can reach (behind a TLS-terminating proxy);
    /// without TLS the hub otherwise refuses to listen on one [env: AGENTRY_INSECURE].
    #[arg(long)]
    insecure: bool,
    /// Tokens and tenants file (TOML; tokens by SHA-256, see `agentry token hash`): set, every
    /// client call needs a bearer token. Re-read when it changes [env: AGENTRY_AUTH_FILE].
    #[arg(long, value_name = "FILE")]
    auth_file: Option<PathBuf>,
}

impl ServeArgs {
    /// Returns the flags given, as configuration overrides.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::new();
        let mut set = |key, value: Option<String>| flags.extend(value.map(|value| (key, value)));
        set("listen", self.listen.clone());
        set("database-url", self.database_url.clone());
        set("nats-url", self.nats_url.clone());
        set("scheduler", self.scheduler.map(|strategy| strategy.to_string()));
        set("lease-ttl", self.lease_ttl.map(duration_flag));
        set("heartbeat-interval", self.heartbeat_interval.map(duration_flag));
        set("metrics-listen", self.metrics_listen.clone());
        let path = |path: &Option<PathBuf>| path.as_ref().map(|path| path.display().to_string());
        set("tls-cert", path(&self.tls_cert));
        set("tls-key", path(&self.tls_key));
        set("tls-client-ca", path(&self.tls_client_ca));
        set("insecure", self.insecure.then(|| "true".to_owned()));
        set("auth-file", path(&self.auth_file));
        flags
    }
}

/// Serves until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs, config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let sources = Sources::of_process(config_file);
    let config = load_hub(&sources, args.flags())?;
    let models = load_models(&sources)?;
    let allowed_tools = load_tool_policy(&sources)?.allowed;
    let templates = load_templates(&sources)?;
    let shutdown = shutdown_token()?;
    let listener = TcpListener::bind(&config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let redacted = config.redacted();
    tracing::info!(listen = %config.listen, database = %redacted.database_url, scheduler = %config.scheduler, "starting hub");
    let http = bind_metrics(config.metrics_address()).await?;
    let mut server = agent_hub::HubServer::new(config)
        .with_models(models)
        .with_allowed_tools(allowed_tools)
        .with_templates(templates);
    if let Some(listener) = http {
        server = server.with_http_listener(listener);
    }
    server.serve(listener, shutdown).await.context("hub")?;
    Ok(())
}
