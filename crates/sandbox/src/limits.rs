//! Which mechanism enforces each resource limit, and the limits a finished tree ran into.

use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;

use serde_json::{Value, json};

use crate::ResourceLimits;
use crate::SandboxError;
use crate::cgroup::{CgroupLeaf, Cgroups, Version};
use crate::sys::Rlimit;

/// A limit a confined tree ran into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitHit {
    /// The tree reached its memory limit and the kernel's OOM killer killed `oom_kills`
    /// processes.
    Memory {
        /// The limit, bytes.
        limit_bytes: u64,
        /// Processes killed.
        oom_kills: u64,
    },
    /// The tree reached its process limit and `refused_forks` forks failed.
    Processes {
        /// The limit, processes and threads.
        limit: u64,
        /// Forks (or thread creations) refused.
        refused_forks: u64,
    },
    /// The main process was killed for exceeding its CPU time.
    CpuTime {
        /// The limit, seconds.
        limit_seconds: u64,
    },
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory { limit_bytes, oom_kills } => write!(
                f,
                "memory limit of {} MiB reached: {oom_kills} process(es) killed",
                limit_bytes.div_ceil(1 << 20)
            ),
            Self::Processes { limit, refused_forks } => {
                write!(f, "process limit of {limit} reached: {refused_forks} fork(s) refused")
            }
            Self::CpuTime { limit_seconds } => write!(f, "cpu time limit of {limit_seconds} s reached"),
        }
    }
}

/// How the limits of one call are enforced.
#[derive(Debug, Default)]
pub(crate) struct LimitPlan {
    /// Rlimits the child sets on itself.
    pub rlimits: Vec<Rlimit>,
    /// `{limit name: {"value": n, "mechanism": "..."}}` for the description.
    pub description: serde_json::Map<String, Value>,
    /// Whether a cgroup leaf is needed (for pids and/or memory).
    pids_by_cgroup: bool,
    memory_by_cgroup: bool,
}

impl LimitPlan {
    /// Returns how `limits` are enforced with `cgroups` (empty: rlimits only). `extra_processes`
    /// is added to a process limit for the sandbox's own helpers (bwrap's two processes).
    pub fn new(limits: &ResourceLimits, cgroups: &Cgroups, extra_processes: u64) -> Self {
        let mut plan = LimitPlan { rlimits: vec![Rlimit::Core(0)], ..LimitPlan::default() };
        plan.description.insert("wall_time_ms".into(), json!(wall_time_ms(limits)));
        plan.description.insert("max_output_bytes".into(), json!(limits.max_output_bytes));
        if let Some(seconds) = limits.cpu_seconds {
            plan.rlimits.push(Rlimit::Cpu { soft: seconds, hard: seconds + 1 });
            plan.describe("cpu_seconds", seconds, "rlimit-cpu (per process)".to_owned());
        }
        if let Some(bytes) = limits.memory_bytes {
            if let Some(base) = cgroups.base_for(false) {
                plan.memory_by_cgroup = true;
                let file = if base.version == Version::V1 { "memory.limit_in_bytes" } else { "memory.max" };
                plan.describe("memory_bytes", bytes, format!("{} {file}", version_name(base.version)));
            } else {
                plan.rlimits.push(Rlimit::AddressSpace(bytes));
                plan.describe("memory_bytes", bytes, "rlimit-as (per process)".to_owned());
            }
        }
        if let Some(processes) = limits.max_processes {
            if let Some(base) = cgroups.base_for(true) {
                plan.pids_by_cgroup = true;
                plan.describe("max_processes", processes, format!("{} pids.max", version_name(base.version)));
            } else {
                // RLIMIT_NPROC counts every task of the user, so the budget is on top of those
                // already running; root (CAP_SYS_RESOURCE) is exempt unless it dropped it.
                let running = user_tasks();
                plan.rlimits.push(Rlimit::Processes(processes + extra_processes + running));
                let mechanism = if effective_uid() == Some(0) {
                    format!("rlimit-nproc ({running} tasks already running; binds root only without CAP_SYS_RESOURCE)")
                } else {
                    format!("rlimit-nproc ({running} tasks of the user already running)")
                };
                plan.describe("max_processes", processes, mechanism);
            }
        }
        plan
    }

    fn describe(&mut self, name: &str, value: u64, mechanism: String) {
        self.description.insert(name.into(), json!({ "value": value, "mechanism": mechanism }));
    }

    /// Creates the cgroup leaf the plan needs (an empty one when it needs none).
    ///
    /// Errors when the leaf cannot be created or its limits written.
    pub fn create_leaf(
        &self,
        limits: &ResourceLimits,
        cgroups: &Cgroups,
        extra_processes: u64,
    ) -> Result<CgroupLeaf, SandboxError> {
        let processes = limits.max_processes.filter(|_| self.pids_by_cgroup).map(|limit| limit + extra_processes);
        let memory = limits.memory_bytes.filter(|_| self.memory_by_cgroup);
        cgroups
            .create_leaf(processes, memory)
            .map(|leaf| leaf.reporting_process_limit(limits.max_processes))
            .map_err(|error| SandboxError(format!("could not create a cgroup for the tool process: {error}")))
    }
}

/// Returns the wall time in milliseconds, saturated (long-lived processes pass `Duration::MAX`).
pub(crate) fn wall_time_ms(limits: &ResourceLimits) -> u64 {
    u64::try_from(limits.wall_time.as_millis()).unwrap_or(u64::MAX)
}

fn version_name(version: Version) -> &'static str {
    match version {
        Version::V1 => "cgroup-v1",
        Version::V2 => "cgroup-v2",
    }
}

fn effective_uid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|metadata| metadata.uid())
}

/// Returns the number of tasks (threads) owned by this process's user.
fn user_tasks() -> u64 {
    let Some(uid) = effective_uid() else { return 0 };
    let Ok(entries) = fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter(|entry| entry.file_name().to_str().is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit())))
        .filter(|entry| entry.metadata().is_ok_and(|metadata| metadata.uid() == uid))
        .map(|entry| fs::read_dir(entry.path().join("task")).map_or(1, |tasks| tasks.count() as u64))
        .sum()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::cgroup::CgroupBase;

    fn limits() -> ResourceLimits {
        ResourceLimits {
            cpu_seconds: Some(5),
            memory_bytes: Some(1 << 30),
            max_processes: Some(32),
            wall_time: Duration::from_secs(10),
            max_output_bytes: 100,
        }
    }

    #[test]
    fn cgroups_take_memory_and_processes_and_rlimits_the_rest() {
        let cgroups = Cgroups {
            bases: vec![CgroupBase { parent: PathBuf::from("/x"), version: Version::V2, pids: true, memory: true }],
        };
        let plan = LimitPlan::new(&limits(), &cgroups, 0);
        assert_eq!(plan.rlimits, vec![Rlimit::Core(0), Rlimit::Cpu { soft: 5, hard: 6 }]);
        assert_eq!(plan.description["memory_bytes"]["mechanism"], "cgroup-v2 memory.max");
        assert_eq!(plan.description["max_processes"]["mechanism"], "cgroup-v2 pids.max");
        assert_eq!(plan.description["cpu_seconds"]["value"], 5);
        assert_eq!(plan.description["wall_time_ms"], 10_000);
    }

    #[test]
    fn without_cgroups_rlimits_enforce_everything() {
        let plan = LimitPlan::new(&limits(), &Cgroups::default(), 2);
        assert!(plan.rlimits.contains(&Rlimit::AddressSpace(1 << 30)));
        assert!(plan.rlimits.iter().any(|limit| matches!(limit, Rlimit::Processes(n) if *n >= 34)));
        assert_eq!(plan.description["memory_bytes"]["mechanism"], "rlimit-as (per process)");
        assert!(plan.description["max_processes"]["mechanism"].as_str().unwrap().starts_with("rlimit-nproc"));
    }

    #[test]
    fn limits_hit_read_as_sentences() {
        let memory = LimitHit::Memory { limit_bytes: 256 << 20, oom_kills: 1 };
        assert_eq!(memory.to_string(), "memory limit of 256 MiB reached: 1 process(es) killed");
        let processes = LimitHit::Processes { limit: 64, refused_forks: 9 };
        assert_eq!(processes.to_string(), "process limit of 64 reached: 9 fork(s) refused");
    }
}
