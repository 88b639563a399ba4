//! Helpers of the sandbox integration tests: the sandboxes that work here, limits, runs and
//! polling for processes by a unique argument.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentry_sandbox::{
    BwrapSandbox, Confinement, LandlockSandbox, NetworkAccess, ResourceLimits, RunOutput, Sandbox, SandboxKind,
    Unconfined, run_captured,
};

/// Returns the confining sandboxes that work on this machine (bwrap, Landlock), saying loudly
/// which are skipped.
pub fn confining_sandboxes() -> Vec<Arc<dyn Sandbox>> {
    let mut sandboxes: Vec<Arc<dyn Sandbox>> = Vec::new();
    match BwrapSandbox::probe() {
        Ok(bwrap) => sandboxes.push(Arc::new(bwrap)),
        Err(error) => eprintln!("SKIPPED bwrap: {error}"),
    }
    match LandlockSandbox::probe() {
        Ok(landlock) => sandboxes.push(Arc::new(landlock)),
        Err(error) => eprintln!("SKIPPED landlock: {error}"),
    }
    sandboxes
}

/// Returns the confining sandboxes and the unconfined one (limits only).
pub fn all_sandboxes() -> Vec<Arc<dyn Sandbox>> {
    let mut sandboxes = confining_sandboxes();
    sandboxes.push(Arc::new(Unconfined));
    sandboxes
}

/// Returns generous limits with `wall_time`.
pub fn limits(wall_time: Duration) -> ResourceLimits {
    ResourceLimits {
        cpu_seconds: Some(120),
        memory_bytes: Some(1 << 30),
        max_processes: Some(128),
        wall_time,
        max_output_bytes: 64 * 1024,
    }
}

/// Returns a confinement to `workspace` with `network` and [`limits`] of `wall_time`.
pub fn confinement(workspace: &Path, network: NetworkAccess, wall_time: Duration) -> Confinement {
    Confinement::new(workspace, network, limits(wall_time))
}

/// Runs `script` with `bash -c` in `sandbox` under `confinement`.
pub async fn run(sandbox: &dyn Sandbox, script: &str, confinement: &Confinement) -> RunOutput {
    let args = ["-c".to_owned(), script.to_owned()];
    let confined = sandbox.command("bash", &args, confinement).expect("the command is confined");
    run_captured(confined).await.expect("the command runs")
}

/// Returns `stdout` then `stderr` of `output` as text, for assertion messages.
pub fn text(output: &RunOutput) -> String {
    format!("{}\n[stderr]\n{}\n{:?} {:?}", output.stdout.text(), output.stderr.text(), output.exit, output.limits_hit)
}

/// Returns whether `sandbox` enforces the process limit with a pids cgroup: fork bombs run only
/// then (an rlimit does not bind root).
pub fn has_pids_cgroup(sandbox: &dyn Sandbox, confinement: &Confinement) -> bool {
    let description = sandbox.describe(confinement);
    let mechanism = description["limits"]["max_processes"]["mechanism"].as_str().unwrap_or("").to_owned();
    let found = mechanism.contains("pids.max");
    if !found {
        eprintln!("SKIPPED {}: process limit by {mechanism:?}, no fork bomb", sandbox.kind());
    }
    found
}

/// Returns a `sleep` duration unique to this test process and `salt`, to find its processes.
pub fn sleep_marker(salt: u32) -> String {
    format!("{}.{}{}", 5000 + salt, std::process::id(), salt)
}

/// Returns how many `sleep MARKER` processes run on the host (zombies have no command line).
pub fn sleeps(marker: &str) -> usize {
    let wanted = format!("sleep\0{marker}\0");
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline == wanted.as_bytes())
        .count()
}

/// Polls until `count` `sleep MARKER` processes run (20 s at most).
pub async fn wait_for_sleeps(marker: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while sleeps(marker) < count {
        assert!(tokio::time::Instant::now() < deadline, "the sleeps never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until no `sleep MARKER` process is left (5 s at most).
pub async fn assert_sleeps_die(marker: &str, kind: SandboxKind) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sleeps(marker) > 0 {
        assert!(tokio::time::Instant::now() < deadline, "{kind}: a process of the tree survived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
