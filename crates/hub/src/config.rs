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
    /// Certificate chain (PEM) the hub serves TLS with on its gRPC and HTTP listeners; with
    /// `tls-key`. Unset: plaintext, allowed only on loopback addresses unless `insecure`.
    /// Re-read when the file changes (see `tls-reload-interval`). Since issue 16.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM, PKCS#8, SEC1 or PKCS#1) of `tls-cert`. Since issue 16.
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that sign node and client certificates. Set: mutual TLS — a node
    /// is admitted to `NodeService` only with a certificate from this CA whose SPIFFE ID
    /// (`spiffe://agentry/node/<name>`) names it. Requires `tls-cert`. Since issue 16.
    pub tls_client_ca: Option<PathBuf>,
    /// How often the TLS files are checked for changes; a changed file is loaded without a
    /// restart, a broken one is logged and the previous one kept (default 5 s). Since issue 16.
    #[serde(with = "humantime_serde")]
    pub tls_reload_interval: Duration,
    /// Serve plaintext on a non-loopback address (behind a TLS-terminating proxy or on a
    /// trusted network). Without it, `hub serve` refuses to start in that case. Since issue 16.
    pub insecure: bool,
    /// The tokens and tenants file (TOML; usually a mounted Secret): static bearer tokens by
    /// SHA-256 hash with their role and tenant, and per-tenant limits and node pools (see
    /// docs/security.md). Set, or `jwt-issuer` set: every `AgentHub` call needs a token.
    /// Re-read when it changes. Since issue 16.
    pub auth_file: Option<PathBuf>,
    /// Issuer (`iss`) of accepted OpenID Connect / JWT bearer tokens; with `jwt-audience` and
    /// `jwt-jwks`. Since issue 16.
    pub jwt_issuer: Option<String>,
    /// Audience (`aud`) the JWTs must name. Since issue 16.
    pub jwt_audience: Option<String>,
    /// The issuer's signing keys: a JWKS file path or an `https://` URL (fetched at start and
    /// re-fetched for an unknown `kid`). Since issue 16.
    pub jwt_jwks: Option<String>,
    /// JWT claim holding the role (`admin`, `operator`, `client`, `viewer`; default
    /// `agentry_role`). Since issue 16.
    pub jwt_role_claim: String,
    /// JWT claim holding the tenant (default `agentry_tenant`). Since issue 16.
    pub jwt_tenant_claim: String,
    /// Calls per second one token may make to `AgentHub` (sustained; GCRA), 0: unlimited
    /// (default 50). Applies when authentication is on. Since issue 16.
    pub rate_limit: u32,
    /// Calls one token may make in a burst above `rate-limit` (default 100). Since issue 16.
    pub rate_limit_burst: u32,
    /// Trace streams one token may hold open at once, 0: unlimited (default 64). Applies when
    /// authentication is on. Since issue 16.
    pub max_trace_streams: u32,
    /// Agents a tenant may have, 0: unlimited (default 0); the auth file may set it per
    /// tenant. Since issue 16.
    pub tenant_max_agents: u64,
    /// Runs a tenant may have queued or running at once, 0: unlimited (default 0); the auth
    /// file may set it per tenant. Since issue 16.
    pub tenant_max_active_runs: u64,
    /// CA certificates (PEM) to verify the NATS server's TLS certificate with (`tls://` URLs,
    /// or a server that requires TLS). Unset: the system's roots. Since issue 16.
    pub nats_ca: Option<PathBuf>,
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
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_reload_interval: Duration::from_secs(5),
            insecure: false,
            auth_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_jwks: None,
            jwt_role_claim: "agentry_role".to_owned(),
            jwt_tenant_claim: "agentry_tenant".to_owned(),
            rate_limit: 50,
            rate_limit_burst: 100,
            max_trace_streams: 64,
            tenant_max_agents: 0,
            tenant_max_active_runs: 0,
            nats_ca: None,
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
        self.validate_security()
    }

    /// Checks the TLS and authentication keys: `tls-cert` and `tls-key` together, mutual TLS
    /// only over TLS, a complete JWT verifier.
    fn validate_security(&self) -> Result<(), InvalidConfig> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => return Err(missing("tls-key", "tls-cert is set: set the certificate's key too")),
            (None, Some(_)) => return Err(missing("tls-cert", "tls-key is set: set its certificate too")),
            _ => {}
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            return Err(missing("tls-client-ca", "mutual TLS needs TLS: set tls-cert and tls-key"));
        }
        InvalidConfig::check_positive(&[("tls-reload-interval", self.tls_reload_interval)])?;
        let jwt =
            [("jwt-issuer", &self.jwt_issuer), ("jwt-audience", &self.jwt_audience), ("jwt-jwks", &self.jwt_jwks)];
        if jwt.iter().any(|(_, value)| value.is_some())
            && let Some((key, _)) = jwt.iter().find(|(_, value)| value.is_none())
        {
            return Err(missing(key, "JWT verification needs jwt-issuer, jwt-audience and jwt-jwks"));
        }
        if self.rate_limit > 0 && self.rate_limit_burst == 0 {
            return Err(missing("rate-limit-burst", "must be at least 1 when rate-limit is set"));
        }
        Ok(())
    }

    /// Returns whether clients must authenticate: an auth file or a JWT issuer is configured.
    pub fn auth_enabled(&self) -> bool {
        self.auth_file.is_some() || self.jwt_issuer.is_some()
    }

    /// Refuses to serve plaintext on `address` when it is not a loopback address, unless
    /// `insecure`: the check `hub serve` makes for its gRPC and HTTP listeners. `key` names
    /// the listen key in the error.
    pub fn check_exposure(&self, key: &'static str, address: std::net::SocketAddr) -> Result<(), InvalidConfig> {
        if self.tls_cert.is_some() || self.insecure || address.ip().is_loopback() {
            return Ok(());
        }
        Err(InvalidConfig {
            key,
            reason: format!(
                "{address} is reachable from other hosts and TLS is off: set tls-cert and tls-key \
                 (`agentry certs dev` makes a pair for trying it), or pass --insecure (AGENTRY_INSECURE=true) \
                 to serve plaintext behind a TLS-terminating proxy"
            ),
        })
    }

    /// Returns this configuration with secrets (the database password) replaced by `***`, for
    /// printing and logging.
    pub fn redacted(&self) -> Self {
        Self { database_url: redact_password(&self.database_url), ..self.clone() }
    }
}

/// Returns the error of `key`, missing or inconsistent for `reason`.
fn missing(key: &'static str, reason: &str) -> InvalidConfig {
    InvalidConfig { key, reason: reason.to_owned() }
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
    fn plaintext_is_refused_where_other_hosts_reach_it_unless_insecure() {
        let exposed: std::net::SocketAddr = "0.0.0.0:7700".parse().unwrap();
        let loopback: std::net::SocketAddr = "127.0.0.1:7700".parse().unwrap();
        let config = HubConfig::default();
        let error = config.check_exposure("listen", exposed).unwrap_err();
        assert_eq!(error.key, "listen");
        assert!(error.reason.contains("--insecure") && error.reason.contains("tls-cert"), "{error}");
        assert_eq!(config.check_exposure("listen", loopback), Ok(()));
        let insecure = HubConfig { insecure: true, ..HubConfig::default() };
        assert_eq!(insecure.check_exposure("listen", exposed), Ok(()));
        let tls =
            HubConfig { tls_cert: Some("hub.pem".into()), tls_key: Some("hub-key.pem".into()), ..HubConfig::default() };
        assert_eq!(tls.check_exposure("metrics-listen", exposed), Ok(()));
    }

    #[test]
    fn security_keys_are_checked_together_by_name() {
        let half = HubConfig { tls_cert: Some("hub.pem".into()), ..HubConfig::default() };
        assert_eq!(half.validate().unwrap_err().key, "tls-key");
        let mutual = HubConfig { tls_client_ca: Some("ca.pem".into()), ..HubConfig::default() };
        assert_eq!(mutual.validate().unwrap_err().key, "tls-client-ca");
        let jwt = HubConfig { jwt_issuer: Some("https://issuer".into()), ..HubConfig::default() };
        assert_eq!(jwt.validate().unwrap_err().key, "jwt-audience");
        let burst = HubConfig { rate_limit_burst: 0, ..HubConfig::default() };
        assert_eq!(burst.validate().unwrap_err().key, "rate-limit-burst");
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
