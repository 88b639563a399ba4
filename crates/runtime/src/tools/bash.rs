//! The `bash` tool: runs a shell command in the run's workspace, confined by the node's sandbox.
//!
//! The command runs through [`ToolContext::sandbox`] with the manifest's limits and network
//! (bubblewrap or Landlock on a node; [`agentry_sandbox::Unconfined`] in tests and when the node
//! chose `sandbox = "none"`). The whole process tree is killed on timeout, on cancellation and
//! when bash exits; limits it ran into are reported in the output.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::parse_arguments;
use super::{FsScope, InterruptPolicy, Tool, ToolContext, ToolError, ToolManifest};
use crate::model::ToolSpec;
use agentry_core::limits::truncate_with_marker;
use agentry_sandbox::{Confinement, Exit, RunOutput, run_captured};

/// Environment variable carrying [`ToolContext::idempotency_key`] to the command.
const IDEMPOTENCY_KEY_ENV: &str = "AGENTRY_IDEMPOTENCY_KEY";

/// `bash {command, timeout_secs?}`: runs `bash -c command` in the workspace, confined by
/// [`ToolContext::sandbox`], and returns stdout, then stderr, the exit code or killing signal
/// when there are any. A non-zero exit is output, not an error; a command stopped by a resource
/// limit (memory, processes, CPU time) is an error naming the limit, with its output.
///
/// Errors with [`ToolError::Timeout`] after `min(timeout_secs, manifest wall time,
/// context.timeout)`, having killed the whole process tree ([`ToolError::Failed`] naming the
/// limits when some were also hit), and [`ToolError::Failed`] when bash cannot be confined or
/// started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bash;

#[derive(Deserialize)]
struct BashArguments {
    command: String,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

#[async_trait]
impl Tool for Bash {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "bash".to_owned(),
            description: "Runs a bash command in the workspace directory and returns its stdout, \
                          stderr and exit code. Stdin is empty; output is truncated to 16 KiB."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "Command line, run with `bash -c`."},
                    "timeout_secs": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Time limit in seconds (capped by the run's tool timeout).",
                    },
                },
                "required": ["command"],
            }),
        }
    }

    /// A command may have side effects that running it twice repeats (it gets the idempotency
    /// key as `AGENTRY_IDEMPOTENCY_KEY` but few commands use it), so an interrupted call is not
    /// re-run: the model is told and checks first.
    fn manifest(&self) -> ToolManifest {
        ToolManifest {
            idempotent: false,
            filesystem: FsScope::WorkspaceWrite,
            cpu_seconds: Some(60),
            memory_bytes: Some(1 << 30),
            max_processes: Some(256),
            wall_time: Duration::from_secs(120),
            on_interrupt: InterruptPolicy::Ask,
            sandboxed: true,
            ..ToolManifest::default()
        }
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let arguments: BashArguments = parse_arguments("bash", arguments)?;
        let mut limits = context.manifest.limits(context.timeout);
        match arguments.timeout_secs {
            Some(0) => {
                return Err(ToolError::InvalidArguments("bash: timeout_secs must be at least 1".to_owned()));
            }
            Some(seconds) => limits.wall_time = limits.wall_time.min(Duration::from_secs(seconds)),
            None => {}
        }
        let confinement = Confinement::new(&context.workspace, context.manifest.network.clone(), limits)
            .with_env(IDEMPOTENCY_KEY_ENV, &context.idempotency_key);
        let bash_args = ["-c".to_owned(), arguments.command];
        let confined = context
            .sandbox
            .command("bash", &bash_args, &confinement)
            .map_err(|error| ToolError::Failed(format!("could not confine bash: {error}")))?;
        let output = run_captured(confined).await.map_err(|error| ToolError::Failed(error.to_string()))?;
        if let Exit::TimedOut(after) = output.exit {
            return Err(match limit_notes(&output) {
                notes if notes.is_empty() => ToolError::Timeout(after),
                notes => ToolError::Failed(format!("timed out after {after:?}; {notes}")),
            });
        }
        let text = truncate_with_marker(&format_output(&output), context.manifest.max_output_bytes);
        if output.limits_hit.is_empty() {
            Ok(text)
        } else {
            // Killed by a limit (memory, processes, CPU): an error result, with what it printed.
            Err(ToolError::Failed(format!("resource limit reached: {}\n{text}", limit_notes(&output))))
        }
    }
}

/// Returns the limits `output` ran into, `; `-separated.
fn limit_notes(output: &RunOutput) -> String {
    output.limits_hit.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn format_output(output: &RunOutput) -> String {
    let mut text = output.stdout.text();
    if output.stderr.total > 0 {
        text.push_str("\n[stderr]\n");
        text.push_str(&output.stderr.text());
    }
    match output.exit {
        Exit::Code(0) => {}
        Exit::Code(code) => text.push_str(&format!("\n[exit code {code}]")),
        Exit::Signal(signal) => text.push_str(&format!("\n[killed by signal {signal}]")),
        Exit::TimedOut(after) => text.push_str(&format!("\n[timed out after {after:?}]")),
    }
    for hit in &output.limits_hit {
        text.push_str(&format!("\n[limit: {hit}]"));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tempfile::TempDir;

    use super::*;
    use agentry_core::limits::MAX_TOOL_OUTPUT_BYTES;
    use agentry_sandbox::{NetworkAccess, Sandbox};

    fn context(workspace: &TempDir, timeout: Duration) -> ToolContext {
        let mut context = ToolContext::unconfined(workspace.path().to_path_buf(), Bash.manifest(), timeout);
        context.idempotency_key = "run-1/2/call-3".into();
        context
    }

    /// Returns a context confined by the node's default sandbox, or `None` (saying so loudly)
    /// where no sandbox works.
    fn sandboxed_context(workspace: &TempDir, timeout: Duration) -> Option<ToolContext> {
        match agentry_sandbox::detect(None) {
            Ok(sandbox) => Some(ToolContext { sandbox, ..context(workspace, timeout) }),
            Err(error) => {
                eprintln!("SKIPPED: no sandbox works on this machine: {error}");
                None
            }
        }
    }

    async fn run(command: &str) -> Result<String, ToolError> {
        let workspace = TempDir::new().unwrap();
        Bash.call(&context(&workspace, Duration::from_secs(10)), json!({"command": command})).await
    }

    #[tokio::test]
    async fn stdout_stderr_and_exit_code_are_combined() {
        assert_eq!(run("echo out").await, Ok("out\n".to_owned()));
        assert_eq!(run("echo out; echo err >&2; exit 3").await, Ok("out\n\n[stderr]\nerr\n\n[exit code 3]".to_owned()));
        assert_eq!(run("false").await, Ok("\n[exit code 1]".to_owned()));
    }

    #[tokio::test]
    async fn runs_in_the_workspace_with_the_idempotency_key() {
        let workspace = TempDir::new().unwrap();
        let arguments = json!({"command": "pwd -P; echo \"$AGENTRY_IDEMPOTENCY_KEY\"; cat"});
        let output = Bash.call(&context(&workspace, Duration::from_secs(10)), arguments).await.unwrap();
        let expected_dir = workspace.path().canonicalize().unwrap();
        assert_eq!(output, format!("{}\nrun-1/2/call-3\n", expected_dir.display()));
    }

    #[tokio::test]
    async fn long_output_is_truncated() {
        let output = run("head -c 100000 /dev/zero | tr '\\0' a").await.unwrap();
        assert!(output.len() < MAX_TOOL_OUTPUT_BYTES + 200, "{}", output.len());
        assert!(output.contains("[truncated: "), "{}", &output[output.len() - 100..]);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_process_group() {
        let workspace = TempDir::new().unwrap();
        let started = tokio::time::Instant::now();
        let arguments = json!({"command": "sleep 30 & echo $! > sleep.pid; wait", "timeout_secs": 1});
        let error = Bash.call(&context(&workspace, Duration::from_secs(60)), arguments).await.unwrap_err();
        assert_eq!(error, ToolError::Timeout(Duration::from_secs(1)));
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert_dies(&std::fs::read_to_string(workspace.path().join("sleep.pid")).unwrap()).await;
    }

    /// Awaits the exit of process `pid` (a zombie waiting for its new parent counts), 5 s at most.
    async fn assert_dies(pid: &str) {
        let pid: u32 = pid.trim().parse().expect("a pid");
        let exited = tokio::time::timeout(Duration::from_secs(5), agentry_sandbox::process_exit(pid)).await;
        assert!(matches!(exited, Ok(Ok(()))), "process {pid} survived: {exited:?}");
    }

    #[tokio::test]
    async fn cancelled_call_kills_the_whole_process_group() {
        let workspace = TempDir::new().unwrap();
        let arguments = json!({"command": "sleep 30 & echo $! > sleep.pid; wait"});
        let context = context(&workspace, Duration::from_secs(60));
        let call = Bash.call(&context, arguments);
        assert!(tokio::time::timeout(Duration::from_millis(500), call).await.is_err());
        assert_dies(&std::fs::read_to_string(workspace.path().join("sleep.pid")).unwrap()).await;
    }

    #[tokio::test]
    async fn context_timeout_caps_the_requested_timeout() {
        let workspace = TempDir::new().unwrap();
        let arguments = json!({"command": "sleep 30", "timeout_secs": 100});
        let error = Bash.call(&context(&workspace, Duration::from_millis(300)), arguments).await.unwrap_err();
        assert_eq!(error, ToolError::Timeout(Duration::from_millis(300)));
    }

    #[tokio::test]
    async fn bad_arguments_are_rejected() {
        let workspace = TempDir::new().unwrap();
        let context = context(&workspace, Duration::from_secs(5));
        let missing = Bash.call(&context, json!({"cmd": "ls"})).await.unwrap_err();
        assert_eq!(missing, ToolError::InvalidArguments("bash: missing field `command`".to_owned()));
        let zero = Bash.call(&context, json!({"command": "ls", "timeout_secs": 0})).await.unwrap_err();
        assert!(matches!(zero, ToolError::InvalidArguments(_)));
    }

    #[tokio::test]
    async fn the_node_environment_does_not_leak_into_the_command() {
        let output = run("echo \"[$CARGO_MANIFEST_DIR][$HOME]\"").await.unwrap();
        assert!(output.starts_with("[]["), "{output}");
        assert!(!output.starts_with("[][]"), "HOME is the workspace: {output}");
    }

    #[tokio::test]
    async fn the_default_sandbox_keeps_writes_in_the_workspace() {
        let workspace = TempDir::new().unwrap();
        let outside = TempDir::new().unwrap();
        let Some(context) = sandboxed_context(&workspace, Duration::from_secs(30)) else { return };
        let target = outside.path().join("escaped");
        let command = format!("touch '{}'; touch inside && echo inside-ok", target.display());
        let output = Bash.call(&context, json!({ "command": command })).await.unwrap();
        assert!(output.contains("inside-ok") && output.contains("[stderr]"), "{output}");
        assert!(!target.exists(), "a file outside the workspace was created");
        assert!(workspace.path().join("inside").exists());
    }

    #[tokio::test]
    async fn the_manifest_network_decides_whether_a_connect_arrives() {
        let workspace = TempDir::new().unwrap();
        let Some(mut context) = sandboxed_context(&workspace, Duration::from_secs(30)) else { return };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let command = json!({ "command": format!("echo hello > /dev/tcp/127.0.0.1/{port} && echo sent") });

        let denied = Bash.call(&context, command.clone()).await.unwrap();
        assert!(!denied.contains("sent"), "{denied}");
        // A connect that succeeded would be queued before bash exited.
        let nothing = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(nothing.is_err(), "a connection arrived with the network denied ({})", context.sandbox.kind());

        context.manifest.network = NetworkAccess::Any;
        let allowed = Bash.call(&context, command).await.unwrap();
        assert!(allowed.contains("sent"), "{allowed}");
        let accepted = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await;
        assert!(accepted.is_ok_and(|accepted| accepted.is_ok()), "no connection with the network allowed");
    }

    /// Returns the default sandbox when it enforces the process limit with a cgroup (a fork
    /// bomb must not run against rlimits that do not bind root), loudly skipping otherwise.
    fn bomb_proof(context: &ToolContext) -> bool {
        let limits = context.manifest.limits(context.timeout);
        let confinement = Confinement::new(&context.workspace, NetworkAccess::None, limits);
        let description = context.sandbox.describe(&confinement);
        let mechanism = description["limits"]["max_processes"]["mechanism"].as_str().unwrap_or("").to_owned();
        if !mechanism.contains("pids.max") {
            eprintln!("SKIPPED: no pids cgroup here (process limit by {mechanism:?}); not running a fork bomb");
        }
        mechanism.contains("pids.max")
    }

    #[tokio::test]
    async fn a_fork_bomb_is_stopped_and_reported() {
        let workspace = TempDir::new().unwrap();
        let Some(mut context) = sandboxed_context(&workspace, Duration::from_secs(60)) else { return };
        context.manifest.max_processes = Some(48);
        if !bomb_proof(&context) {
            return;
        }
        let arguments = json!({"command": "bomb() { bomb | bomb; }; bomb", "timeout_secs": 4});
        let error = Bash.call(&context, arguments).await.unwrap_err();
        let ToolError::Failed(message) = error else { panic!("expected a failure naming the limit: {error:?}") };
        assert!(message.contains("timed out after 4s; process limit of 48 reached"), "{message}");
        // The test process is still healthy: it can start processes.
        assert_eq!(run("echo alive").await, Ok("alive\n".to_owned()));
    }

    #[tokio::test]
    async fn a_huge_allocation_is_stopped_and_reported() {
        let workspace = TempDir::new().unwrap();
        let Some(mut context) = sandboxed_context(&workspace, Duration::from_secs(60)) else { return };
        context.manifest.memory_bytes = Some(256 << 20);
        let arguments = json!({"command": "perl -e '$x = \"a\" x (4 * 1024**3); print length($x)'"});
        // A memory cgroup kills it (an error naming the limit); `RLIMIT_AS` makes perl fail.
        let output = match Bash.call(&context, arguments).await {
            Ok(output) => output,
            Err(ToolError::Failed(message)) => message,
            Err(other) => panic!("unexpected error: {other:?}"),
        };
        assert!(!output.contains("4294967296"), "the allocation succeeded: {output}");
        let reported = output.contains("resource limit reached: memory limit of 256 MiB reached")
            || output.contains("Out of memory");
        assert!(reported, "{output}");
    }

    #[tokio::test]
    async fn the_default_sandbox_kills_the_whole_tree_on_timeout_and_cancel() {
        let workspace = TempDir::new().unwrap();
        let Some(context) = sandboxed_context(&workspace, Duration::from_secs(60)) else { return };
        let sandbox: Arc<dyn Sandbox> = context.sandbox.clone();
        // Inside a pid namespace `$!` is not the host pid: find the sleep by a unique argument.
        let marker = format!("{}.{}", 1000 + std::process::id() % 1000, std::process::id());
        let command = format!("setsid sleep {marker} & sleep {marker}");
        let error = Bash.call(&context, json!({"command": command.clone(), "timeout_secs": 1})).await.unwrap_err();
        assert_eq!(error, ToolError::Timeout(Duration::from_secs(1)), "{}", sandbox.kind());
        assert_no_process_with(&marker).await;

        let ready_command = format!("setsid sleep {marker} & echo up > ready; sleep {marker}");
        // The FIFO exists before the command runs (else its `> ready` makes a plain file).
        let fifo = ready_fifo(workspace.path());
        let call = Bash.call(&context, json!({ "command": ready_command }));
        tokio::select! {
            result = call => panic!("the call ended: {result:?}"),
            () = ready(fifo) => {}
        }
        assert_no_process_with(&marker).await;
    }

    /// Returns the host pids of the `sleep MARKER` processes running now.
    fn processes_with(marker: &str) -> Vec<u32> {
        let wanted = format!("sleep\0{marker}\0");
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .flatten()
            .filter(|entry| std::fs::read(entry.path().join("cmdline")).is_ok_and(|line| line == wanted.as_bytes()))
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect()
    }

    /// Makes the FIFO `ready` in `workspace` and opens it for reading.
    fn ready_fifo(workspace: &std::path::Path) -> tokio::net::unix::pipe::Receiver {
        let path = workspace.join("ready");
        assert!(std::process::Command::new("mkfifo").arg(&path).status().unwrap().success());
        // Read-write: no EOF before the command opens it for writing.
        tokio::net::unix::pipe::OpenOptions::new().read_write(true).open_receiver(&path).unwrap()
    }

    /// Awaits the line the command writes to the FIFO of [`ready_fifo`] once it started its
    /// processes, 20 s at most.
    async fn ready(fifo: tokio::net::unix::pipe::Receiver) {
        use tokio::io::AsyncBufReadExt;
        let (mut line, mut reader) = (String::new(), tokio::io::BufReader::new(fifo));
        let read = tokio::time::timeout(Duration::from_secs(20), reader.read_line(&mut line)).await;
        assert!(matches!(read, Ok(Ok(count)) if count > 0), "the command never started");
    }

    /// Awaits the exit of every `sleep MARKER` process, 5 s at most.
    async fn assert_no_process_with(marker: &str) {
        for pid in processes_with(marker) {
            assert_dies(&pid.to_string()).await;
        }
    }
}
