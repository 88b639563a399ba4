//! No confinement: only the resource limits, the minimal environment and the tree killing.

use std::path::Path;

use crate::cgroup::Cgroups;
use crate::confined::{self, Recipe};
use crate::{Confined, Confinement, Sandbox, SandboxError, SandboxKind};

const FILESYSTEM: &str = "not confined: everything the node's user may touch";

/// No confinement beyond resource limits: the process runs as the node's user with the node's
/// file system and network (only when `sandbox = "none"` is chosen explicitly, and in tests).
/// It still gets the minimal environment, its own process group and a cgroup leaf.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unconfined;

impl Sandbox for Unconfined {
    fn kind(&self) -> SandboxKind {
        SandboxKind::None
    }

    fn command(&self, program: &str, args: &[String], confinement: &Confinement) -> Result<Confined, SandboxError> {
        let workspace = confined::workspace(confinement)?;
        confined::build(Recipe {
            kind: SandboxKind::None,
            program: Path::new(program),
            args: args.iter().map(Into::into).collect(),
            workspace: &workspace,
            confinement,
            cgroups: Cgroups::shared(),
            extra_processes: 0,
            landlock: None,
            drop_capabilities: false,
            filesystem: FILESYSTEM.to_owned(),
        })
    }

    fn describe(&self, confinement: &Confinement) -> serde_json::Value {
        confined::describe(SandboxKind::None, confinement, Cgroups::shared(), 0, FILESYSTEM)
    }
}
