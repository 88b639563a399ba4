//! The `bash` tool: runs a shell command in the run's workspace.
//!
//! Not sandboxed yet (a later issue adds isolation): the command runs with the node's user and
//! environment. It gets its own process group so a timeout or a cancelled call kills everything
//! it started, not just `bash`.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::parse_arguments;
use super::{InterruptPolicy, Tool, ToolContext, ToolError};
use crate::model::ToolSpec;
use agentry_core::limits::{MAX_TOOL_OUTPUT_BYTES, truncate_with_marker};

/// Environment variable carrying [`ToolContext::idempotency_key`] to the command.
const IDEMPOTENCY_KEY_ENV: &str = "AGENTRY_IDEMPOTENCY_KEY";

/// `bash {command, timeout_secs?}`: runs `bash -c command` in the workspace and returns stdout,
/// then stderr and the exit code when there are any. A non-zero exit is output, not an error.
///
/// Errors with [`ToolError::Timeout`] after `min(timeout_secs, context.timeout)`, having killed
/// the command's process group, and [`ToolError::Failed`] when bash cannot be started.
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
    fn on_interrupt(&self) -> InterruptPolicy {
        InterruptPolicy::Ask
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let arguments: BashArguments = parse_arguments("bash", arguments)?;
        let limit = match arguments.timeout_secs {
            Some(0) => {
                return Err(ToolError::InvalidArguments("bash: timeout_secs must be at least 1".to_owned()));
            }
            Some(seconds) => Duration::from_secs(seconds).min(context.timeout),
            None => context.timeout,
        };
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(&arguments.command)
            .current_dir(&context.workspace)
            .env(IDEMPOTENCY_KEY_ENV, &context.idempotency_key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| ToolError::Failed(format!("could not start bash: {error}")))?;
        // With process_group(0) the group id is the child's pid.
        let mut group = GroupKiller { process_group: child.id() };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let run = async { tokio::join!(read_capped(stdout), read_capped(stderr), child.wait()) };
        let outcome = tokio::time::timeout(limit, run).await;
        let Ok((stdout, stderr, status)) = outcome else {
            group.kill().await;
            // In case the group kill failed: at least bash itself must go.
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(ToolError::Timeout(limit));
        };
        group.process_group = None;
        let status = status.map_err(|error| ToolError::Failed(format!("waiting for bash failed: {error}")))?;
        let read_error = |error: io::Error| ToolError::Failed(format!("reading bash output failed: {error}"));
        let output = format_output(&stdout.map_err(read_error)?, &stderr.map_err(read_error)?, status);
        Ok(truncate_with_marker(&output, MAX_TOOL_OUTPUT_BYTES))
    }
}

/// Kills a process group with SIGKILL, on request or when dropped (the call was cancelled).
struct GroupKiller {
    process_group: Option<u32>,
}

impl GroupKiller {
    fn command(process_group: u32) -> Command {
        // bash's builtin kill: bash is present whenever this tool works, procps may not be.
        let mut command = Command::new("bash");
        command
            .args(["-c", "kill -KILL -- \"-$1\" 2>/dev/null", "agentry-kill"])
            .arg(process_group.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    async fn kill(&mut self) {
        if let Some(process_group) = self.process_group.take()
            && let Err(error) = Self::command(process_group).status().await
        {
            tracing::warn!(process_group, error = %error, "killing bash tool process group failed");
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        // Fire and forget: tokio reaps the dropped child in the background.
        let runtime = tokio::runtime::Handle::try_current();
        if let (Some(process_group), Ok(runtime)) = (self.process_group, runtime) {
            let _guard = runtime.enter();
            let _ = Self::command(process_group).spawn();
        }
    }
}

/// Output of one stream: at most [`MAX_TOOL_OUTPUT_BYTES`] kept, plus the total seen.
#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    total: usize,
}

impl Captured {
    fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.kept);
        match self.total - self.kept.len() {
            0 => text.into_owned(),
            dropped => format!("{text}\n[truncated: {dropped} more bytes]"),
        }
    }
}

/// Reads `reader` to the end, keeping the first [`MAX_TOOL_OUTPUT_BYTES`] so a chatty command
/// cannot exhaust memory.
async fn read_capped(reader: Option<impl AsyncRead + Unpin>) -> io::Result<Captured> {
    let mut captured = Captured::default();
    let Some(mut reader) = reader else {
        return Ok(captured);
    };
    let mut buffer = [0u8; 8192];
    loop {
        let read = reader.read(&mut buffer).await?;
        if read == 0 {
            return Ok(captured);
        }
        let room = MAX_TOOL_OUTPUT_BYTES - captured.kept.len();
        captured.kept.extend_from_slice(&buffer[..read.min(room)]);
        captured.total += read;
    }
}

fn format_output(stdout: &Captured, stderr: &Captured, status: ExitStatus) -> String {
    let mut output = stdout.text();
    if stderr.total > 0 {
        output.push_str("\n[stderr]\n");
        output.push_str(&stderr.text());
    }
    match (status.code(), status.signal()) {
        (Some(0), _) => {}
        (Some(code), _) => output.push_str(&format!("\n[exit code {code}]")),
        (None, Some(signal)) => output.push_str(&format!("\n[killed by signal {signal}]")),
        (None, None) => output.push_str("\n[exit status unknown]"),
    }
    output
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;

    use super::*;

    fn context(workspace: &TempDir, timeout: Duration) -> ToolContext {
        ToolContext { workspace: workspace.path().to_path_buf(), idempotency_key: "run-1/2/call-3".into(), timeout }
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
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        assert_dies(&std::fs::read_to_string(workspace.path().join("sleep.pid")).unwrap()).await;
    }

    /// Waits up to 5 s for process `pid` to be gone or a zombie (waiting for its new parent).
    async fn assert_dies(pid: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
            let alive = stat.is_ok_and(|stat| !stat.rsplit(") ").next().unwrap_or("").starts_with('Z'));
            if !alive {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "process {} survived", pid.trim());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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
}
