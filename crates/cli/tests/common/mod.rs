//! Helpers of the integration tests: a real `agentry dev` process and client invocations.

#![allow(dead_code)] // Each test file uses a subset.

pub mod faults;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::anyhow;
use serde_json::Value;

use agentry_test_util::{Observed, eventually_blocking};

/// How long `agentry dev` may take to come up with its node ready.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
/// How long a graceful shutdown may take.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);
/// Pause between two looks of a wait.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A running `agentry dev`, killed when dropped (a failing test must not leak it).
pub struct DevProcess {
    child: Child,
    stderr_path: PathBuf,
    hub_url: String,
    port: u16,
}

impl DevProcess {
    /// Starts `agentry dev --nodes 1` on a free port with data in `data_dir`.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with_env(data_dir, &[])
    }

    /// Like [`DevProcess::start`], with extra environment variables (e.g. `OPENAI_BASE_URL`).
    pub fn start_with_env(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_on(free_port(), data_dir, env)
    }

    /// Like [`DevProcess::start_with_env`], on `port` (e.g. the port of a stopped one, to
    /// restart it).
    pub fn start_on(port: u16, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let stderr_path = data_dir.join("dev.stderr");
        // Appended: a restarted process keeps the log of the one before it.
        let stderr = File::options().create(true).append(true).open(&stderr_path).expect("opening the stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_agentry"))
            .args(["dev", "--nodes", "1", "--listen", &format!("127.0.0.1:{port}"), "--metrics-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("AGENTRY_HUB")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("starting agentry dev");
        Self { child, stderr_path, hub_url: format!("http://127.0.0.1:{port}"), port }
    }

    /// Returns the hub's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the hub's URL, `http://127.0.0.1:PORT`.
    pub fn hub_url(&self) -> &str {
        &self.hub_url
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Runs a client command against this hub.
    pub fn client(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_agentry"))
            .args(args)
            .args(["--hub", &self.hub_url])
            .env_remove("AGENTRY_HUB")
            .env_remove("RUST_LOG")
            .output()
            .expect("running agentry")
    }

    /// Waits until the hub lists one node in state `ready`.
    pub fn wait_until_ready(&mut self) {
        eventually_blocking("a ready node", STARTUP_DEADLINE, POLL_INTERVAL, || {
            if let Some(status) = self.child.try_wait().expect("polling agentry dev") {
                return Observed::Failed(anyhow!("agentry dev exited with {status}; stderr:\n{}", self.stderr()));
            }
            let output = self.client(&["nodes", "--output", "json"]);
            if !output.status.success() {
                return Observed::NotYet(format!(
                    "`agentry nodes` failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            let nodes: Value = serde_json::from_slice(&output.stdout).expect("nodes JSON");
            let nodes = nodes.as_array().expect("a JSON array");
            if nodes.len() == 1 && nodes[0]["state"] == "ready" {
                assert_eq!(nodes[0]["name"], "dev-node-1");
                Observed::Ready(())
            } else {
                Observed::NotYet(format!("nodes {nodes:?}; stderr:\n{}", self.stderr()))
            }
        })
        .unwrap_or_else(|error| panic!("{error:#}"));
    }

    /// Sends SIGTERM and asserts a clean exit within the deadline.
    pub fn terminate(&mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("running kill");
        assert!(status.success(), "kill -TERM failed");
        let exit = eventually_blocking("agentry dev to exit after SIGTERM", SHUTDOWN_DEADLINE, POLL_INTERVAL, || {
            match self.child.try_wait().expect("polling agentry dev") {
                Some(exit) => Observed::Ready(exit),
                None => Observed::NotYet(format!("still running; stderr:\n{}", self.stderr())),
            }
        })
        .unwrap_or_else(|error| panic!("{error:#}"));
        assert!(exit.success(), "agentry dev exited with {exit}; stderr:\n{}", self.stderr());
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Returns a loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("local address").port()
}

/// Returns the stderr of `output` as lines.
pub fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr).lines().map(str::to_owned).collect()
}
