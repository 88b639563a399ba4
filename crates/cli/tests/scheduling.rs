//! Placement across real processes: a hub (`agentry hub serve`) on PostgreSQL + NATS JetStream
//! and three `agentry node join` processes with 4 slots each, driven by the CLI. Long runs
//! (a scripted model that answers after a delay) keep slots busy while placement is inspected.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use agentry_test_util::{NatsServer, PgTestDatabase, Reply, ScriptedModel};

mod common;

const DEADLINE: Duration = Duration::from_secs(60);

/// Hub and node processes, killed on drop.
struct ProcessCluster {
    hub_url: String,
    children: Vec<Child>,
    _nats: NatsServer,
    _database: PgTestDatabase,
    dir: tempfile::TempDir,
}

impl ProcessCluster {
    async fn start(scheduler: &str, model_url: &str) -> Self {
        let database = PgTestDatabase::create().await.expect("creating a test database");
        let nats = NatsServer::start().expect("starting nats-server");
        let dir = tempfile::tempdir().expect("temp dir");
        let hub_url = format!("http://127.0.0.1:{}", common::free_port());
        let hub = spawn_logged(
            dir.path(),
            "hub",
            &[
                "hub",
                "serve",
                "--listen",
                hub_url.trim_start_matches("http://"),
                "--database-url",
                database.url(),
                "--nats-url",
                &nats.url(),
                "--scheduler",
                scheduler,
            ],
            &[],
        );
        let mut cluster = Self { hub_url, children: vec![hub], _nats: nats, _database: database, dir };
        for index in 1..=3 {
            let name = format!("node-{index}");
            let workspace = cluster.dir.path().join(&name);
            let args = [
                "node",
                "join",
                "--hub",
                &cluster.hub_url,
                "--name",
                &name,
                "--slots",
                "4",
                "--nats-url",
                &cluster._nats.url(),
                "--workspace-root",
                workspace.to_str().unwrap(),
            ];
            let node = spawn_logged(cluster.dir.path(), &name, &args, &[("OPENAI_BASE_URL", model_url)]);
            cluster.children.push(node);
        }
        cluster
            .wait_for(|nodes| nodes.iter().filter(|node| node["state"] == "ready").count() == 3, "3 ready nodes")
            .await;
        cluster
    }

    fn client(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_agentry"))
            .args(args)
            .args(["--hub", &self.hub_url])
            .env_remove("RUST_LOG")
            .output()
            .expect("running agentry")
    }

    fn json(&self, args: &[&str]) -> Value {
        let output = self.client(args);
        assert!(output.status.success(), "agentry {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("JSON output")
    }

    fn nodes(&self) -> Vec<Value> {
        self.json(&["nodes", "--output", "json"]).as_array().cloned().unwrap_or_default()
    }

    fn agents(&self) -> Vec<Value> {
        self.json(&["ps", "--output", "json"]).as_array().cloned().unwrap_or_default()
    }

    /// Spawns `count` agents whose one run lasts as long as the model's delay; returns their ids.
    fn spawn_long_runs(&self, count: usize) -> Vec<String> {
        (0..count)
            .map(|index| {
                let input = format!("long run {index}");
                let output = self.client(&["spawn", "--model", "openai:scripted", "--input", &input]);
                assert!(output.status.success(), "spawn: {}", String::from_utf8_lossy(&output.stderr));
                String::from_utf8(output.stdout).unwrap().trim().to_owned()
            })
            .collect()
    }

    /// Returns node name → number of the given agents' latest runs placed on it, once every one
    /// of them is placed.
    async fn placement_of(&self, agents: &[String]) -> BTreeMap<String, usize> {
        let names: BTreeMap<String, String> = self
            .nodes()
            .iter()
            .map(|node| (node["node_id"].as_str().unwrap().to_owned(), node["name"].as_str().unwrap().to_owned()))
            .collect();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let placed: Vec<String> = self
                .agents()
                .iter()
                .filter(|agent| agents.iter().any(|id| agent["agent_id"] == id.as_str()))
                .filter_map(|agent| {
                    agent["latest_run"]["node_id"].as_str().filter(|id| !id.is_empty()).map(str::to_owned)
                })
                .collect();
            if placed.len() == agents.len() {
                let mut counts = BTreeMap::new();
                for node_id in placed {
                    *counts.entry(names[&node_id].clone()).or_insert(0) += 1;
                }
                return counts;
            }
            assert!(Instant::now() < deadline, "only {} of {} runs placed", placed.len(), agents.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_for(&self, condition: impl Fn(&[Value]) -> bool, what: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let output = self.client(&["nodes", "--output", "json"]);
            if output.status.success() {
                let nodes: Value = serde_json::from_slice(&output.stdout).expect("nodes JSON");
                if condition(nodes.as_array().unwrap()) {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "no {what} within {DEADLINE:?}; logs in {}", self.dir.path().display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_until_all_completed(&self) {
        let deadline = Instant::now() + DEADLINE;
        while !self.agents().iter().all(|agent| agent["latest_run"]["status"] == "completed") {
            assert!(Instant::now() < deadline, "runs did not complete: {:?}", self.agents());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn_logged(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Child {
    let log = File::create(dir.join(format!("{name}.log"))).expect("creating a log file");
    Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("AGENTRY_HUB")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|error| panic!("starting {name}: {error}"))
}

async fn slow_model() -> ScriptedModel {
    ScriptedModel::start(vec![Reply::text("done")], Duration::from_secs(4)).await.expect("scripted model")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binpack_fills_one_node_before_the_next() {
    let model = slow_model().await;
    let cluster = ProcessCluster::start("binpack", &model.base_url()).await;
    let agents = cluster.spawn_long_runs(6);
    let placement = cluster.placement_of(&agents).await;
    let mut counts: Vec<usize> = placement.values().copied().collect();
    counts.sort_unstable();
    assert_eq!(counts, [2, 4], "binpack placement: {placement:?}");
    cluster.wait_until_all_completed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_evenly_and_a_drained_node_gets_nothing_new() {
    let model = slow_model().await;
    let cluster = ProcessCluster::start("round_robin", &model.base_url()).await;
    let first = cluster.spawn_long_runs(6);
    let placement = cluster.placement_of(&first).await;
    assert_eq!(placement.values().copied().collect::<Vec<_>>(), [2, 2, 2], "round-robin placement: {placement:?}");

    let drained = cluster.client(&["node", "drain", "node-3"]);
    assert!(drained.status.success(), "drain: {}", String::from_utf8_lossy(&drained.stderr));
    assert!(String::from_utf8_lossy(&drained.stdout).contains("node-3 draining"));
    let second = cluster.spawn_long_runs(3);
    let placement = cluster.placement_of(&second).await;
    assert!(!placement.contains_key("node-3"), "a draining node got new runs: {placement:?}");
    assert_eq!(placement.values().sum::<usize>(), 3);

    // Its running runs finish there; then it runs nothing and stays draining.
    cluster.wait_until_all_completed().await;
    cluster
        .wait_for(
            |nodes| {
                nodes.iter().any(|node| node["name"] == "node-3" && node["state"] == "draining" && node["running"] == 0)
            },
            "drained node-3 with 0 running",
        )
        .await;
}
