//! Tool manifests: what a tool may use and how an interrupted call of it is handled.

use std::time::Duration;

use agentry_sandbox::{NetworkAccess, ResourceLimits};

use super::InterruptPolicy;
use agentry_core::limits::MAX_TOOL_OUTPUT_BYTES;
use agentry_core::policy::ManifestOverride;

/// Which files a tool may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsScope {
    /// None.
    None,
    /// Reads under the run's workspace.
    WorkspaceRead,
    /// Reads and writes under the run's workspace.
    WorkspaceWrite,
}

impl FsScope {
    /// Returns the name used in docs and `tool_start` data.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::WorkspaceRead => "workspace-read",
            Self::WorkspaceWrite => "workspace-write",
        }
    }
}

/// What one tool may use, and how an interrupted call is handled on resume.
///
/// The node's config may tighten or widen a builtin's manifest (`[tools.manifest.NAME]`); the
/// effective manifest reaches the tool in [`ToolContext::manifest`](super::ToolContext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolManifest {
    /// Whether running a call twice has the effect of running it once.
    pub idempotent: bool,
    /// Network the tool may reach.
    pub network: NetworkAccess,
    /// Files the tool may touch.
    pub filesystem: FsScope,
    /// CPU seconds of a call's processes (process tools).
    pub cpu_seconds: Option<u64>,
    /// Memory of a call's processes, bytes (process tools).
    pub memory_bytes: Option<u64>,
    /// Processes and threads of a call (process tools).
    pub max_processes: Option<u64>,
    /// Wall-clock time of a call (capped by the run's tool timeout).
    pub wall_time: Duration,
    /// Largest output given to the model, bytes.
    pub max_output_bytes: usize,
    /// What happens to a call interrupted by a node failure.
    pub on_interrupt: InterruptPolicy,
    /// Whether calls start processes, confined by the node's sandbox (recorded in `tool_start`
    /// data as `sandbox`).
    pub sandboxed: bool,
}

impl Default for ToolManifest {
    /// A pure tool: idempotent, no network, no files, no processes, 60 s, output capped at
    /// [`MAX_TOOL_OUTPUT_BYTES`], retried when interrupted.
    fn default() -> Self {
        Self {
            idempotent: true,
            network: NetworkAccess::None,
            filesystem: FsScope::None,
            cpu_seconds: None,
            memory_bytes: None,
            max_processes: None,
            wall_time: Duration::from_secs(60),
            max_output_bytes: MAX_TOOL_OUTPUT_BYTES,
            on_interrupt: InterruptPolicy::Retry,
            sandboxed: false,
        }
    }
}

impl ToolManifest {
    /// Returns the resource limits of a process started for a call, with the wall time capped
    /// at `timeout`.
    pub fn limits(&self, timeout: Duration) -> ResourceLimits {
        ResourceLimits {
            cpu_seconds: self.cpu_seconds,
            memory_bytes: self.memory_bytes,
            max_processes: self.max_processes,
            wall_time: self.wall_time.min(timeout),
            max_output_bytes: self.max_output_bytes,
        }
    }

    /// Returns the manifest with the node's `changes` applied (`[tools.manifest.NAME]`).
    pub fn with_override(mut self, changes: &ManifestOverride) -> Self {
        if let Some(hosts) = &changes.network {
            self.network = match hosts.as_slice() {
                [] => NetworkAccess::None,
                hosts if hosts.iter().any(|host| host == "*") => NetworkAccess::Any,
                hosts => NetworkAccess::Hosts(hosts.to_vec()),
            };
        }
        self.cpu_seconds = changes.cpu_seconds.or(self.cpu_seconds);
        self.memory_bytes = changes.memory_mb.map(|mb| mb.saturating_mul(1 << 20)).or(self.memory_bytes);
        self.max_processes = changes.max_processes.or(self.max_processes);
        self.wall_time = changes.wall_time.unwrap_or(self.wall_time);
        self.max_output_bytes = changes.max_output_bytes.unwrap_or(self.max_output_bytes);
        self
    }

    /// Returns the manifest as JSON for `tool_start` data and docs.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "idempotent": self.idempotent,
            "network": self.network,
            "filesystem": self.filesystem.as_str(),
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": self.memory_bytes,
            "max_processes": self.max_processes,
            "wall_time_ms": self.wall_time.as_millis() as u64,
            "max_output_bytes": self.max_output_bytes,
            "on_interrupt": self.on_interrupt.as_str(),
            "sandboxed": self.sandboxed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_change_only_what_they_name() {
        let base = ToolManifest { cpu_seconds: Some(60), ..ToolManifest::default() };
        let none = base.clone().with_override(&ManifestOverride { network: Some(vec![]), ..Default::default() });
        assert_eq!(none.network, NetworkAccess::None);
        assert_eq!(none.cpu_seconds, Some(60));
        let any =
            base.clone().with_override(&ManifestOverride { network: Some(vec!["*".into()]), ..Default::default() });
        assert_eq!(any.network, NetworkAccess::Any);
        let changes = ManifestOverride {
            network: Some(vec!["api.github.com".into()]),
            memory_mb: Some(512),
            wall_time: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        let changed = base.with_override(&changes);
        assert_eq!(changed.network, NetworkAccess::Hosts(vec!["api.github.com".into()]));
        assert_eq!((changed.memory_bytes, changed.wall_time), (Some(512 << 20), Duration::from_secs(5)));
        assert_eq!(changed.limits(Duration::from_secs(2)).wall_time, Duration::from_secs(2));
    }
}
