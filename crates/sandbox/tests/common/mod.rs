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

/// Returns the host pids of the `sleep MARKER` processes running now (zombies have no command
/// line).
pub fn sleeps(marker: &str) -> Vec<u32> {
    let wanted = format!("sleep\0{marker}\0");
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter(|entry| std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| cmdline == wanted.as_bytes()))
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

/// Makes a FIFO `name` in `dir` and returns its read end: a script writes a line to it once it
/// is ready, and the test awaits that line instead of polling.
pub fn ready_fifo(dir: &std::path::Path, name: &str) -> tokio::net::unix::pipe::Receiver {
    let path = dir.join(name);
    let made = std::process::Command::new("mkfifo").arg(&path).status().expect("running mkfifo");
    assert!(made.success(), "mkfifo {}", path.display());
    // Read-write: no EOF before the script's writer opens it.
    tokio::net::unix::pipe::OpenOptions::new().read_write(true).open_receiver(&path).expect("opening the fifo")
}

/// Awaits the line the script writes to `fifo` (20 s at most).
pub async fn wait_until_ready(fifo: tokio::net::unix::pipe::Receiver) {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(fifo);
    let read = tokio::time::timeout(Duration::from_secs(20), reader.read_line(&mut line)).await;
    assert!(matches!(read, Ok(Ok(count)) if count > 0), "the script never said it was ready: {read:?}");
}

/// Awaits the exit of every `sleep MARKER` process (5 s at most, on pidfds).
pub async fn assert_sleeps_die(marker: &str, kind: SandboxKind) {
    let exits = exits_of(sleeps(marker));
    let waited = tokio::time::timeout(Duration::from_secs(5), exits).await;
    assert!(matches!(waited, Ok(Ok(()))), "{kind}: a process of the tree survived: {waited:?}");
}

/// Awaits the exit of each of `pids`.
async fn exits_of(pids: Vec<u32>) -> std::io::Result<()> {
    for pid in pids {
        agentry_sandbox::process_exit(pid).await?;
    }
    Ok(())
}
