//! A cgroup leaf per call for the memory and process limits.
//!
//! Discovery (once per process) finds, for the `pids` and `memory` controllers, a writable
//! directory under the node's own cgroup: on cgroup v2 the node's cgroup must offer the
//! controllers (a delegated subtree); when enabling them for children fails because the node's
//! cgroup holds processes and the node is the only one, it moves itself into a child
//! `agentry-node` first (the usual trick of container runtimes). On v1 (hybrid hosts) each
//! controller's hierarchy is used separately (`discover.rs`). Leaves are `<node cgroup>/agentry/<pid>-<n>`; the child joins them itself in
//! `pre_exec`, so no process of the tree ever runs outside them.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::limits::LimitHit;

mod discover;

/// Directory under the node's cgroup holding the leaves.
const PARENT: &str = "agentry";

/// A cgroup version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

/// Where leaves for some controllers are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupBase {
    /// `<node cgroup>/agentry`.
    pub parent: PathBuf,
    pub version: Version,
    pub pids: bool,
    pub memory: bool,
}

/// The writable cgroup hierarchies of this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cgroups {
    pub bases: Vec<CgroupBase>,
}

impl Cgroups {
    /// Returns the base providing the pids (`true`) or memory (`false`) controller.
    pub fn base_for(&self, pids: bool) -> Option<&CgroupBase> {
        self.bases.iter().find(|base| if pids { base.pids } else { base.memory })
    }

    /// Creates a leaf with `pids.max` = `max_processes` and the memory limit = `memory_bytes`
    /// (each where given and a base provides the controller).
    ///
    /// Errors when a directory or limit file cannot be written.
    pub fn create_leaf(&self, max_processes: Option<u64>, memory_bytes: Option<u64>) -> io::Result<CgroupLeaf> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut leaf = CgroupLeaf { dirs: Vec::new(), max_processes, memory_bytes };
        for base in &self.bases {
            let wants_pids = base.pids && max_processes.is_some();
            let wants_memory = base.memory && memory_bytes.is_some();
            if !wants_pids && !wants_memory {
                continue;
            }
            let dir = loop {
                let name = format!("{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
                let dir = base.parent.join(name);
                match fs::create_dir(&dir) {
                    Ok(()) => break dir,
                    // A leftover of an earlier process with our pid: take the next number.
                    Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(error) => return Err(error),
                }
            };
            leaf.dirs.push(LeafDir { path: dir.clone(), version: base.version });
            if let (true, Some(limit)) = (wants_pids, max_processes) {
                fs::write(dir.join("pids.max"), limit.to_string())?;
            }
            if let (true, Some(limit)) = (wants_memory, memory_bytes) {
                write_memory_limit(&dir, base.version, limit)?;
            }
        }
        Ok(leaf)
    }
}

fn write_memory_limit(dir: &Path, version: Version, limit: u64) -> io::Result<()> {
    match version {
        Version::V2 => {
            fs::write(dir.join("memory.max"), limit.to_string())?;
            // Swap would turn the limit into thrashing; absent without swap accounting.
            let _ = fs::write(dir.join("memory.swap.max"), "0");
        }
        Version::V1 => {
            fs::write(dir.join("memory.limit_in_bytes"), limit.to_string())?;
            let _ = fs::write(dir.join("memory.memsw.limit_in_bytes"), limit.to_string());
        }
    }
    Ok(())
}

/// The per-call cgroup directories (one per hierarchy). Dropping it kills what is left in them
/// and removes them (in a background thread when processes take a moment to die).
#[derive(Debug)]
pub(crate) struct CgroupLeaf {
    dirs: Vec<LeafDir>,
    max_processes: Option<u64>,
    memory_bytes: Option<u64>,
}

#[derive(Debug, Clone)]
struct LeafDir {
    path: PathBuf,
    version: Version,
}

impl CgroupLeaf {
    /// Returns the `cgroup.procs` files the child writes itself into.
    pub fn procs_files(&self) -> Vec<CString> {
        self.dirs
            .iter()
            .filter_map(|dir| CString::new(dir.path.join("cgroup.procs").as_os_str().as_bytes()).ok())
            .collect()
    }

    /// Returns the leaf reporting `limit` as its process limit (the configured one, without the
    /// sandbox's own processes added to `pids.max`).
    pub fn reporting_process_limit(mut self, limit: Option<u64>) -> Self {
        self.max_processes = limit;
        self
    }

    /// Returns the leaf's directories.
    pub fn paths(&self) -> Vec<&Path> {
        self.dirs.iter().map(|dir| dir.path.as_path()).collect()
    }

    /// Returns whether the leaf has no directory (no limit needed a cgroup).
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// Sends `SIGKILL` to every process in the leaf; returns whether any was left.
    pub fn kill_members(&self) -> bool {
        let mut any = false;
        for dir in &self.dirs {
            for pid in members(&dir.path) {
                any = true;
                crate::sys::kill_process(pid);
            }
        }
        any
    }

    /// Returns the limits the tree ran into, read from the controllers' event counters.
    pub fn limits_hit(&self) -> Vec<LimitHit> {
        let mut hits = Vec::new();
        for dir in &self.dirs {
            if let Some(limit) = self.max_processes
                && let Some(refused) = counter(&dir.path.join("pids.events"), "max").filter(|count| *count > 0)
            {
                hits.push(LimitHit::Processes { limit, refused_forks: refused });
            }
            let oom_file = match dir.version {
                Version::V1 => "memory.oom_control",
                Version::V2 => "memory.events",
            };
            if let Some(limit) = self.memory_bytes
                && let Some(kills) = counter(&dir.path.join(oom_file), "oom_kill").filter(|count| *count > 0)
            {
                hits.push(LimitHit::Memory { limit_bytes: limit, oom_kills: kills });
            }
        }
        hits
    }

    /// Kills what is left and removes the directories, polling until `deadline`; returns
    /// whether every directory is gone.
    pub async fn remove(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.kill_members();
            self.dirs.retain(|dir| fs::remove_dir(&dir.path).is_err());
            if self.dirs.is_empty() || tokio::time::Instant::now() >= deadline {
                return self.dirs.is_empty();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn remove_blocking(dirs: &mut Vec<LeafDir>, timeout: Duration, warn: bool) {
        let deadline = Instant::now() + timeout;
        loop {
            for dir in dirs.iter() {
                for pid in members(&dir.path) {
                    crate::sys::kill_process(pid);
                }
            }
            dirs.retain(|dir| fs::remove_dir(&dir.path).is_err());
            if dirs.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        for dir in dirs.iter().filter(|_| warn) {
            tracing::warn!(path = %dir.path.display(), "could not remove tool cgroup");
        }
    }
}

impl Drop for CgroupLeaf {
    fn drop(&mut self) {
        if self.dirs.is_empty() {
            return;
        }
        // Killed processes usually leave within a millisecond or two: wait that long here, then
        // go on in a thread rather than block the caller.
        Self::remove_blocking(&mut self.dirs, Duration::from_millis(50), false);
        if self.dirs.is_empty() {
            return;
        }
        let mut dirs = std::mem::take(&mut self.dirs);
        let spawned = std::thread::Builder::new()
            .name("agentry-cgroup-cleanup".to_owned())
            .spawn(move || Self::remove_blocking(&mut dirs, Duration::from_secs(10), true));
        if let Err(error) = spawned {
            tracing::warn!(%error, "could not start cgroup cleanup");
        }
    }
}

fn members(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|text| text.lines().filter_map(|line| line.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Returns the value of `key N` in a flat-keyed cgroup file.
fn counter(file: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a plain directory tree (no kernel behind it) the leaf writes the limit files each
    /// version expects, reads event counters and removes itself.
    #[tokio::test]
    async fn leaves_write_the_limit_files_of_each_version() {
        let root = tempfile::TempDir::new().unwrap();
        let v2_parent = root.path().join("v2/agentry");
        let v1_parent = root.path().join("v1-memory/agentry");
        fs::create_dir_all(&v2_parent).unwrap();
        fs::create_dir_all(&v1_parent).unwrap();
        let cgroups = Cgroups {
            bases: vec![
                CgroupBase { parent: v2_parent, version: Version::V2, pids: true, memory: false },
                CgroupBase { parent: v1_parent, version: Version::V1, pids: false, memory: true },
            ],
        };
        let mut leaf = cgroups.create_leaf(Some(64), Some(1 << 20)).unwrap();
        let [pids_dir, memory_dir] = [&leaf.dirs[0].path, &leaf.dirs[1].path].map(|dir| dir.clone());
        assert_eq!(fs::read_to_string(pids_dir.join("pids.max")).unwrap(), "64");
        assert_eq!(fs::read_to_string(memory_dir.join("memory.limit_in_bytes")).unwrap(), "1048576");
        assert_eq!(leaf.procs_files().len(), 2);
        fs::write(pids_dir.join("pids.events"), "max 3\n").unwrap();
        fs::write(memory_dir.join("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n").unwrap();
        assert_eq!(
            leaf.limits_hit(),
            vec![
                LimitHit::Processes { limit: 64, refused_forks: 3 },
                LimitHit::Memory { limit_bytes: 1 << 20, oom_kills: 1 }
            ]
        );
        // Plain directories with files in them cannot be removed by rmdir: the leaf gives up.
        assert!(!leaf.remove(Duration::from_millis(30)).await);
        for dir in [&pids_dir, &memory_dir] {
            for entry in fs::read_dir(dir).unwrap() {
                fs::remove_file(entry.unwrap().path()).unwrap();
            }
        }
        assert!(leaf.remove(Duration::from_millis(30)).await);
        assert!(!pids_dir.exists() && !memory_dir.exists());
    }

    #[test]
    fn no_leaf_directory_without_a_limit_that_needs_one() {
        let root = tempfile::TempDir::new().unwrap();
        let cgroups = Cgroups {
            bases: vec![CgroupBase { parent: root.path().to_owned(), version: Version::V2, pids: true, memory: true }],
        };
        assert!(cgroups.create_leaf(None, None).unwrap().is_empty());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }
}
