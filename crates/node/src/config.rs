//! Node configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use agentry_core::model::OpenAiConfig;

/// How a node behaves.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Hub URL, e.g. `http://127.0.0.1:7700`.
    pub hub_url: String,
    /// Human-readable name shown by `agentry nodes`.
    pub name: String,
    /// Maximum concurrent runs.
    pub slots: u32,
    /// Labels for placement constraints.
    pub labels: BTreeMap<String, String>,
    /// Directory under which each run gets its workspace `<root>/<run_id>`.
    pub workspace_root: PathBuf,
    /// Time limit of one tool call.
    pub tool_timeout: Duration,
    /// Longest wait of one task pull before checking for shutdown again.
    pub pull_wait: Duration,
    /// How often an executing run tells the broker it is still in progress.
    pub progress_interval: Duration,
    /// How long commits are retried while the hub is unreachable before the run is handed back.
    pub commit_retry_window: Duration,
    /// How long in-flight runs may take to finish on shutdown before they are handed back.
    pub shutdown_grace: Duration,
    /// Deliveries of one task after which its run is dead-lettered: failed with the last
    /// failure kept as its error, instead of being retried forever.
    pub max_deliveries: u64,
    /// The OpenAI-compatible model endpoint for `openai:` models.
    pub openai: OpenAiConfig,
}

impl NodeConfig {
    /// Returns a configuration with defaults for everything but the hub URL, the workspace root
    /// and the model endpoint.
    pub fn new(hub_url: impl Into<String>, workspace_root: PathBuf, openai: OpenAiConfig) -> Self {
        Self {
            hub_url: hub_url.into(),
            name: default_name(),
            slots: 4,
            labels: BTreeMap::new(),
            workspace_root,
            tool_timeout: Duration::from_secs(120),
            pull_wait: Duration::from_secs(1),
            progress_interval: Duration::from_secs(10),
            commit_retry_window: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(30),
            max_deliveries: 5,
            openai,
        }
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
