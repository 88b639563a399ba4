//! A private `nats-server -js` per test: random port, temporary store, killed on drop;
//! optionally requiring TLS ([`NatsServer::start_tls`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::eventually::{Observed, eventually_blocking};

/// How often to look for the ports file of a starting server.
const PORT_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A running JetStream-enabled NATS server owned by the test.
pub struct NatsServer {
    child: Option<Child>,
    store_dir: tempfile::TempDir,
    port: u16,
    /// Arguments beyond the defaults (TLS), kept for [`NatsServer::restart`].
    extra_args: Vec<OsString>,
}

impl NatsServer {
    /// Starts a server on a random loopback port (`nats-server` from PATH or `/usr/sbin`).
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(Vec::new())
    }

    /// Starts a server that requires TLS of every client, presenting the certificate chain
    /// `cert` (PEM; it must name `127.0.0.1` to be verified at [`NatsServer::tls_url`]) with
    /// the key `key`.
    pub fn start_tls(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let args = vec!["--tls".into(), "--tlscert".into(), cert.into(), "--tlskey".into(), key.into()];
        Self::start_with(args)
    }

    fn start_with(extra_args: Vec<OsString>) -> anyhow::Result<Self> {
        let store_dir = tempfile::tempdir().context("creating the NATS store dir")?;
        let (child, port) = spawn_server(store_dir.path(), None, &extra_args)?;
        Ok(Self { child: Some(child), store_dir, port, extra_args })
    }

    /// Returns the client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Returns the client URL that requires TLS, `tls://127.0.0.1:<port>`.
    pub fn tls_url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.port)
    }

    /// Kills the server abruptly (SIGKILL); its JetStream store stays on disk.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same store.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let (child, _) = spawn_server(self.store_dir.path(), Some(self.port), &self.extra_args)?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join("nats-server")).find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"))
}

fn spawn_server(store_dir: &Path, port: Option<u16>, extra_args: &[OsString]) -> anyhow::Result<(Child, u16)> {
    let ports_dir = store_dir.join("ports");
    std::fs::create_dir_all(&ports_dir)?;
    for entry in std::fs::read_dir(&ports_dir)? {
        std::fs::remove_file(entry?.path())?;
    }
    let port_arg = port.map_or("-1".to_owned(), |port| port.to_string());
    let binary = binary();
    let child = Command::new(&binary)
        .args(["-js", "-a", "127.0.0.1", "-p", &port_arg, "-sd"])
        .arg(store_dir.join("js"))
        .arg("--ports_file_dir")
        .arg(&ports_dir)
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} (install the Debian package nats-server)", binary.display()))?;
    let port =
        eventually_blocking("nats-server to report its port", Duration::from_secs(10), PORT_POLL_INTERVAL, || {
            match read_port(&ports_dir) {
                Ok(port) => Observed::from_option(port, || "no port in the ports dir yet".to_owned()),
                Err(error) => Observed::Failed(error),
            }
        })?;
    Ok((child, port))
}

/// Reads `nats-server_<pid>.ports` (`{"nats":["nats://127.0.0.1:PORT"],...}`) if written yet.
fn read_port(ports_dir: &Path) -> anyhow::Result<Option<u16>> {
    for entry in std::fs::read_dir(ports_dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        let Ok(ports) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let url = ports["nats"][0].as_str().unwrap_or_default();
        if let Some(port) = url.rsplit(':').next().and_then(|port| port.parse().ok()) {
            return Ok(Some(port));
        }
    }
    Ok(None)
}
