//! Finding the writable cgroup hierarchies of this process (once).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{CgroupBase, Cgroups, PARENT, Version, members};

impl Cgroups {
    /// Returns the hierarchies discovered once for this process (empty when none is writable).
    pub fn shared() -> &'static Cgroups {
        static SHARED: OnceLock<Cgroups> = OnceLock::new();
        SHARED.get_or_init(|| {
            let discovered = Self::discover();
            tracing::debug!(cgroups = ?discovered, "cgroup discovery");
            discovered
        })
    }

    /// Returns `shared()` when `use_cgroups`, else no hierarchy (rlimits only).
    pub fn select(use_cgroups: bool) -> &'static Cgroups {
        static NONE: Cgroups = Cgroups { bases: Vec::new() };
        if use_cgroups { Self::shared() } else { &NONE }
    }

    fn discover() -> Cgroups {
        let (Ok(mountinfo), Ok(membership)) =
            (fs::read_to_string("/proc/self/mountinfo"), fs::read_to_string("/proc/self/cgroup"))
        else {
            return Cgroups::default();
        };
        let mut bases = Vec::new();
        let (mut pids, mut memory) = (false, false);
        if let Some(own) = own_dir(&mountinfo, &membership, None)
            && let Some(base) = prepare_v2(&own)
        {
            (pids, memory) = (base.pids, base.memory);
            bases.push(base);
        }
        for (controller, done) in [("pids", pids), ("memory", memory)] {
            if done {
                continue;
            }
            let Some(own) = own_dir(&mountinfo, &membership, Some(controller)) else { continue };
            let parent = own.join(PARENT);
            if fs::create_dir_all(&parent).is_ok() {
                let is_pids = controller == "pids";
                bases.push(CgroupBase { parent, version: Version::V1, pids: is_pids, memory: !is_pids });
            }
        }
        Cgroups { bases }
    }
}

/// Makes `own` (the node's v2 cgroup) hand the pids and memory controllers to `own/agentry`;
/// returns the base, or `None` when the controllers are not delegated or not writable.
fn prepare_v2(own: &Path) -> Option<CgroupBase> {
    let available = fs::read_to_string(own.join("cgroup.controllers")).ok()?;
    let wanted: Vec<&str> =
        ["pids", "memory"].into_iter().filter(|c| available.split_whitespace().any(|a| a == *c)).collect();
    if wanted.is_empty() {
        return None;
    }
    let enable = wanted.iter().map(|controller| format!("+{controller}")).collect::<Vec<_>>().join(" ");
    if fs::write(own.join("cgroup.subtree_control"), &enable).is_err() {
        // EBUSY: "no internal processes". When this process is the only one there, it moves
        // into a leaf of its own and retries; otherwise it leaves the hierarchy alone.
        if members(own) != [std::process::id()] {
            return None;
        }
        let node_leaf = own.join("agentry-node");
        fs::create_dir_all(&node_leaf).ok()?;
        fs::write(node_leaf.join("cgroup.procs"), std::process::id().to_string()).ok()?;
        fs::write(own.join("cgroup.subtree_control"), &enable).ok()?;
    }
    let parent = own.join(PARENT);
    fs::create_dir_all(&parent).ok()?;
    fs::write(parent.join("cgroup.subtree_control"), &enable).ok()?;
    Some(CgroupBase {
        parent,
        version: Version::V2,
        pids: wanted.contains(&"pids"),
        memory: wanted.contains(&"memory"),
    })
}

/// Returns the directory of this process's cgroup: v2 when `controller` is `None`, else the v1
/// hierarchy of `controller`. `mountinfo` and `membership` are `/proc/self/mountinfo` and
/// `/proc/self/cgroup`.
pub(crate) fn own_dir(mountinfo: &str, membership: &str, controller: Option<&str>) -> Option<PathBuf> {
    let own_path = membership.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let matches = match controller {
            None => controllers.is_empty(),
            Some(wanted) => controllers.split(',').any(|c| c == wanted),
        };
        matches.then_some(path)
    })?;
    mountinfo.lines().find_map(|line| {
        let (mount, filesystem) = line.split_once(" - ")?;
        let mount_fields: Vec<&str> = mount.split(' ').collect();
        let filesystem_fields: Vec<&str> = filesystem.split(' ').collect();
        let (root, mount_point) = (*mount_fields.get(3)?, *mount_fields.get(4)?);
        let (fs_type, options) = (*filesystem_fields.first()?, *filesystem_fields.get(2).unwrap_or(&""));
        let matches = match controller {
            None => fs_type == "cgroup2",
            Some(wanted) => fs_type == "cgroup" && options.split(',').any(|option| option == wanted),
        };
        if !matches {
            return None;
        }
        // The mount shows the hierarchy from `root`; our path is relative to the hierarchy.
        let relative = Path::new(own_path).strip_prefix(root).ok()?;
        Some(Path::new(mount_point).join(relative))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
35 25 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
40 35 0:35 / /sys/fs/cgroup/pids rw,relatime shared:14 - cgroup cgroup rw,pids
41 35 0:36 /docker/abc /sys/fs/cgroup/memory rw,relatime shared:15 - cgroup cgroup rw,memory
42 35 0:37 / /sys/fs/cgroup/cpu,cpuacct rw shared:16 - cgroup cgroup rw,cpu,cpuacct";

    const MEMBERSHIP: &str = "\
9:pids:/user.slice/session-1
8:memory:/docker/abc/inner
7:cpu,cpuacct:/
0::/user.slice/session-1";

    #[test]
    fn own_dirs_join_mount_point_and_path_relative_to_the_mount_root() {
        let v2 = own_dir(MOUNTINFO, MEMBERSHIP, None);
        assert_eq!(v2, Some(PathBuf::from("/sys/fs/cgroup/unified/user.slice/session-1")));
        let pids = own_dir(MOUNTINFO, MEMBERSHIP, Some("pids"));
        assert_eq!(pids, Some(PathBuf::from("/sys/fs/cgroup/pids/user.slice/session-1")));
        let memory = own_dir(MOUNTINFO, MEMBERSHIP, Some("memory"));
        assert_eq!(memory, Some(PathBuf::from("/sys/fs/cgroup/memory/inner")));
        assert_eq!(own_dir(MOUNTINFO, MEMBERSHIP, Some("cpu")), Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(own_dir(MOUNTINFO, MEMBERSHIP, Some("blkio")), None);
    }
}
