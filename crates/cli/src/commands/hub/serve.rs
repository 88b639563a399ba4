//! `agentry hub serve`: the hub as a standalone server.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;

use agent_hub::HubConfig;
use agent_hub::scheduler::Strategy;
use agentry_broker::{JetStreamConfig, JetStreamQueue, MemoryQueue, TaskQueue};

use crate::commands::parse_duration;
use crate::signal::shutdown_token;

/// Options of `agentry hub serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on for clients and nodes.
    #[arg(long, default_value = "0.0.0.0:7700", value_name = "ADDR")]
    listen: String,
    /// Database: `postgres://...` for clusters, `sqlite:PATH` for a single hub.
    #[arg(long, env = "AGENTRY_DATABASE_URL", default_value = "sqlite:./.agentry/agentry.db", value_name = "URL")]
    database_url: String,
    /// NATS server with JetStream that carries tasks to nodes; without it an in-process broker
    /// is used, which only nodes inside this process could read.
    #[arg(long, env = "AGENTRY_NATS_URL", value_name = "URL")]
    nats_url: Option<String>,
    /// Placement strategy.
    #[arg(long, env = "AGENTRY_SCHEDULER", default_value = "round_robin", value_name = "NAME")]
    scheduler: Strategy,
    /// How long a silent node keeps its lease (e.g. 5s).
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    lease_ttl: Duration,
    /// Heartbeat interval suggested to nodes; must be shorter than the lease.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    heartbeat_interval: Duration,
}

/// Serves until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.heartbeat_interval.is_zero() || args.heartbeat_interval >= args.lease_ttl {
        anyhow::bail!(
            "--heartbeat-interval ({}) must be positive and shorter than --lease-ttl ({})",
            humantime::format_duration(args.heartbeat_interval),
            humantime::format_duration(args.lease_ttl)
        );
    }
    let shutdown = shutdown_token()?;
    let listener = TcpListener::bind(&args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let database = redact_password(&args.database_url);
    let store =
        agentry_store::connect(&args.database_url).await.with_context(|| format!("opening the database {database}"))?;
    let queue: Arc<dyn TaskQueue> = match &args.nats_url {
        Some(url) => Arc::new(
            JetStreamQueue::connect(JetStreamConfig::new(url.clone()))
                .await
                .with_context(|| format!("connecting to NATS at {url}"))?,
        ),
        None => {
            tracing::warn!(
                "no --nats-url (AGENTRY_NATS_URL): using the in-process broker; nodes in other processes \
                 cannot receive tasks"
            );
            Arc::new(MemoryQueue::new())
        }
    };
    let config = HubConfig {
        lease_ttl: args.lease_ttl,
        heartbeat_interval: args.heartbeat_interval,
        scheduler: args.scheduler,
        ..HubConfig::default()
    };
    tracing::info!(listen = %args.listen, %database, scheduler = %args.scheduler, "starting hub");
    agent_hub::run(config, store, queue, listener, shutdown).await.context("hub")?;
    Ok(())
}

/// Returns `url` with the password of its user info replaced by `***`, for logs and errors.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_owned() };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_password("postgres://app:secret@db:5432/agentry"), "postgres://app:***@db:5432/agentry");
        assert_eq!(redact_password("postgres://app@db/agentry"), "postgres://app@db/agentry");
        assert_eq!(redact_password("sqlite:./.agentry/agentry.db"), "sqlite:./.agentry/agentry.db");
    }
}
