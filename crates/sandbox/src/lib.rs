//! agentry-sandbox: runs the processes tools start (`bash`, MCP stdio servers) confined.
//!
//! A [`Sandbox`] turns a program and a [`Confinement`] (the run's workspace, network access,
//! resource limits and environment) into a [`Confined`] command; [`detect`] picks the node's
//! sandbox from its configured [`SandboxKind`]; [`run_captured`] runs a confined command to the
//! end with capped output and a wall-clock limit.
//!
//! Layout:
//! - `bwrap.rs`, `landlock.rs`, `docker.rs`, `unconfined.rs`: the [`Sandbox`] implementations;
//! - `detect.rs`: choosing one from the node config, with probes;
//! - `limits.rs` and `cgroup/`: resource limits (a cgroup leaf per call where a writable
//!   hierarchy exists, rlimits otherwise) and their description;
//! - `confined.rs`: the spawned process tree and its killing; `process.rs`: [`run_captured`];
//! - `sys.rs`: the only `unsafe` code (the `pre_exec` hook, `kill`).
//!
//! See `README.md` beside this crate's `Cargo.toml` for what each sandbox blocks.

#![warn(missing_docs)]

mod bwrap;
mod cgroup;
mod confined;
mod detect;
mod docker;
mod exit;
mod landlock;
mod limits;
mod process;
mod sys;
mod unconfined;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use bwrap::BwrapSandbox;
pub use confined::{Confined, ConfinedChild, ConfinementGuard};
pub use detect::detect;
pub use docker::DockerSandbox;
pub use exit::process_exit;
pub use landlock::LandlockSandbox;
pub use limits::LimitHit;
pub use process::{Captured, Exit, RunOutput, run_captured};
pub use unconfined::Unconfined;

/// Which sandbox confines tool processes (node config `sandbox`). Parsed from its name, an
/// unknown one rejected with the names that are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum SandboxKind {
    /// bubblewrap: namespaces, read-only root, the workspace as the only writable path.
    Bwrap,
    /// Landlock: file writes only under the workspace, no TCP connect unless allowed.
    Landlock,
    /// A Docker container per call (used when a Docker engine is reachable).
    Docker,
    /// No confinement beyond resource limits (only when chosen explicitly).
    None,
}

impl SandboxKind {
    /// Returns the lowercase name used in config and in `tool_start` data.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bwrap => "bwrap",
            Self::Landlock => "landlock",
            Self::Docker => "docker",
            Self::None => "none",
        }
    }
}

impl fmt::Display for SandboxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for SandboxKind {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl FromStr for SandboxKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::Bwrap, Self::Landlock, Self::Docker, Self::None]
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| format!("unknown sandbox {text:?}; expected bwrap, landlock, docker or none"))
    }
}

/// Network a confined process may use.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkAccess {
    /// No network (loopback of a private namespace at most).
    #[default]
    None,
    /// Only these hosts (exact names, or `*.suffix`). Process sandboxes cannot filter by host:
    /// they grant the network when the list is not empty; `fetch` checks each host.
    Hosts(Vec<String>),
    /// Any host.
    Any,
}

impl NetworkAccess {
    /// Returns whether a process sandbox grants the network: [`Any`](Self::Any), or
    /// [`Hosts`](Self::Hosts) with at least one host.
    pub fn is_allowed(&self) -> bool {
        match self {
            Self::None => false,
            Self::Hosts(hosts) => !hosts.is_empty(),
            Self::Any => true,
        }
    }
}

/// Resource limits of one confined process tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceLimits {
    /// CPU time of each process, seconds (`RLIMIT_CPU`: `SIGXCPU`, then `SIGKILL` a second
    /// later).
    pub cpu_seconds: Option<u64>,
    /// Memory of the tree, bytes (cgroup `memory.max` / `memory.limit_in_bytes` where available,
    /// else `RLIMIT_AS` of each process).
    pub memory_bytes: Option<u64>,
    /// Processes and threads of the tree (cgroup `pids.max` where available, else
    /// `RLIMIT_NPROC`).
    pub max_processes: Option<u64>,
    /// Wall-clock time; the whole tree is killed after it.
    pub wall_time: Duration,
    /// Bytes of stdout and of stderr kept; the rest is counted and dropped.
    pub max_output_bytes: usize,
}

/// What a confined process may touch.
#[derive(Debug, Clone)]
pub struct Confinement {
    /// The run's workspace: the only writable path (must exist).
    pub workspace: PathBuf,
    /// Network access.
    pub network: NetworkAccess,
    /// Resource limits.
    pub limits: ResourceLimits,
    /// Environment variables added to the minimal environment every confined process gets
    /// (`PATH`, `HOME` = the workspace, `LANG`, `TERM=dumb`); later entries win.
    pub env: Vec<(String, String)>,
}

impl Confinement {
    /// Returns a confinement to `workspace` with `network` and `limits`, and no extra
    /// environment.
    pub fn new(workspace: impl Into<PathBuf>, network: NetworkAccess, limits: ResourceLimits) -> Self {
        Self { workspace: workspace.into(), network, limits, env: Vec::new() }
    }

    /// Returns the confinement with `name=value` added to the environment.
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }
}

/// Why a command could not be confined or run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SandboxError(pub String);

/// Confines processes.
pub trait Sandbox: Send + Sync + fmt::Debug {
    /// Returns which sandbox this is.
    fn kind(&self) -> SandboxKind;

    /// Returns `program args` as a command confined by `confinement`, its working directory the
    /// workspace, in its own process group, with `kill_on_drop` set and a guard that kills the
    /// whole tree. Spawn it with [`Confined::spawn`] (or run it with [`run_captured`]) and keep
    /// the returned [`ConfinedChild`] for as long as the process runs.
    ///
    /// Errors when the confinement cannot be set up (the workspace is missing, a cgroup cannot be
    /// created, the Landlock ruleset cannot be built).
    fn command(&self, program: &str, args: &[String], confinement: &Confinement) -> Result<Confined, SandboxError>;

    /// Returns what [`command`](Self::command) would enforce for `confinement`, as in
    /// [`Confined::description`], without creating anything.
    fn describe(&self, confinement: &Confinement) -> serde_json::Value {
        serde_json::json!({ "sandbox": self.kind().as_str(), "network": confinement.network })
    }
}
