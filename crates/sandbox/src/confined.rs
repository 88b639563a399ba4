//! A confined command, the process tree spawned from it, and how that tree is killed.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::cgroup::{CgroupLeaf, Cgroups};
use crate::limits::{LimitHit, LimitPlan};
use crate::sys::{self, ChildSetup};
use crate::{Confinement, ResourceLimits, SandboxError, SandboxKind};

/// `PATH` when the node has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A command ready to spawn under a sandbox, with what must live as long as the process.
pub struct Confined {
    /// The command: working directory the workspace, its own process group, a minimal
    /// environment, stdin `/dev/null`, `kill_on_drop`. The caller may set stdio; spawn it with
    /// [`Confined::spawn`].
    pub command: tokio::process::Command,
    /// What confines it, for `tool_start` data: `{"sandbox": "bwrap", "network": "none",
    /// "filesystem": "...", "limits": {"memory_bytes": {"value": n, "mechanism": "..."}, ...}}`.
    pub description: Value,
    /// Kills the tree and removes the call's cgroup leaf; moves into the [`ConfinedChild`].
    pub guard: ConfinementGuard,
}

impl std::fmt::Debug for Confined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confined").field("command", &self.command).field("description", &self.description).finish()
    }
}

/// What a confined process tree holds: its cgroup leaf (removed on drop, after killing what is
/// left in it) or its Docker container (removed with `docker rm -f`).
#[derive(Debug)]
pub struct ConfinementGuard {
    cgroup: Option<CgroupLeaf>,
    docker: Option<(PathBuf, String)>,
    limits: ResourceLimits,
}

impl ConfinementGuard {
    pub(crate) fn new(cgroup: Option<CgroupLeaf>, docker: Option<(PathBuf, String)>, limits: ResourceLimits) -> Self {
        Self { cgroup, docker, limits }
    }

    /// Returns the limits of the tree.
    pub fn limits(&self) -> &ResourceLimits {
        &self.limits
    }
}

impl Confined {
    /// Spawns the command and returns the child with its guard: dropping the [`ConfinedChild`]
    /// kills the whole tree. The wall time is not enforced here (see [`run_captured`](crate::run_captured)):
    /// a long-lived process (an MCP server) lives as long as its `ConfinedChild`.
    ///
    /// Errors when the program cannot be started (missing, or the confinement failed in the
    /// child: a cgroup could not be joined, Landlock refused).
    pub fn spawn(mut self) -> Result<ConfinedChild, SandboxError> {
        let child = self.command.spawn().map_err(|error| {
            let program = self.command.as_std().get_program().to_string_lossy().into_owned();
            SandboxError(format!("could not start {program}: {error}"))
        })?;
        // Every sandbox but Docker puts the child in its own process group (pgid = pid).
        let process_group = if self.guard.docker.is_none() { child.id() } else { None };
        Ok(ConfinedChild { child, description: self.description, guard: self.guard, process_group })
    }
}

/// A spawned confined process. Dropping it kills the whole tree (process group, cgroup members,
/// container) and removes the cgroup leaf.
#[derive(Debug)]
pub struct ConfinedChild {
    /// The process (for a sandbox that wraps the program, the wrapper: `bwrap`, `docker`).
    pub child: tokio::process::Child,
    /// What confines it, as in [`Confined::description`].
    pub description: Value,
    guard: ConfinementGuard,
    process_group: Option<u32>,
}

impl ConfinedChild {
    /// Sends `SIGKILL` to every process of the tree: the process group, whatever is in the
    /// cgroup leaf (also processes that left the group), the container. Does not wait.
    pub fn kill_tree(&mut self) {
        if let Some(process_group) = self.process_group {
            sys::kill_process_group(process_group);
        }
        if let Some(leaf) = &self.guard.cgroup {
            leaf.kill_members();
        }
        if let Some((docker, container)) = &self.guard.docker {
            remove_container(docker.clone(), container.clone());
        }
        let _ = self.child.start_kill();
    }

    /// Returns the limits the tree ran into, given the main process's `status` (`None` when it
    /// did not exit by itself).
    pub fn limits_hit(&self, status: Option<ExitStatus>) -> Vec<LimitHit> {
        let mut hits = self.guard.cgroup.as_ref().map(CgroupLeaf::limits_hit).unwrap_or_default();
        // SIGXCPU, or a shell's or bwrap's report of a child killed by it (128 + signal).
        let by_sigxcpu = status
            .is_some_and(|status| status.signal() == Some(libc::SIGXCPU) || status.code() == Some(128 + libc::SIGXCPU));
        if let (Some(limit_seconds), true) = (self.guard.limits.cpu_seconds, by_sigxcpu) {
            hits.push(LimitHit::CpuTime { limit_seconds });
        }
        hits
    }

    /// Returns the limits of the tree.
    pub fn limits(&self) -> &ResourceLimits {
        &self.guard.limits
    }

    /// Kills what is left of the tree and removes the cgroup leaf, waiting up to `timeout` for
    /// the killed processes to leave it (the drop of the child retries in the background).
    pub async fn clean_up(&mut self, timeout: Duration) {
        self.kill_tree();
        if let Some(leaf) = &mut self.guard.cgroup {
            leaf.remove(timeout).await;
        }
    }
}

impl Drop for ConfinedChild {
    fn drop(&mut self) {
        // The group may be gone already (the common case); kill(2) then fails harmlessly.
        self.kill_tree();
    }
}

fn remove_container(docker: PathBuf, container: String) {
    // A thread rather than a task: the drop may happen outside a runtime, and it reaps `docker`.
    let spawned = std::thread::Builder::new().name("agentry-docker-rm".to_owned()).spawn(move || {
        let status = std::process::Command::new(docker)
            .args(["rm", "-f", &container])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(error) = status {
            tracing::warn!(container, %error, "could not remove the tool container");
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "could not start docker rm");
    }
}

/// Returns the canonical workspace of `confinement`.
///
/// Errors when it does not exist or is not a directory.
pub(crate) fn workspace(confinement: &Confinement) -> Result<PathBuf, SandboxError> {
    let path = &confinement.workspace;
    let canonical =
        path.canonicalize().map_err(|error| SandboxError(format!("workspace {}: {error}", path.display())))?;
    if !canonical.is_dir() {
        return Err(SandboxError(format!("workspace {} is not a directory", path.display())));
    }
    Ok(canonical)
}

/// Returns the minimal environment of a confined process: `PATH`, `HOME`, `LANG`, `TERM`, then
/// the confinement's own variables.
pub(crate) fn environment(workspace: &Path, confinement: &Confinement) -> Vec<(OsString, OsString)> {
    let path = std::env::var_os("PATH").filter(|path| !path.is_empty()).unwrap_or_else(|| DEFAULT_PATH.into());
    let mut env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), path),
        ("HOME".into(), workspace.into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("TERM".into(), "dumb".into()),
    ];
    env.extend(confinement.env.iter().map(|(name, value)| (name.into(), value.into())));
    env
}

/// A process-sandbox command before its limits are applied.
pub(crate) struct Recipe<'a> {
    pub kind: SandboxKind,
    /// The program run (the program itself, or `bwrap`).
    pub program: &'a Path,
    pub args: Vec<OsString>,
    pub workspace: &'a Path,
    pub confinement: &'a Confinement,
    pub cgroups: &'a Cgroups,
    /// Processes the sandbox itself adds to the tree.
    pub extra_processes: u64,
    pub landlock: Option<OwnedFd>,
    /// Whether the child drops every capability (a root node's Landlock sandbox).
    pub drop_capabilities: bool,
    /// What the sandbox blocks on the file system, for the description.
    pub filesystem: String,
}

/// Returns what a process sandbox of `kind` enforces for `confinement`, without creating
/// anything.
pub(crate) fn describe(
    kind: SandboxKind,
    confinement: &Confinement,
    cgroups: &Cgroups,
    extra_processes: u64,
    filesystem: &str,
) -> Value {
    description_json(kind, confinement, filesystem, &LimitPlan::new(&confinement.limits, cgroups, extra_processes))
}

fn description_json(kind: SandboxKind, confinement: &Confinement, filesystem: &str, plan: &LimitPlan) -> Value {
    json!({
        "sandbox": kind.as_str(),
        "network": confinement.network,
        "network_enforced": kind != SandboxKind::None,
        "filesystem": filesystem,
        "limits": plan.description,
    })
}

/// Builds the command of `recipe`: minimal environment, workspace as working directory, own
/// process group, cgroup leaf and rlimits (and Landlock) applied by the child before exec.
///
/// Errors when the cgroup leaf cannot be created.
pub(crate) fn build(recipe: Recipe<'_>) -> Result<Confined, SandboxError> {
    let limits = &recipe.confinement.limits;
    let plan = LimitPlan::new(limits, recipe.cgroups, recipe.extra_processes);
    let leaf = plan.create_leaf(limits, recipe.cgroups, recipe.extra_processes)?;
    let mut command = tokio::process::Command::new(recipe.program);
    command
        .args(&recipe.args)
        .env_clear()
        .envs(environment(recipe.workspace, recipe.confinement))
        .current_dir(recipe.workspace)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let setup = ChildSetup {
        cgroup_procs: leaf.procs_files(),
        rlimits: plan.rlimits.clone(),
        drop_capabilities: recipe.drop_capabilities.then(sys::last_capability),
        landlock: recipe.landlock,
    };
    sys::install(&mut command, setup);
    let mut description = description_json(recipe.kind, recipe.confinement, &recipe.filesystem, &plan);
    if !leaf.is_empty() {
        description["cgroups"] = json!(leaf.paths());
    }
    let cgroup = (!leaf.is_empty()).then_some(leaf);
    Ok(Confined { command, description, guard: ConfinementGuard::new(cgroup, None, limits.clone()) })
}
