//! A private PostgreSQL server per test, for tests that crash or restart the database.
//!
//! [`PostgresServer::start`] runs `initdb` into a temporary directory (trust auth, user
//! `postgres`, `--no-sync`; about 2–3 s) and starts `postgres` on a free loopback port with its
//! Unix socket inside that directory. The server can then be crashed ([`PostgresServer::kill`]),
//! stopped ([`PostgresServer::stop`]) and started again ([`PostgresServer::restart`]) on the same
//! port and data directory. Dropping it stops it and removes the directory.
//!
//! PostgreSQL refuses to run as root: when the test runs as root, `initdb` and `postgres` run as
//! the `postgres` system user (the Debian package creates it) and the directory is given to it,
//! as `scripts/services.sh` does.
//!
//! All methods block (for up to the deadlines below); from async code call them inside
//! `tokio::task::spawn_blocking` or `tokio::task::block_in_place`.

use std::fs::OpenOptions;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use crate::eventually::{Observed, eventually_blocking};

/// How long a start may take until the server accepts connections (crash recovery included).
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a fast shutdown may take before the server is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(20);
/// How often to check whether a stopping server exited.
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How often to ask a starting server whether it accepts connections.
const READY_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long to wait before starting a server again whose previous start found the old shared
/// memory still in use.
const RESPAWN_INTERVAL: Duration = Duration::from_millis(200);

/// A PostgreSQL server owned by the test.
pub struct PostgresServer {
    child: Option<Child>,
    bin_dir: PathBuf,
    /// `postgres` user's `(uid, gid)` when running as root.
    run_as: Option<(u32, u32)>,
    port: u16,
    dir: tempfile::TempDir,
}

impl PostgresServer {
    /// Creates a cluster in a temporary directory and starts it on a free loopback port.
    ///
    /// Errors when the PostgreSQL binaries are missing (Debian package `postgresql`), when
    /// running as root without a `postgres` user, or when the server does not accept
    /// connections within 30 s (its log is quoted).
    pub fn start() -> anyhow::Result<Self> {
        let bin_dir = bin_dir().context("finding the PostgreSQL binaries (install the Debian package postgresql)")?;
        let run_as = if running_as_root() { Some(postgres_user()?) } else { None };
        let dir = tempfile::Builder::new().prefix("agentry-pg-").tempdir().context("creating the PostgreSQL dir")?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).context("giving the dir to postgres")?;
        }
        let mut initdb = Command::new(bin_dir.join("initdb"));
        initdb.arg("-D").arg(dir.path().join("data")).args(["-A", "trust", "-U", "postgres", "--no-sync"]);
        let output = as_user(&mut initdb, run_as).output().context("running initdb")?;
        if !output.status.success() {
            bail!("initdb failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
        }
        let mut server = Self { child: None, bin_dir, run_as, port: free_port()?, dir };
        server.restart()?;
        Ok(server)
    }

    /// Returns the TCP port (on 127.0.0.1); it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the URL of `database`: `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Returns the server's log file (stderr of `postgres`, appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// Creates `database` (a plain identifier) and returns its URL.
    ///
    /// Errors when the name is not `[a-z0-9_]+` or `CREATE DATABASE` fails (e.g. it exists).
    pub fn create_database(&self, database: &str) -> anyhow::Result<String> {
        let valid = !database.is_empty()
            && database.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
        if !valid {
            bail!("invalid database name {database:?}: use lowercase letters, digits and _");
        }
        let output = self.psql("postgres", &format!("CREATE DATABASE {database}"))?;
        if !output.status.success() {
            bail!("creating database {database}: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(self.url(database))
    }

    /// Returns whether the server process is running (it may still be starting up).
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Crashes the server: SIGKILL to the postmaster and all its backends (its process group).
    /// The data directory stays; [`PostgresServer::restart`] runs crash recovery.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(&child, "KILL");
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with a fast shutdown (SIGINT: sessions are cut, the cluster is
    /// checkpointed); kills it when that takes longer than 20 s.
    ///
    /// Errors only when `kill` cannot be run; the server is stopped in any case.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        if sent.is_ok() {
            // A server still running at the deadline is killed below.
            let _exited_in_time =
                eventually_blocking("postgres to stop", STOP_DEADLINE, EXIT_POLL_INTERVAL, || match child.try_wait() {
                    Ok(None) => Observed::NotYet("running".to_owned()),
                    Ok(Some(_)) | Err(_) => Observed::Ready(()),
                });
        }
        if matches!(child.try_wait(), Ok(None)) {
            signal_group(&child, "KILL");
            let _ = child.kill();
        }
        let _ = child.wait();
        sent.context("running kill -INT")?;
        Ok(())
    }

    /// Starts the server on the same port and data directory (stopping it first if it runs) and
    /// waits until it accepts connections, crash recovery included (up to 30 s).
    ///
    /// Errors when it exits or does not become ready in time; the error quotes its log.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        let started = Instant::now();
        let child = eventually_blocking("postgres to start", START_DEADLINE, RESPAWN_INTERVAL, || {
            let mut child = match self.spawn_postgres() {
                Ok(child) => child,
                Err(error) => return Observed::Failed(error),
            };
            match self.wait_until_ready(&mut child, START_DEADLINE.saturating_sub(started.elapsed())) {
                Ok(()) => Observed::Ready(child),
                Err(error) => {
                    end_child(&mut child);
                    // Backends of a killed server may still hold the old shared memory for a
                    // moment ("pre-existing shared memory block is still in use"): try again.
                    if self.log_tail().contains("still in use") {
                        Observed::NotYet(format!("{error:#}; the old shared memory is still in use"))
                    } else {
                        Observed::Failed(error)
                    }
                }
            }
        });
        match child {
            Ok(child) => {
                self.child = Some(child);
                Ok(())
            }
            Err(error) => Err(error.context(format!("PostgreSQL log:\n{}", self.log_tail()))),
        }
    }

    fn spawn_postgres(&self) -> anyhow::Result<Child> {
        let log = OpenOptions::new().create(true).append(true).open(self.log_path()).context("opening the log")?;
        let mut command = Command::new(self.bin_dir.join("postgres"));
        command
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=200"])
            // Its own process group, so `kill` reaches the backends too.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        as_user(&mut command, self.run_as).spawn().context("starting postgres")
    }

    /// Waits up to `timeout` until `child` accepts connections; errors at once when it exits.
    fn wait_until_ready(&self, child: &mut Child, timeout: Duration) -> anyhow::Result<()> {
        eventually_blocking("postgres to accept connections", timeout, READY_POLL_INTERVAL, || {
            match child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => return Observed::Failed(anyhow!("postgres exited with {status}")),
                Err(error) => return Observed::Failed(error.into()),
            }
            let ready = Command::new(self.bin_dir.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres"])
                .status()
                .context("running pg_isready");
            match ready {
                Ok(status) if status.success() => Observed::Ready(()),
                Ok(status) => Observed::NotYet(format!("pg_isready exited with {status}")),
                Err(error) => Observed::Failed(error),
            }
        })
    }

    fn psql(&self, database: &str, statement: &str) -> anyhow::Result<Output> {
        Command::new(self.bin_dir.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &self.port.to_string(), "-d", database, "-c", statement])
            .output()
            .context("running psql")
    }

    /// Returns the last 4 KB of the log.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let start = text.len().saturating_sub(4096);
        text.get(start..).unwrap_or(&text).to_owned()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // A fast shutdown rather than a kill: it releases the shared memory segment.
        let _ = self.stop();
    }
}

/// Kills `child` and its process group if it still runs, and reaps it.
fn end_child(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        signal_group(child, "KILL");
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Sends `SIG<signal>` to the process group led by `child` (ignored when it is gone).
fn signal_group(child: &Child, signal: &str) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args([&format!("-{signal}"), "--", &group]).stderr(Stdio::null()).status();
}

/// Makes `command` run as `run_as` (uid, gid) when given.
fn as_user(command: &mut Command, run_as: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
    command
}

/// Returns whether this process runs as root (`/proc/self` is owned by the effective user).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|metadata| metadata.uid() == 0)
}

/// Returns the `postgres` user's `(uid, gid)`.
fn postgres_user() -> anyhow::Result<(u32, u32)> {
    let id = |flag: &str| -> anyhow::Result<u32> {
        let output = Command::new("id").args([flag, "postgres"]).output().context("running id")?;
        if !output.status.success() {
            bail!("running as root needs a postgres user: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
    };
    Ok((id("-u")?, id("-g")?))
}

/// Returns the newest `/usr/lib/postgresql/<version>/bin`, else the directory of `initdb` on
/// the PATH.
fn bin_dir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .context("no initdb and postgres in /usr/lib/postgresql/*/bin or on the PATH")
}

/// Returns a loopback port nothing listens on (bound, then released).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}
