//! [`run_captured`]: runs a confined command to the end with capped output and a wall-clock
//! limit, killing the whole tree on timeout, on cancellation and when the main process exits.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::{Confined, LimitHit, SandboxError};

/// How long output is still read after the tree was killed (its last writers are dying).
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long a killed main process may take to be reaped.
const REAP_GRACE: Duration = Duration::from_secs(5);
/// How long cleanup waits for killed processes to leave the cgroup leaf.
const CLEANUP_GRACE: Duration = Duration::from_secs(5);

/// One output stream: the first `max_output_bytes` bytes, and how many there were in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The bytes kept.
    pub kept: Vec<u8>,
    /// Bytes seen, kept or not.
    pub total: u64,
}

impl Captured {
    /// Returns the number of bytes dropped.
    pub fn dropped(&self) -> u64 {
        self.total - self.kept.len() as u64
    }

    /// Returns the kept bytes as text (invalid UTF-8 replaced), followed by
    /// `\n[truncated: N more bytes]` when bytes were dropped.
    pub fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.kept);
        match self.dropped() {
            0 => text.into_owned(),
            dropped => format!("{text}\n[truncated: {dropped} more bytes]"),
        }
    }
}

/// How the main process of a confined run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code (-1 when the status had neither code nor signal).
    Code(i32),
    /// A signal killed it (9 for `SIGKILL`, also sent by the OOM killer).
    Signal(i32),
    /// It still ran after this wall time: the tree was killed.
    TimedOut(Duration),
}

impl Exit {
    fn from_status(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::Code(code),
            (None, Some(signal)) => Self::Signal(signal),
            (None, None) => Self::Code(-1),
        }
    }
}

/// What a confined run produced.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// Standard output.
    pub stdout: Captured,
    /// Standard error.
    pub stderr: Captured,
    /// How the main process ended.
    pub exit: Exit,
    /// Limits the tree ran into (memory, processes, CPU time).
    pub limits_hit: Vec<LimitHit>,
    /// What confined it, as in [`Confined::description`].
    pub description: Value,
}

/// Runs `confined` with stdin `/dev/null`, keeping the first `max_output_bytes` of stdout and
/// of stderr, until its main process exits or its wall time passes. Then kills whatever is left
/// of the tree (background processes too), reads what remains in the pipes and removes the
/// cgroup leaf. Dropping the future kills the tree.
///
/// Errors when the process cannot be started or waited for; a timeout, a signal or a limit is
/// an [`Exit`] and [`LimitHit`]s, not an error.
pub async fn run_captured(mut confined: Confined) -> Result<RunOutput, SandboxError> {
    let limits = confined.guard.limits().clone();
    confined.command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut running = confined.spawn()?;
    let stdout_pipe = running.child.stdout.take();
    let stderr_pipe = running.child.stderr.take();
    let (mut stdout, mut stderr) = (Captured::default(), Captured::default());
    let cap = limits.max_output_bytes;
    let mut reads = Box::pin(async {
        tokio::join!(read_capped(stdout_pipe, &mut stdout, cap), read_capped(stderr_pipe, &mut stderr, cap));
    });
    let deadline = tokio::time::sleep(limits.wall_time);
    tokio::pin!(deadline);
    let mut reads_done = false;
    let waited = loop {
        tokio::select! {
            status = running.child.wait() => break Some(status),
            () = &mut reads, if !reads_done => reads_done = true,
            () = &mut deadline => break None,
        }
    };
    // Whatever the main process left behind goes too: background jobs, escaped sessions.
    running.kill_tree();
    let exit = match waited {
        Some(status) => {
            let status = status.map_err(|error| SandboxError(format!("waiting for the process failed: {error}")))?;
            Some(status)
        }
        None => {
            // Reap the killed main process so its status does not linger.
            let _ = tokio::time::timeout(REAP_GRACE, running.child.wait()).await;
            None
        }
    };
    if !reads_done {
        // Escaped writers that could not be killed must not hold the call open.
        let _ = tokio::time::timeout(DRAIN_GRACE, &mut reads).await;
    }
    drop(reads);
    let limits_hit = running.limits_hit(exit);
    running.clean_up(CLEANUP_GRACE).await;
    Ok(RunOutput {
        stdout,
        stderr,
        exit: exit.map_or(Exit::TimedOut(limits.wall_time), Exit::from_status),
        limits_hit,
        description: running.description.clone(),
    })
}

/// Reads `reader` to the end into `captured`, keeping the first `cap` bytes so a chatty process
/// cannot exhaust memory. Stops at the first read error (the data so far stays).
async fn read_capped(reader: Option<impl AsyncRead + Unpin>, captured: &mut Captured, cap: usize) {
    let Some(mut reader) = reader else { return };
    let mut buffer = [0u8; 8192];
    while let Ok(read) = reader.read(&mut buffer).await
        && read > 0
    {
        let room = cap.saturating_sub(captured.kept.len());
        captured.kept.extend_from_slice(&buffer[..read.min(room)]);
        captured.total += read as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reading_keeps_the_first_bytes_and_counts_the_rest() {
        let mut captured = Captured::default();
        read_capped(Some(&b"hello world"[..]), &mut captured, 5).await;
        assert_eq!(captured, Captured { kept: b"hello".to_vec(), total: 11 });
        assert_eq!(captured.text(), "hello\n[truncated: 6 more bytes]");
        let mut whole = Captured::default();
        read_capped(Some(&b"hi"[..]), &mut whole, 5).await;
        assert_eq!(whole.text(), "hi");
    }
}
