//! bubblewrap: a read-only view of the host with the workspace as the only writable path, in new
//! user, pid, ipc, uts, cgroup and (unless allowed) network namespaces, without capabilities.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::cgroup::Cgroups;
use crate::confined::{self, Recipe};
use crate::{Confined, Confinement, Sandbox, SandboxError, SandboxKind};

/// bwrap's own processes in the tree (its monitor and the namespace's init).
const BWRAP_PROCESSES: u64 = 2;

const FILESYSTEM: &str = "read-only root; writable workspace; private /tmp, /dev, /proc";

/// Confines with bubblewrap (`bwrap`).
///
/// The process sees the host's file system read-only (`--ro-bind / /`), the workspace
/// read-write, a private tmpfs on `/tmp`, a minimal `/dev` and its own `/proc`; it runs in new
/// namespaces (`--unshare-all`, plus `--share-net` when the network is allowed; otherwise only a
/// private loopback exists), with every capability dropped, in a new session, and dies with its
/// parent. Killing the `bwrap` process kills the whole pid namespace.
#[derive(Debug, Clone)]
pub struct BwrapSandbox {
    bwrap: PathBuf,
    use_cgroups: bool,
}

impl BwrapSandbox {
    /// Returns the sandbox if `bwrap` is on `PATH` and can create a sandbox here (it fails
    /// e.g. inside another bwrap or where user namespaces are disabled).
    ///
    /// Errors with the reason, including bwrap's own message.
    pub fn probe() -> Result<Self, SandboxError> {
        let bwrap = find_program("bwrap").ok_or_else(|| {
            SandboxError("bubblewrap is not installed (no `bwrap` on PATH); install it (Debian: bubblewrap)".to_owned())
        })?;
        let output = std::process::Command::new(&bwrap)
            .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--unshare-all"])
            .args(["--cap-drop", "ALL", "--new-session", "--die-with-parent", "--", "true"])
            .stdin(Stdio::null())
            .output()
            .map_err(|error| SandboxError(format!("could not run {}: {error}", bwrap.display())))?;
        if !output.status.success() {
            let message = String::from_utf8_lossy(&output.stderr);
            return Err(SandboxError(format!("bubblewrap cannot create a sandbox here: {}", message.trim())));
        }
        Ok(Self { bwrap, use_cgroups: true })
    }

    /// Returns the sandbox enforcing memory and process limits with rlimits only, never a cgroup
    /// (to test that fallback).
    pub fn without_cgroups(self) -> Self {
        Self { use_cgroups: false, ..self }
    }

    fn cgroups(&self) -> &'static Cgroups {
        Cgroups::select(self.use_cgroups)
    }
}

/// Returns bwrap's arguments before the program: `--ro-bind / /`, then `/dev`, `/proc`, `/tmp`
/// (before the workspace, which may lie under `/tmp`), the workspace, namespaces and the rest.
pub(crate) fn arguments(workspace: &Path, network_allowed: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> =
        ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"].map(OsString::from).to_vec();
    args.extend([OsString::from("--bind"), workspace.into(), workspace.into()]);
    args.push("--unshare-all".into());
    if network_allowed {
        args.push("--share-net".into());
    }
    args.extend(["--cap-drop", "ALL", "--new-session", "--die-with-parent"].map(OsString::from));
    args.extend([OsString::from("--chdir"), workspace.into(), OsString::from("--")]);
    args
}

impl Sandbox for BwrapSandbox {
    fn kind(&self) -> SandboxKind {
        SandboxKind::Bwrap
    }

    fn command(&self, program: &str, args: &[String], confinement: &Confinement) -> Result<Confined, SandboxError> {
        let workspace = confined::workspace(confinement)?;
        let mut bwrap_args = arguments(&workspace, confinement.network.is_allowed());
        bwrap_args.push(program.into());
        bwrap_args.extend(args.iter().map(OsString::from));
        confined::build(Recipe {
            kind: SandboxKind::Bwrap,
            program: &self.bwrap,
            args: bwrap_args,
            workspace: &workspace,
            confinement,
            cgroups: self.cgroups(),
            extra_processes: BWRAP_PROCESSES,
            landlock: None,
            drop_capabilities: false,
            filesystem: FILESYSTEM.to_owned(),
        })
    }

    fn describe(&self, confinement: &Confinement) -> serde_json::Value {
        confined::describe(SandboxKind::Bwrap, confinement, self.cgroups(), BWRAP_PROCESSES, FILESYSTEM)
    }
}

/// Returns the path of `name` in the node's `PATH`.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| {
        candidate.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_is_mounted_before_the_workspace_and_the_network_is_shared_only_when_allowed() {
        let text = |args: Vec<OsString>| args.iter().map(|arg| arg.to_string_lossy().into_owned()).collect::<Vec<_>>();
        let denied = text(arguments(Path::new("/tmp/ws"), false));
        let tmp = denied.iter().position(|arg| arg == "--tmpfs").unwrap();
        let bind = denied.iter().position(|arg| arg == "--bind").unwrap();
        assert!(tmp < bind, "{denied:?}");
        assert_eq!(&denied[bind..bind + 3], ["--bind", "/tmp/ws", "/tmp/ws"]);
        assert!(!denied.contains(&"--share-net".to_owned()));
        assert_eq!(denied.last().map(String::as_str), Some("--"));
        let allowed = text(arguments(Path::new("/tmp/ws"), true));
        let unshare = allowed.iter().position(|arg| arg == "--unshare-all").unwrap();
        assert_eq!(allowed[unshare + 1], "--share-net");
    }
}
