//! The crate's only `unsafe` code: the `pre_exec` hook that confines a child between `fork` and
//! `exec`, `kill(2)`, and `pidfd_open(2)` with the pidfd's registration for readiness.
//!
//! Everything the hook needs (paths as C strings, rlimit values, the Landlock ruleset fd) is
//! prepared before the fork; the hook itself only makes system calls, which are
//! async-signal-safe, and builds errors with `io::Error::last_os_error` (no allocation).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// One rlimit to set in the child (soft and hard values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rlimit {
    /// `RLIMIT_CPU`, seconds.
    Cpu { soft: u64, hard: u64 },
    /// `RLIMIT_AS`, bytes.
    AddressSpace(u64),
    /// `RLIMIT_NPROC`, tasks of the real user.
    Processes(u64),
    /// `RLIMIT_CORE`, bytes (0: no core dumps in the workspace).
    Core(u64),
}

/// What the child does to itself before `exec`, in this order: join cgroups, set rlimits, drop
/// capabilities, restrict itself with Landlock.
#[derive(Debug, Default)]
pub(crate) struct ChildSetup {
    /// `cgroup.procs` files the child writes `0` (itself) into.
    pub cgroup_procs: Vec<CString>,
    /// Rlimits to set.
    pub rlimits: Vec<Rlimit>,
    /// Drops every capability (bounding, ambient, effective, permitted, inheritable) when set:
    /// the highest capability number (`/proc/sys/kernel/cap_last_cap`).
    pub drop_capabilities: Option<u32>,
    /// A created Landlock ruleset to enforce (with `no_new_privs`).
    pub landlock: Option<OwnedFd>,
}

/// `struct __user_cap_header_struct` of capset(2).
#[repr(C)]
struct CapabilityHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct` of capset(2) (two of them for version 3).
#[repr(C)]
#[derive(Clone, Copy)]
struct CapabilityData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Returns the highest capability number of the kernel, for [`ChildSetup::drop_capabilities`].
pub(crate) fn last_capability() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(63)
}

impl ChildSetup {
    fn is_empty(&self) -> bool {
        self.cgroup_procs.is_empty()
            && self.rlimits.is_empty()
            && self.drop_capabilities.is_none()
            && self.landlock.is_none()
    }
}

/// Installs `setup` as a `pre_exec` hook of `command` (nothing when it is empty).
pub(crate) fn install(command: &mut tokio::process::Command, setup: ChildSetup) {
    if setup.is_empty() {
        return;
    }
    let hook = move || -> io::Result<()> {
        for path in &setup.cgroup_procs {
            join_cgroup(path)?;
        }
        for limit in &setup.rlimits {
            set_rlimit(*limit)?;
        }
        if let Some(last) = setup.drop_capabilities {
            drop_capabilities(last)?;
        }
        if let Some(ruleset) = &setup.landlock {
            restrict_self(ruleset)?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec. It only reads data prepared before
    // the fork (no allocation, no locks) and makes async-signal-safe system calls (open, write,
    // close, setrlimit, prctl, capset, landlock_restrict_self); errors come from errno without
    // allocating.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(hook);
    }
}

fn join_cgroup(procs_file: &CString) -> io::Result<()> {
    // SAFETY: `procs_file` is a valid NUL-terminated string; the fd is closed on every path.
    #[allow(unsafe_code)]
    unsafe {
        let fd = libc::open(procs_file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let error = io::Error::last_os_error();
        libc::close(fd);
        if written != 1 {
            return Err(error);
        }
    }
    Ok(())
}

fn set_rlimit(limit: Rlimit) -> io::Result<()> {
    let (soft, hard) = match limit {
        Rlimit::Cpu { soft, hard } => (soft, hard),
        Rlimit::AddressSpace(value) | Rlimit::Processes(value) | Rlimit::Core(value) => (value, value),
    };
    let value = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
    // SAFETY: setrlimit reads the struct we pass by reference; the resource constants have the
    // platform's type, which is why each call names its own.
    #[allow(unsafe_code)]
    let result = unsafe {
        match limit {
            Rlimit::Cpu { .. } => libc::setrlimit(libc::RLIMIT_CPU, &value),
            Rlimit::AddressSpace(_) => libc::setrlimit(libc::RLIMIT_AS, &value),
            Rlimit::Processes(_) => libc::setrlimit(libc::RLIMIT_NPROC, &value),
            Rlimit::Core(_) => libc::setrlimit(libc::RLIMIT_CORE, &value),
        }
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn drop_capabilities(last_capability: u32) -> io::Result<()> {
    let header = CapabilityHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [CapabilityData { effective: 0, permitted: 0, inheritable: 0 }; 2];
    // SAFETY: prctl takes integers; capset reads the header and two data structs, laid out as
    // the kernel's version 3 structs and alive for the call.
    #[allow(unsafe_code)]
    unsafe {
        // The bounding set first (needs CAP_SETPCAP, still held): exec cannot give them back.
        for capability in 0..=last_capability {
            if libc::prctl(libc::PR_CAPBSET_DROP, capability as libc::c_ulong, 0 as libc::c_ulong, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let clear_all = libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong;
        if libc::prctl(libc::PR_CAP_AMBIENT, clear_all, 0 as libc::c_ulong, 0 as libc::c_ulong, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_capset, &header as *const CapabilityHeader, data.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn restrict_self(ruleset: &OwnedFd) -> io::Result<()> {
    // SAFETY: plain system calls on integers; `ruleset` is an open Landlock ruleset fd. Raw
    // syscalls rather than the crate's `restrict_self`, whose error paths may allocate.
    #[allow(unsafe_code)]
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0 as libc::c_uint) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sends `SIGKILL` to every process of group `process_group`; returns whether one was signalled.
///
/// Refuses groups 0 and 1 (`kill(0)` is the caller's own group, `kill(-1)` every process).
pub(crate) fn kill_process_group(process_group: u32) -> bool {
    match i32::try_from(process_group) {
        Ok(group) if group > 1 => {
            // SAFETY: kill takes integers; the guard above keeps it to one real group.
            #[allow(unsafe_code)]
            let result = unsafe { libc::kill(-group, libc::SIGKILL) };
            result == 0
        }
        _ => false,
    }
}

/// Sends `SIGKILL` to process `pid` (refuses 0 and 1).
pub(crate) fn kill_process(pid: u32) {
    if let Ok(pid) = i32::try_from(pid)
        && pid > 1
    {
        // SAFETY: kill takes integers; a positive pid names one process.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Returns a pidfd of process `pid` (readable once it has exited), or `None` when no such
/// process exists (any more).
///
/// Errors when the kernel has no `pidfd_open` (Linux < 5.3) or refuses it.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<Option<OwnedFd>> {
    use std::os::fd::FromRawFd;
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    #[allow(unsafe_code)]
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, libc::PIDFD_NONBLOCK) };
    if fd < 0 {
        let error = io::Error::last_os_error();
        return if error.raw_os_error() == Some(libc::ESRCH) { Ok(None) } else { Err(error) };
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: the descriptor was just returned by the kernel and is owned by no one else.
    #[allow(unsafe_code)]
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Registers `pidfd` with the tokio reactor, for readiness (the process's exit).
///
/// Errors when the descriptor cannot be registered.
pub(crate) fn watch(pidfd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: the `OwnedFd` is a valid open descriptor, owned by the `AsyncFd` until it is
    // dropped, and its `as_raw_fd` always returns that same descriptor.
    #[allow(unsafe_code)]
    let registered = unsafe { tokio::io::unix::AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) };
    registered.map_err(std::io::Error::from)
}
