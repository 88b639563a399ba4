//! Hub configuration.

use std::time::Duration;

use crate::scheduler::Strategy;

/// How the hub behaves. Build with [`HubConfig::default`] and override fields.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Lease time-to-live given to nodes: a node silent for longer is not offered new runs.
    pub lease_ttl: Duration,
    /// Heartbeat interval suggested to nodes.
    pub heartbeat_interval: Duration,
    /// How often the placer looks for unplaced runs even when nothing woke it.
    pub placement_interval: Duration,
    /// How often a trace follower re-reads the store when no event hint arrived.
    pub trace_poll_interval: Duration,
    /// Placement strategy.
    pub scheduler: Strategy,
    /// Grace period for in-flight RPCs on shutdown.
    pub shutdown_grace: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(1),
            placement_interval: Duration::from_secs(1),
            trace_poll_interval: Duration::from_secs(2),
            scheduler: Strategy::RoundRobin,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}
