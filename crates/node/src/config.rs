//! Node configuration: one typed, validated struct with its defaults in one place.
//!
//! Read from the `[node]` section of the config file, `AGENTRY_*` environment variables (plus
//! `OPENAI_BASE_URL` / `OPENAI_API_KEY` and `ANTHROPIC_BASE_URL` / `ANTHROPIC_API_KEY` for the
//! implicit model endpoints) and `agentry node join` flags,
//! layered by the CLI in that order of precedence over the defaults below. Keys are kebab-case;
//! durations are humantime text (`120s`, `5m`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

pub use agentry_core::InvalidConfig;
use agentry_core::limits::MAX_NODE_SLOTS;
use agentry_runtime::model::{DEFAULT_ANTHROPIC_BASE_URL, DEFAULT_OPENAI_BASE_URL, DefaultEndpoints, EndpointConfig};
use agentry_sandbox::SandboxKind;

/// Default hub URL of nodes and clients.
pub const DEFAULT_HUB_URL: &str = "http://127.0.0.1:7700";
/// Most deliveries of one task before its run is dead-lettered.
pub const MAX_DELIVERIES_LIMIT: u64 = 1000;

/// How a node behaves. Every field has a default ([`NodeConfig::default`]); check a built value
/// with [`NodeConfig::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeConfig {
    /// Hub URL (default `http://127.0.0.1:7700`; env `AGENTRY_HUB`).
    pub hub: String,
    /// Name shown by `agentry nodes` (default: the host name).
    pub name: String,
    /// Maximum concurrent runs, 1–10000 (default 4).
    pub slots: u32,
    /// Labels for placement constraints: a table, or `"key=value,..."` text (default none).
    #[serde(deserialize_with = "labels")]
    pub labels: BTreeMap<String, String>,
    /// NATS server with JetStream that carries tasks (default `nats://127.0.0.1:4222`).
    pub nats_url: String,
    /// Directory under which each run gets its workspace `<root>/<run_id>` (default
    /// `./.agentry/workspaces`).
    pub workspace_root: PathBuf,
    /// Time limit of one tool call (default 120 s).
    #[serde(with = "humantime_serde")]
    pub tool_timeout: Duration,
    /// Longest wait of one task pull before checking for shutdown again (default 1 s).
    #[serde(with = "humantime_serde")]
    pub pull_wait: Duration,
    /// How often an executing run tells the broker it is still in progress (default 10 s).
    #[serde(with = "humantime_serde")]
    pub progress_interval: Duration,
    /// How long commits are retried while the hub is unreachable before the run is handed back
    /// (default 120 s).
    #[serde(with = "humantime_serde")]
    pub commit_retry_window: Duration,
    /// On shutdown, how long in-flight runs may take to finish before they are handed back to
    /// the hub (other nodes resume them from their last commit) (default 30 s).
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Deliveries of one task after which its run is dead-lettered: failed with the last
    /// failure kept as its error, instead of being retried forever; 1–1000 (default 5).
    pub max_deliveries: u64,
    /// OpenAI-compatible endpoint for `openai:` models (default `https://api.openai.com/v1`;
    /// env `OPENAI_BASE_URL`).
    pub openai_base_url: String,
    /// Bearer token for that endpoint (env `OPENAI_API_KEY`); redacted when printed.
    pub openai_api_key: Option<String>,
    /// Stream model answers and hand their text to trace followers as `token` events as it
    /// arrives (default true); false asks for whole answers.
    pub stream_tokens: bool,
    /// Anthropic Messages endpoint for `anthropic:` models (default
    /// `https://api.anthropic.com/v1`; env `ANTHROPIC_BASE_URL`).
    pub anthropic_base_url: String,
    /// API key for that endpoint (env `ANTHROPIC_API_KEY`); redacted when printed.
    pub anthropic_api_key: Option<String>,
    /// What confines the processes tools start: `bwrap`, `landlock`, `docker` or `none`
    /// (default: bwrap where it works, Landlock otherwise; `none` only when chosen, with a
    /// warning at start).
    pub sandbox: Option<SandboxKind>,
    /// Address of the HTTP listener serving `/metrics` (Prometheus), `/healthz` and `/readyz`
    /// (default: none; `off` also serves none).
    pub metrics_listen: Option<String>,
    /// CA certificates (PEM) the hub's TLS certificate is verified with, for an `https://`
    /// hub (unset: the system's roots). Since issue 16.
    pub tls_ca: Option<PathBuf>,
    /// The node's certificate chain (PEM) for mutual TLS with the hub; its SPIFFE ID
    /// (`spiffe://agentry/node/<name>`) must name this node's `name`. With `tls-key`. Also
    /// served on the metrics listener when `metrics-tls` is on. Since issue 16.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `tls-cert`. Since issue 16.
    pub tls_key: Option<PathBuf>,
    /// Serve the metrics listener over TLS with `tls-cert` (default false). Since issue 16.
    pub metrics_tls: bool,
    /// CA certificates (PEM) to verify the NATS server's TLS certificate with (`tls://` URLs,
    /// or a server that requires TLS). Unset: the system's roots. Since issue 16.
    pub nats_ca: Option<PathBuf>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            hub: DEFAULT_HUB_URL.to_owned(),
            name: default_name(),
            slots: 4,
            labels: BTreeMap::new(),
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            workspace_root: PathBuf::from("./.agentry/workspaces"),
            tool_timeout: Duration::from_secs(120),
            pull_wait: Duration::from_secs(1),
            progress_interval: Duration::from_secs(10),
            commit_retry_window: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(30),
            max_deliveries: 5,
            openai_base_url: DEFAULT_OPENAI_BASE_URL.to_owned(),
            openai_api_key: None,
            stream_tokens: true,
            anthropic_base_url: DEFAULT_ANTHROPIC_BASE_URL.to_owned(),
            anthropic_api_key: None,
            sandbox: None,
            metrics_listen: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            metrics_tls: false,
            nats_ca: None,
        }
    }
}

impl NodeConfig {
    /// Returns a configuration for in-process tests: the hub at `hub`, workspaces under
    /// `workspace_root`, models served at `model_url`, short pulls.
    pub fn for_test(hub: impl Into<String>, workspace_root: PathBuf, model_url: impl Into<String>) -> Self {
        Self {
            hub: hub.into(),
            workspace_root,
            openai_base_url: model_url.into(),
            pull_wait: Duration::from_millis(200),
            ..Self::default()
        }
    }

    /// Returns the address to serve `/metrics` on, `None` when `metrics-listen` is unset or
    /// `off`.
    pub fn metrics_address(&self) -> Option<&str> {
        agentry_core::error::listen_address(self.metrics_listen.as_deref())
    }

    /// Checks what types cannot: ranges, positive durations, URL schemes.
    ///
    /// Errors name the first offending key.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let invalid = |key, reason: String| Err(InvalidConfig::new(key, reason));
        if !(self.hub.starts_with("http://") || self.hub.starts_with("https://")) {
            return invalid("hub", format!("{:?} is not an http:// or https:// URL", self.hub));
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => return invalid("tls-key", "tls-cert is set: set the certificate's key too".to_owned()),
            (None, Some(_)) => return invalid("tls-cert", "tls-key is set: set its certificate too".to_owned()),
            _ => {}
        }
        if self.metrics_tls && self.tls_cert.is_none() {
            return invalid("metrics-tls", "serving metrics over TLS needs tls-cert and tls-key".to_owned());
        }
        if self.name.is_empty() || self.name.len() > 128 {
            return invalid("name", "must be 1-128 bytes".to_owned());
        }
        if self.slots == 0 || self.slots > MAX_NODE_SLOTS {
            return invalid("slots", format!("{} is not in 1-{MAX_NODE_SLOTS}", self.slots));
        }
        if !agentry_broker::is_nats_url(&self.nats_url) {
            return invalid("nats-url", format!("{:?} is not a nats:// or tls:// URL", self.nats_url));
        }
        InvalidConfig::check_listen_address("metrics-listen", self.metrics_listen.as_deref())?;
        InvalidConfig::check_positive(&[
            ("tool-timeout", self.tool_timeout),
            ("pull-wait", self.pull_wait),
            ("progress-interval", self.progress_interval),
        ])?;
        if self.max_deliveries == 0 || self.max_deliveries > MAX_DELIVERIES_LIMIT {
            return invalid("max-deliveries", format!("{} is not in 1-{MAX_DELIVERIES_LIMIT}", self.max_deliveries));
        }
        for (key, url) in [("openai-base-url", &self.openai_base_url), ("anthropic-base-url", &self.anthropic_base_url)]
        {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(key, format!("{url:?} is not an http(s) URL"));
            }
        }
        Ok(())
    }

    /// Returns this configuration with secrets (the API keys) replaced by `***`.
    pub fn redacted(&self) -> Self {
        let hide = |key: &Option<String>| key.as_ref().map(|_| "***".to_owned());
        Self {
            openai_api_key: hide(&self.openai_api_key),
            anthropic_api_key: hide(&self.anthropic_api_key),
            ..self.clone()
        }
    }

    /// Returns the implicit endpoints of `openai:MODEL` and `anthropic:MODEL` references.
    pub fn default_endpoints(&self) -> DefaultEndpoints {
        let endpoint = |base_url: &str, api_key: &Option<String>| EndpointConfig {
            api_key: api_key.clone().filter(|key| !key.trim().is_empty()),
            ..EndpointConfig::new(base_url)
        };
        DefaultEndpoints {
            openai: endpoint(&self.openai_base_url, &self.openai_api_key),
            anthropic: endpoint(&self.anthropic_base_url, &self.anthropic_api_key),
        }
    }
}

/// Deserializes labels from a table or from `"key=value,..."` text (env and flags).
fn labels<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Labels {
        Text(String),
        Table(BTreeMap<String, String>),
    }
    match Labels::deserialize(deserializer)? {
        Labels::Text(text) => agentry_core::labels::parse_labels(&text).map_err(serde::de::Error::custom),
        Labels::Table(table) => Ok(table),
    }
}

/// Returns the host name, or `node` when it cannot be read.
fn default_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "node".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes run model-written code, so they hold no database credentials: no key of theirs
    /// can carry a database URL (the crate map test keeps sqlx and the store out of the node's
    /// build; the chart and compose checks keep the URL out of node containers).
    #[test]
    fn nodes_hold_no_database_credentials() {
        let keys = serde_json::to_value(NodeConfig::default()).expect("a node config serializes");
        let keys: Vec<&String> = keys.as_object().expect("an object").keys().collect();
        assert!(keys.len() > 20, "{keys:?}");
        for key in keys {
            assert!(!key.contains("database") && !key.contains("postgres") && !key.contains("sql"), "node key {key}");
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(NodeConfig::default().validate(), Ok(()));
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        let slots = NodeConfig { slots: 0, ..NodeConfig::default() };
        assert_eq!(slots.validate().unwrap_err().key, "slots");
        let deliveries = NodeConfig { max_deliveries: 1001, ..NodeConfig::default() };
        assert_eq!(deliveries.validate().unwrap_err().key, "max-deliveries");
        let hub = NodeConfig { hub: "127.0.0.1:7700".into(), ..NodeConfig::default() };
        assert_eq!(hub.validate().unwrap_err().key, "hub");
    }

    #[test]
    fn the_api_key_is_redacted_and_an_empty_one_is_none() {
        let config = NodeConfig { openai_api_key: Some("sk-secret".into()), ..NodeConfig::default() };
        assert_eq!(config.redacted().openai_api_key.as_deref(), Some("***"));
        let empty = NodeConfig { openai_api_key: Some(" ".into()), ..NodeConfig::default() };
        assert_eq!(empty.default_endpoints().openai.api_key, None);
    }
}
