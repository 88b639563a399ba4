//! [`TraceFollower`]: `agentry trace AGENT --follow --jsonl` as a background process, whose
//! output is read back, to check that a client following a trace across faults misses nothing.

use std::fs::File;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow};
use serde_json::Value;
use tokio::process::{Child, Command};

use super::ProcessCluster;
use super::client::parse_jsonl;
use crate::eventually::{Observed, eventually_every};

/// Pause between two reads of the output in [`TraceFollower::wait_for`].
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A running `agentry trace --follow --jsonl`; killed on drop.
pub struct TraceFollower {
    child: Option<Child>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl ProcessCluster {
    /// Starts following the trace of `agent_id` from its first event. The follower reconnects
    /// by itself when the hub goes away (for up to the CLI's reconnect window, 30 s); its output
    /// goes to `follow-<agent_id>.jsonl` in the logs directory.
    pub fn follow_trace(&self, agent_id: &str) -> anyhow::Result<TraceFollower> {
        let stdout_path = self.logs_dir().join(format!("follow-{agent_id}.jsonl"));
        let stderr_path = self.logs_dir().join(format!("follow-{agent_id}.stderr"));
        let child = Command::new(&self.config.binary)
            .args(["trace", agent_id, "--follow", "--jsonl", "--hub", &self.hub_url()])
            .env_remove("AGENTRY_HUB")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).context("creating the follower's output")?)
            .stderr(File::create(&stderr_path).context("creating the follower's stderr")?)
            .kill_on_drop(true)
            .spawn()
            .context("starting agentry trace --follow")?;
        Ok(TraceFollower { child: Some(child), stdout_path, stderr_path })
    }
}

impl TraceFollower {
    /// Returns the events printed so far (complete lines only).
    pub fn events(&self) -> anyhow::Result<Vec<Value>> {
        let text = std::fs::read(&self.stdout_path).context("reading the follower's output")?;
        // A line being written has no newline yet: leave it for the next read.
        let complete = text.iter().rposition(|byte| *byte == b'\n').map_or(0, |end| end + 1);
        parse_jsonl(&text[..complete])
    }

    /// Returns what the follower printed to stderr (warnings about reconnecting, errors).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits until the events printed satisfy `condition` and returns them.
    ///
    /// Errors when the follower exited or after `timeout`, quoting its stderr.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        condition: impl Fn(&[Value]) -> bool,
    ) -> anyhow::Result<Vec<Value>> {
        eventually_every(what, timeout, POLL_INTERVAL, || std::future::ready(self.look(what, &condition))).await
    }

    /// Reads the events printed so far: ready when they satisfy `condition`, failed when the
    /// follower exited.
    fn look(&mut self, what: &str, condition: impl Fn(&[Value]) -> bool) -> Observed<Vec<Value>> {
        let events = match self.events() {
            Ok(events) => events,
            Err(error) => return Observed::Failed(error),
        };
        if condition(&events) {
            return Observed::Ready(events);
        }
        let exited = self.child.as_mut().map(|child| child.try_wait()).transpose();
        match exited {
            Ok(Some(Some(status))) => {
                Observed::Failed(anyhow!("the follower exited with {status} before {what}; stderr: {}", self.stderr()))
            }
            Err(error) => Observed::Failed(error.into()),
            Ok(_) => Observed::NotYet(format!("{} events; stderr: {}", events.len(), self.stderr())),
        }
    }

    /// Stops the follower (SIGINT, as Ctrl-C, which it treats as a normal end) and returns every
    /// event it printed.
    pub async fn stop(mut self) -> anyhow::Result<Vec<Value>> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status().await;
            }
            if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
        self.events()
    }
}
