//! [`ProcessCluster`]: a hub and nodes as real `agentry` processes, for process-level and fault
//! tests (kill -9, SIGTERM, hub restarts, partitions).
//!
//! The cluster runs `agentry hub serve` and `agentry node join` from the binary the test names
//! (`env!("CARGO_BIN_EXE_agentry")`), against services the test owns, so it can restart them:
//! a database URL (a [`crate::PgTestDatabase`] or a [`crate::PostgresServer`]) and a NATS URL
//! (a [`crate::NatsServer`]). Nodes reach the model at `OPENAI_BASE_URL` = the config's
//! `model_url` (a [`crate::ScriptedModel`]).
//!
//! Each process logs (`RUST_LOG`, see [`ProcessClusterConfig::rust_log`]) to `<name>.log` in a
//! temporary directory, [`ProcessCluster::logs_dir`]; a process started again under the same
//! name appends to its log. Errors of the harness name that directory. When the cluster is
//! dropped during a panic the directory is kept and its path printed to stderr.
//!
//! Client helpers (in `process_cluster/client.rs`) run the CLI with `--hub` and parse its JSON:
//! `agentry nodes --output json`, `agentry ps --output json`, `agentry trace AGENT --jsonl`,
//! `agentry spawn`; `process_cluster/follower.rs` follows a trace with
//! `agentry trace AGENT --follow --jsonl` across hub restarts.
//!
//! More hub replicas on the same database and NATS (`process_cluster/replicas.rs`):
//! [`ProcessCluster::start_hub_replica`], stopped with SIGTERM or SIGKILL; with
//! [`ProcessCluster::set_hub_url`] clients and new nodes reach the hubs through one address
//! (a [`crate::TcpBalancer`]).

mod client;
mod follower;
mod replicas;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

pub use follower::TraceFollower;

/// How long a started hub may take to answer, and a started node to be listed `ready`.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// What a [`ProcessCluster`] runs.
#[derive(Debug, Clone)]
pub struct ProcessClusterConfig {
    /// The `agentry` binary (`env!("CARGO_BIN_EXE_agentry")`).
    pub binary: PathBuf,
    /// `--database-url` of the hub.
    pub database_url: String,
    /// `--nats-url` of the hub and the nodes.
    pub nats_url: String,
    /// `OPENAI_BASE_URL` of the nodes.
    pub model_url: String,
    /// `--scheduler` of the hub (default `round_robin`).
    pub scheduler: String,
    /// `--lease-ttl` of the hub (default 5 s).
    pub lease_ttl: Duration,
    /// `--heartbeat-interval` of the hub (default 1 s).
    pub heartbeat_interval: Duration,
    /// `--slots` of each node (default 4).
    pub slots: u32,
    /// `--shutdown-grace` of the nodes, when set (default: the CLI's).
    pub shutdown_grace: Option<Duration>,
    /// `--max-deliveries` of the nodes, when set (default: the CLI's).
    pub max_deliveries: Option<u32>,
    /// `--config` of the hub and the nodes (a TOML file, e.g. with a `[tools]` policy), when set.
    pub config_file: Option<PathBuf>,
    /// `RUST_LOG` of the hub and nodes (default `info,agentry=debug,agent_hub=debug,agent_node=debug`).
    pub rust_log: String,
    /// More environment of the hub and the nodes (e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub env: Vec<(String, String)>,
}

impl ProcessClusterConfig {
    /// Returns a config with the defaults above.
    pub fn new(
        binary: impl Into<PathBuf>,
        database_url: impl Into<String>,
        nats_url: impl Into<String>,
        model_url: impl Into<String>,
    ) -> Self {
        Self {
            binary: binary.into(),
            database_url: database_url.into(),
            nats_url: nats_url.into(),
            model_url: model_url.into(),
            scheduler: "round_robin".to_owned(),
            config_file: None,
            lease_ttl: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(1),
            slots: 4,
            shutdown_grace: None,
            max_deliveries: None,
            rust_log: "info,agentry=debug,agent_hub=debug,agent_node=debug".to_owned(),
            env: Vec::new(),
        }
    }
}

/// Per-node overrides of [`ProcessCluster::add_node_with`].
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// `--hub` of the node, e.g. a [`crate::TcpProxy`] in front of the hub (default: the hub).
    pub hub_url: Option<String>,
    /// `--slots` of the node (default: the config's).
    pub slots: Option<u32>,
    /// More arguments of `agentry node join`.
    pub extra_args: Vec<String>,
}

/// One `agentry` server process.
struct Process {
    child: Option<Child>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// `host:port` of its `/metrics` listener.
    metrics_address: String,
}

/// A hub and named nodes as processes; every process is killed on drop.
pub struct ProcessCluster {
    config: ProcessClusterConfig,
    hub_address: String,
    hub: Process,
    /// More hub replicas by name, with their gRPC `host:port`.
    replicas: BTreeMap<String, (String, Process)>,
    /// The `--hub` of clients and new nodes, when not the first hub (see [`Self::set_hub_url`]).
    hub_url: Option<String>,
    nodes: BTreeMap<String, Process>,
    dir: Option<tempfile::TempDir>,
    /// Path of `dir`, still valid once `dir` is taken to keep it.
    dir_path: PathBuf,
}

impl ProcessCluster {
    /// Starts the hub on a free loopback port and `node_count` nodes `node-1` … `node-N`, and
    /// waits until the hub lists them all `ready`.
    ///
    /// Errors when a process cannot be started, exits, or is not ready within 30 s.
    pub async fn start(config: ProcessClusterConfig, node_count: usize) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("agentry-cluster-").tempdir().context("creating the logs dir")?;
        let dir_path = dir.path().to_owned();
        let hub_address = format!("127.0.0.1:{}", free_port()?);
        let hub_metrics_address = format!("127.0.0.1:{}", free_port()?);
        let hub_args = [
            "hub",
            "serve",
            "--listen",
            &hub_address,
            "--database-url",
            &config.database_url,
            "--nats-url",
            &config.nats_url,
            "--scheduler",
            &config.scheduler,
            "--lease-ttl",
            &duration_arg(config.lease_ttl),
            "--heartbeat-interval",
            &duration_arg(config.heartbeat_interval),
            "--metrics-listen",
            &hub_metrics_address,
        ];
        let mut hub_args = hub_args.map(str::to_owned).to_vec();
        if let Some(file) = &config.config_file {
            hub_args.extend(["--config".to_owned(), file.display().to_string()]);
        }
        let hub =
            Process { child: None, args: hub_args, env: config.env.clone(), metrics_address: hub_metrics_address };
        let mut cluster = Self {
            config,
            hub_address,
            hub,
            replicas: BTreeMap::new(),
            hub_url: None,
            nodes: BTreeMap::new(),
            dir: Some(dir),
            dir_path,
        };
        cluster.start_hub().await?;
        let names: Vec<String> = (1..=node_count).map(|index| format!("node-{index}")).collect();
        for name in &names {
            cluster.spawn_node(name, NodeOptions::default())?;
        }
        let ready = |nodes: &[serde_json::Value]| {
            names.iter().all(|name| nodes.iter().any(|node| node["name"] == name.as_str() && node["state"] == "ready"))
        };
        let waited = cluster.wait_for_nodes(&format!("{node_count} ready nodes"), STARTUP_DEADLINE, ready).await;
        waited.map_err(|error| cluster.with_exit_report(error))?;
        Ok(cluster)
    }

    /// Returns the URL clients and new nodes reach the hub at: the first hub's,
    /// `http://127.0.0.1:<port>` (the same after [`Self::start_hub`]), unless
    /// [`Self::set_hub_url`] set another.
    pub fn hub_url(&self) -> String {
        self.hub_url.clone().unwrap_or_else(|| format!("http://{}", self.hub_address))
    }

    /// Makes the client helpers, trace followers and the nodes started from now on (without a
    /// `hub_url` of their own) use `url`, e.g. a [`crate::TcpBalancer`] in front of the replicas.
    pub fn set_hub_url(&mut self, url: impl Into<String>) {
        self.hub_url = Some(url.into());
    }

    /// Returns the first hub's `host:port`.
    pub fn hub_address(&self) -> &str {
        &self.hub_address
    }

    /// Returns the URL of the hub's Prometheus metrics, `http://127.0.0.1:<port>/metrics`.
    pub fn hub_metrics_url(&self) -> String {
        format!("http://{}/metrics", self.hub.metrics_address)
    }

    /// Returns the URL of node `name`'s Prometheus metrics; `None` for an unknown node.
    pub fn node_metrics_url(&self, name: &str) -> Option<String> {
        self.nodes.get(name).map(|node| format!("http://{}/metrics", node.metrics_address))
    }

    /// Returns the config the cluster was started with.
    pub fn config(&self) -> &ProcessClusterConfig {
        &self.config
    }

    /// Returns the directory of the logs (`hub.log`, `<node>.log`, trace followers' output).
    pub fn logs_dir(&self) -> &Path {
        &self.dir_path
    }

    /// Returns the log of `name` (`hub` or a node name) so far; empty when there is none.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }

    /// Returns the log file of `name` (`hub` or a node name).
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir_path.join(format!("{name}.log"))
    }

    /// Returns the names of the nodes started so far, running or not.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Starts the hub process again (after [`Self::kill_hub`]) on the same port with the same
    /// arguments, and waits until it answers `agentry nodes`.
    ///
    /// Errors when it is running already, exits, or does not answer within 30 s.
    pub async fn start_hub(&mut self) -> anyhow::Result<()> {
        if self.hub.child.is_some() {
            bail!("the hub is running already");
        }
        let child = self.spawn_process("hub", &self.hub.args, &self.hub.env)?;
        self.hub.child = Some(child);
        let answered = self.wait_until_answers(&format!("http://{}", self.hub_address), STARTUP_DEADLINE).await;
        answered.map_err(|error| self.with_exit_report(error))
    }

    /// Kills the hub process (SIGKILL) and waits for it to exit.
    pub async fn kill_hub(&mut self) -> anyhow::Result<()> {
        kill(&mut self.hub, "hub").await
    }

    /// Starts a node `name` with the config's options, waits until the hub lists a `ready` node
    /// of that name and returns its node id.
    ///
    /// Errors when a node of that name is running, or as [`Self::start`].
    pub async fn add_node(&mut self, name: &str) -> anyhow::Result<String> {
        self.add_node_with(name, NodeOptions::default()).await
    }

    /// Like [`Self::add_node`], with per-node `options`.
    pub async fn add_node_with(&mut self, name: &str, options: NodeOptions) -> anyhow::Result<String> {
        let known = self.node_ids_named(name).await;
        self.spawn_node(name, options)?;
        self.wait_for_new_node(name, &known).await
    }

    /// Returns the ids of the nodes named `name` the hub lists now (none when it is down).
    async fn node_ids_named(&self, name: &str) -> Vec<String> {
        let nodes = self.nodes().await.unwrap_or_default();
        nodes
            .iter()
            .filter(|node| node["name"] == name)
            .filter_map(|node| node["node_id"].as_str())
            .map(str::to_owned)
            .collect()
    }

    /// Waits until the hub lists a `ready` node `name` whose id is not in `known` (a node joins
    /// under a new id every time); returns its id.
    async fn wait_for_new_node(&mut self, name: &str, known: &[String]) -> anyhow::Result<String> {
        let is_new = |node: &&serde_json::Value| {
            node["name"] == name
                && node["state"] == "ready"
                && node["node_id"].as_str().is_some_and(|id| !known.iter().any(|known| known == id))
        };
        let what = format!("node {name} ready");
        let nodes = self
            .wait_for_nodes(&what, STARTUP_DEADLINE, |nodes| nodes.iter().any(|node| is_new(&node)))
            .await
            .map_err(|error| self.with_exit_report(error))?;
        let node = nodes.iter().find(is_new);
        Ok(node.and_then(|node| node["node_id"].as_str()).unwrap_or_default().to_owned())
    }

    /// Starts node `name` again (after [`Self::kill_node`] or [`Self::terminate_node`]) with the
    /// arguments it had, waits until the hub lists a `ready` node of that name and returns its
    /// node id.
    ///
    /// Errors when no node of that name was started, it is running, or as [`Self::start`].
    pub async fn restart_node(&mut self, name: &str) -> anyhow::Result<String> {
        let node = self.nodes.get(name).with_context(|| format!("no node {name}"))?;
        if node.child.is_some() {
            bail!("node {name} is running already");
        }
        let known = self.node_ids_named(name).await;
        let child = self.spawn_process(name, &node.args, &node.env)?;
        if let Some(node) = self.nodes.get_mut(name) {
            node.child = Some(child);
        }
        self.wait_for_new_node(name, &known).await
    }

    /// Kills node `name` (SIGKILL, as `kill -9`) and waits for it to exit.
    ///
    /// Errors when there is no such node process running.
    pub async fn kill_node(&mut self, name: &str) -> anyhow::Result<()> {
        let node = self.nodes.get_mut(name).with_context(|| format!("no node {name}"))?;
        kill(node, name).await
    }

    /// Sends SIGTERM to node `name` and returns its exit status once it exited, waiting up to
    /// `deadline`.
    ///
    /// Errors when there is no such node process running, or it is still running after
    /// `deadline` (it is then killed).
    pub async fn terminate_node(&mut self, name: &str, deadline: Duration) -> anyhow::Result<ExitStatus> {
        let logs = self.dir_path.display().to_string();
        let node = self.nodes.get_mut(name).with_context(|| format!("no node {name}"))?;
        terminate(node, &format!("node {name}"), deadline).await.with_context(|| format!("logs in {logs}"))
    }

    /// Keeps the logs directory after the cluster is dropped and returns its path.
    pub fn keep_logs(&mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        self.dir_path.clone()
    }

    /// Returns the processes that exited on their own, as `name: status`, reaping them.
    pub fn exited_processes(&mut self) -> Vec<String> {
        let mut exited = Vec::new();
        let replicas = self.replicas.iter_mut().map(|(name, (_, process))| (name, process));
        for (name, process) in self.nodes.iter_mut().chain([(&"hub".to_owned(), &mut self.hub)]).chain(replicas) {
            if let Some(Ok(Some(status))) = process.child.as_mut().map(Child::try_wait) {
                exited.push(format!("{name}: {status}"));
                process.child = None;
            }
        }
        exited
    }

    /// Adds the processes that exited on their own to `error`.
    fn with_exit_report(&mut self, error: anyhow::Error) -> anyhow::Error {
        let exited = self.exited_processes();
        if exited.is_empty() { error } else { error.context(format!("exited: {}", exited.join(", "))) }
    }

    fn spawn_node(&mut self, name: &str, options: NodeOptions) -> anyhow::Result<()> {
        if self.nodes.get(name).is_some_and(|node| node.child.is_some()) {
            bail!("node {name} is running already");
        }
        let workspace = self.dir_path.join("workspaces").join(name);
        let metrics_address = format!("127.0.0.1:{}", free_port()?);
        let mut args: Vec<String> = [
            "node",
            "join",
            "--hub",
            &options.hub_url.unwrap_or_else(|| self.hub_url()),
            "--name",
            name,
            "--slots",
            &options.slots.unwrap_or(self.config.slots).to_string(),
            "--nats-url",
            &self.config.nats_url,
            "--workspace-root",
            &workspace.display().to_string(),
            "--metrics-listen",
            &metrics_address,
        ]
        .map(str::to_owned)
        .to_vec();
        if let Some(grace) = self.config.shutdown_grace {
            args.extend(["--shutdown-grace".to_owned(), duration_arg(grace)]);
        }
        if let Some(max_deliveries) = self.config.max_deliveries {
            args.extend(["--max-deliveries".to_owned(), max_deliveries.to_string()]);
        }
        if let Some(file) = &self.config.config_file {
            args.extend(["--config".to_owned(), file.display().to_string()]);
        }
        args.extend(options.extra_args);
        let mut env = vec![("OPENAI_BASE_URL".to_owned(), self.config.model_url.clone())];
        env.extend(self.config.env.iter().cloned());
        let child = self.spawn_process(name, &args, &env)?;
        self.nodes.insert(name.to_owned(), Process { child: Some(child), args, env, metrics_address });
        Ok(())
    }

    /// Starts `agentry <args>` logging to `<name>.log` (appended, after a header line).
    fn spawn_process(&self, name: &str, args: &[String], env: &[(String, String)]) -> anyhow::Result<Child> {
        let path = self.log_path(name);
        let mut log = OpenOptions::new().create(true).append(true).open(&path).context("opening a log")?;
        writeln!(log, "==== agentry {}", args.join(" ")).context("writing a log")?;
        Command::new(&self.config.binary)
            .args(args)
            .envs(env.iter().map(|(key, value)| (key, value)))
            .env("RUST_LOG", &self.config.rust_log)
            .env_remove("AGENTRY_HUB")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name} ({})", self.config.binary.display()))
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        let replicas = self.replicas.values_mut().map(|(_, process)| process);
        for process in self.nodes.values_mut().chain([&mut self.hub]).chain(replicas) {
            if let Some(child) = process.child.as_mut() {
                let _ = child.start_kill();
            }
        }
        if std::thread::panicking() {
            let path = self.keep_logs();
            eprintln!("process cluster logs kept in {}", path.display());
        }
    }
}

/// Kills `process` (SIGKILL) and waits for it.
async fn kill(process: &mut Process, name: &str) -> anyhow::Result<()> {
    let mut child = process.child.take().with_context(|| format!("{name} is not running"))?;
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    child.kill().await.with_context(|| format!("killing {name}"))
}

/// Sends SIGTERM to `process` (named `name` in errors) and returns its exit status once it
/// exited, waiting up to `deadline`.
///
/// Errors when it is not running, or still runs after `deadline` (it is then killed).
async fn terminate(process: &mut Process, name: &str, deadline: Duration) -> anyhow::Result<ExitStatus> {
    let mut child = process.child.take().with_context(|| format!("{name} is not running"))?;
    let pid = child.id().with_context(|| format!("{name} has exited already"))?;
    let sent = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await.context("running kill")?;
    if !sent.success() {
        bail!("kill -TERM {pid} failed");
    }
    match tokio::time::timeout(deadline, child.wait()).await {
        Ok(status) => Ok(status?),
        Err(_) => {
            let _ = child.kill().await;
            bail!("{name} still ran {deadline:?} after SIGTERM (killed it)")
        }
    }
}

/// Returns `duration` as a command-line duration, in milliseconds (`1500ms`).
fn duration_arg(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// Returns a loopback port nothing listens on (bound, then released).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}
