//! Landlock: the fallback where bubblewrap cannot run. The child restricts itself before exec:
//! read and execute everywhere, write only under the workspace (and a few harmless devices), no
//! TCP connect unless the network is allowed, no signals or abstract-socket connections to
//! processes outside the sandbox. Children inherit the restriction.

use std::os::fd::OwnedFd;
use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetError, Scope, path_beneath_rules,
};

use crate::cgroup::Cgroups;
use crate::confined::{self, Recipe};
use crate::{Confined, Confinement, Sandbox, SandboxError, SandboxKind};

/// Devices a confined process may write to (besides the workspace).
const WRITABLE_DEVICES: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"];

const FILESYSTEM: &str = "read and execute everywhere; write only under the workspace and /dev/null, /dev/zero, \
                          /dev/full, /dev/tty; no signals to processes outside; no capabilities";

/// Confines with Landlock (kernel ABI 4 or later: file system and TCP rules).
///
/// Unlike bubblewrap it leaves the process in the node's namespaces: it sees the node's
/// processes and `/tmp` (read-only), and UDP and Unix sockets are not restricted; only TCP
/// connect is denied when the network is not allowed.
#[derive(Debug, Clone)]
pub struct LandlockSandbox {
    use_cgroups: bool,
}

impl LandlockSandbox {
    /// Returns the sandbox if the kernel enforces every Landlock feature it needs (ABI 4: file
    /// system access rights and TCP connect).
    ///
    /// Errors naming what the kernel lacks.
    pub fn probe() -> Result<Self, SandboxError> {
        ruleset(Path::new("/"), false)
            .map_err(|error| SandboxError(format!("landlock is not fully enforced here: {error}")))?;
        Ok(Self { use_cgroups: true })
    }

    /// Returns the sandbox enforcing memory and process limits with rlimits only, never a cgroup
    /// (to test that fallback).
    pub fn without_cgroups(self) -> Self {
        Self { use_cgroups: false }
    }
}

/// Returns a created ruleset (its fd, to enforce in the child) allowing writes under
/// `workspace` and, unless `network_allowed`, denying TCP connect. Features past ABI 4
/// (device ioctls, signal and abstract-socket scoping) are added where the kernel has them.
///
/// Errors when the kernel lacks an ABI 4 feature or `workspace` cannot be opened.
fn ruleset(workspace: &Path, network_allowed: bool) -> Result<OwnedFd, String> {
    let workspace_fd = PathFd::new(workspace).map_err(|error| error.to_string())?;
    let created = created_ruleset(workspace_fd, network_allowed).map_err(|error| error.to_string())?;
    Option::<OwnedFd>::from(created).ok_or_else(|| "the kernel does not support landlock".to_owned())
}

fn created_ruleset(workspace: PathFd, network_allowed: bool) -> Result<RulesetCreated, RulesetError> {
    let mut required = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V4))?;
    if !network_allowed {
        required = required.handle_access(AccessNet::ConnectTcp)?;
    }
    required
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(ABI::V5))?
        .scope(Scope::from_all(ABI::V6))?
        .create()?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(ABI::V5)))?
        .add_rule(PathBeneath::new(workspace, AccessFs::from_all(ABI::V5)))?
        .add_rules(path_beneath_rules(WRITABLE_DEVICES, AccessFs::from_all(ABI::V5)))
}

/// Returns whether this process runs as root: its children then drop every capability, which
/// Landlock does not govern (`reboot`, `ip link`, module loading, raw sockets).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|metadata| std::os::unix::fs::MetadataExt::uid(&metadata) == 0)
}

impl Sandbox for LandlockSandbox {
    fn kind(&self) -> SandboxKind {
        SandboxKind::Landlock
    }

    fn command(&self, program: &str, args: &[String], confinement: &Confinement) -> Result<Confined, SandboxError> {
        let workspace = confined::workspace(confinement)?;
        let ruleset = ruleset(&workspace, confinement.network.is_allowed())
            .map_err(|error| SandboxError(format!("could not build the landlock ruleset: {error}")))?;
        confined::build(Recipe {
            kind: SandboxKind::Landlock,
            program: Path::new(program),
            args: args.iter().map(Into::into).collect(),
            workspace: &workspace,
            confinement,
            cgroups: Cgroups::select(self.use_cgroups),
            extra_processes: 0,
            landlock: Some(ruleset),
            drop_capabilities: is_root(),
            filesystem: FILESYSTEM.to_owned(),
        })
    }

    fn describe(&self, confinement: &Confinement) -> serde_json::Value {
        confined::describe(SandboxKind::Landlock, confinement, Cgroups::select(self.use_cgroups), 0, FILESYSTEM)
    }
}
