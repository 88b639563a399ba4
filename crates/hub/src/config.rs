//! Hub configuration: one typed, validated struct with its defaults in one place.
//!
//! Read from the `[hub]` section of the config file, `AGENTRY_*` environment variables and
//! `agentry hub serve` flags (layered by the CLI, in that order of precedence over the defaults
//! below). Keys are kebab-case; durations are humantime text (`5s`, `250ms`, `1m30s`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use agentry_core::InvalidConfig;

use crate::scheduler::Strategy;

/// How the hub behaves. Every field has a default ([`HubConfig::default`]); check a built
/// value with [`HubConfig::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct HubConfig {
    /// Address the gRPC server listens on for clients and nodes (default `0.0.0.0:7700`).
    pub listen: String,
    /// The store: `postgres://...` for clusters, `sqlite:PATH` for a single hub (default
    /// `sqlite:./.agentry/agentry.db`). A password in it is redacted when printed.
    pub database_url: String,
    /// NATS server with JetStream that carries tasks to nodes (`nats://host:port`). Unset: an
    /// in-process broker, which only nodes inside this process can read.
    pub nats_url: Option<String>,
    /// Placement strategy: `round_robin` (default), `binpack` or `spread`.
    pub scheduler: Strategy,
    /// Lease time-to-live given to nodes: a node silent for longer is declared dead by the
    /// reaper and its runs move (default 1.5 s). A node whose lease stream breaks is declared
    /// dead sooner, after [`HubConfig::break_confirmation`].
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// Heartbeat interval of nodes on their lease stream, and the reaper's period; must be
    /// positive and shorter than `lease-ttl` (default 250 ms).
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// How often the placer looks for unplaced runs even when nothing woke it (default 1 s).
    #[serde(with = "humantime_serde")]
    pub placement_interval: Duration,
    /// How often a trace follower re-reads the store when no event hint arrived (default 2 s).
    #[serde(with = "humantime_serde")]
    pub trace_poll_interval: Duration,
    /// Grace period for in-flight RPCs on shutdown (default 10 s).
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Address of the HTTP listener serving `/metrics` (Prometheus), `/healthz` and `/readyz`
    /// (default `0.0.0.0:7701`, beside the gRPC port); `off` serves none.
    pub metrics_listen: Option<String>,
    /// Directory of role templates (`*.yaml`, `*.yml`; see docs/templates.md), read at start
    /// over the built-in ones (`[templates.NAME]` tables of the config file override both).
    /// Unset: `templates/roles` of the working directory when it exists. A template there
    /// that is invalid stops the hub's start, naming the file. Since issue 14.
    pub templates_dir: Option<PathBuf>,
    /// Levels of teams below a spawned agent: a template's team members get teams of their own
    /// down to this depth, and members at the deepest level cannot delegate (default 3, at
    /// most [`MAX_DELEGATION_DEPTH`]). Since issue 14.
    pub max_delegation_depth: u32,
    /// Most sub-agents one delegation (`parallel_agents` call) may start: the `max_parallel` of
    /// every team the hub expands from templates (default 8, at most
    /// [`MAX_PARALLEL_AGENTS`]). Since issue 14.
    pub max_parallel_agents: u32,
}

/// Largest accepted `max-delegation-depth`: the deepest nesting of teams a spec may have.
pub const MAX_DELEGATION_DEPTH: u32 = agentry_core::team::MAX_TEAM_DEPTH as u32;

/// Largest accepted `max-parallel-agents`: the largest `max_parallel` of a team.
pub const MAX_PARALLEL_AGENTS: u32 = agentry_core::team::MAX_PARALLEL_AGENTS;

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:7700".to_owned(),
            database_url: "sqlite:./.agentry/agentry.db".to_owned(),
            nats_url: None,
            scheduler: Strategy::RoundRobin,
            lease_ttl: Duration::from_millis(1500),
            heartbeat_interval: Duration::from_millis(250),
            placement_interval: Duration::from_secs(1),
            trace_poll_interval: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(10),
            metrics_listen: Some("0.0.0.0:7701".to_owned()),
            templates_dir: None,
            max_delegation_depth: 3,
            max_parallel_agents: 8,
        }
    }
}

impl HubConfig {
    /// Returns the address to serve `/metrics` on, `None` when `metrics-listen` is unset or
    /// `off`.
    pub fn metrics_address(&self) -> Option<&str> {
        agentry_core::error::listen_address(self.metrics_listen.as_deref())
    }

    /// Returns a configuration for in-process tests: listen on an ephemeral loopback port,
    /// the given store URL, a short trace poll and shutdown grace.
    pub fn for_test(database_url: impl Into<String>) -> Self {
        Self {
            listen: "127.0.0.1:0".to_owned(),
            database_url: database_url.into(),
            trace_poll_interval: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(2),
            metrics_listen: None,
            ..Self::default()
        }
    }

    /// Returns how long the hub waits, after a node's lease stream broke, for a beat of that
    /// node (on a new stream, to any replica) before it declares the node dead and takes its
    /// runs back: two heartbeat intervals (a missed beat, plus one for the reconnection), at
    /// most the lease TTL (500 ms at the defaults).
    pub fn break_confirmation(&self) -> Duration {
        (self.heartbeat_interval * 2).min(self.lease_ttl)
    }

    /// Checks what types cannot: positive intervals, heartbeats shorter than the lease, URL
    /// schemes the hub can open.
    ///
    /// Errors name the first offending key.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        InvalidConfig::check_positive(&[
            ("lease-ttl", self.lease_ttl),
            ("heartbeat-interval", self.heartbeat_interval),
            ("placement-interval", self.placement_interval),
            ("trace-poll-interval", self.trace_poll_interval),
        ])?;
        if self.heartbeat_interval >= self.lease_ttl {
            return Err(InvalidConfig {
                key: "heartbeat-interval",
                reason: format!(
                    "{} must be shorter than lease-ttl ({})",
                    humantime::format_duration(self.heartbeat_interval),
                    humantime::format_duration(self.lease_ttl)
                ),
            });
        }
        if !agentry_store::URL_SCHEMES.iter().any(|scheme| self.database_url.starts_with(scheme)) {
            return Err(InvalidConfig {
                key: "database-url",
                reason: format!(
                    "{} has an unsupported scheme; expected one of {}",
                    redact_password(&self.database_url),
                    agentry_store::URL_SCHEMES.join(", ")
                ),
            });
        }
        agentry_core::InvalidConfig::check_listen_address("metrics-listen", self.metrics_listen.as_deref())?;
        if let Some(url) = &self.nats_url
            && !agentry_broker::is_nats_url(url)
        {
            return Err(InvalidConfig { key: "nats-url", reason: format!("{url} is not a nats:// or tls:// URL") });
        }
        check_range("max-delegation-depth", self.max_delegation_depth, MAX_DELEGATION_DEPTH)?;
        check_range("max-parallel-agents", self.max_parallel_agents, MAX_PARALLEL_AGENTS)?;
        Ok(())
    }

    /// Returns this configuration with secrets (the database password) replaced by `***`, for
    /// printing and logging.
    pub fn redacted(&self) -> Self {
        Self { database_url: redact_password(&self.database_url), ..self.clone() }
    }
}

/// Checks that `value` of `key` is between 1 and `max`.
fn check_range(key: &'static str, value: u32, max: u32) -> Result<(), InvalidConfig> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(InvalidConfig { key, reason: format!("{value} must be between 1 and {max}") })
    }
}

/// Returns `url` with the password of its user info replaced by `***`, for logs and errors.
pub fn redact_password(url: &str) -> String {
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
    fn the_defaults_are_valid() {
        assert_eq!(HubConfig::default().validate(), Ok(()));
        assert_eq!(HubConfig::for_test("sqlite::memory:").validate(), Ok(()));
    }

    #[test]
    fn a_heartbeat_not_shorter_than_the_lease_is_refused_by_name() {
        let config = HubConfig { heartbeat_interval: Duration::from_secs(2), ..HubConfig::default() };
        let error = config.validate().unwrap_err();
        assert_eq!(error.key, "heartbeat-interval");
        assert_eq!(error.to_string(), "heartbeat-interval: 2s must be shorter than lease-ttl (1s 500ms)");
        let zero = HubConfig { lease_ttl: Duration::ZERO, ..HubConfig::default() };
        assert_eq!(zero.validate().unwrap_err().key, "lease-ttl");
    }

    #[test]
    fn a_broken_stream_is_confirmed_within_two_beats_and_never_after_the_lease() {
        assert_eq!(HubConfig::default().break_confirmation(), Duration::from_millis(500));
        let slow_beats = HubConfig { heartbeat_interval: Duration::from_secs(1), ..HubConfig::default() };
        assert_eq!(slow_beats.break_confirmation(), slow_beats.lease_ttl);
    }

    #[test]
    fn unknown_url_schemes_are_refused_by_name() {
        let database = HubConfig { database_url: "mysql://u:pw@db/x".into(), ..HubConfig::default() };
        let error = database.validate().unwrap_err();
        assert_eq!(error.key, "database-url");
        assert!(error.reason.contains("mysql://u:***@db/x"), "{error}");
        let nats = HubConfig { nats_url: Some("http://nats".into()), ..HubConfig::default() };
        assert_eq!(nats.validate().unwrap_err().key, "nats-url");
    }

    #[test]
    fn team_limits_are_bounded_by_name() {
        let zero = HubConfig { max_delegation_depth: 0, ..HubConfig::default() };
        assert_eq!(zero.validate().unwrap_err().to_string(), "max-delegation-depth: 0 must be between 1 and 8");
        let wide = HubConfig { max_parallel_agents: 1000, ..HubConfig::default() };
        assert_eq!(wide.validate().unwrap_err().to_string(), "max-parallel-agents: 1000 must be between 1 and 64");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_password("postgres://app:secret@db:5432/agentry"), "postgres://app:***@db:5432/agentry");
        assert_eq!(redact_password("postgres://app@db/agentry"), "postgres://app@db/agentry");
        assert_eq!(redact_password("sqlite:./.agentry/agentry.db"), "sqlite:./.agentry/agentry.db");
        let config = HubConfig { database_url: "postgres://a:b@h/d".into(), ..HubConfig::default() };
        assert_eq!(config.redacted().database_url, "postgres://a:***@h/d");
    }
}
