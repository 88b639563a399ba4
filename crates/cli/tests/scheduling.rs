//! Placement across real processes: a hub (`agentry hub serve`) on PostgreSQL + NATS JetStream
//! and three `agentry node join` processes with 4 slots each, driven by the CLI. Long runs
//! (a scripted model that answers after a delay) keep slots busy while placement is inspected.

use std::collections::BTreeMap;
use std::time::Duration;

use agentry_test_util::{NatsServer, PgTestDatabase, ProcessCluster, ProcessClusterConfig, Reply, ScriptedModel};

const DEADLINE: Duration = Duration::from_secs(60);

/// A process cluster with the services it runs on (dropped after it).
struct Fixture {
    cluster: ProcessCluster,
    _nats: NatsServer,
    _database: PgTestDatabase,
    _model: ScriptedModel,
}

impl Fixture {
    /// Starts a hub with `scheduler` and 3 nodes of 4 slots, on a model answering after 4 s.
    async fn start(scheduler: &str) -> Self {
        let model =
            ScriptedModel::start(vec![Reply::text("done")], Duration::from_secs(4)).await.expect("scripted model");
        let database = PgTestDatabase::create().await.expect("creating a test database");
        let nats = NatsServer::start().expect("starting nats-server");
        let mut config =
            ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
        config.scheduler = scheduler.to_owned();
        let cluster = ProcessCluster::start(config, 3).await.expect("starting the cluster");
        Self { cluster, _nats: nats, _database: database, _model: model }
    }

    /// Spawns `count` agents whose one run lasts as long as the model's delay; returns their ids.
    async fn spawn_long_runs(&self, count: usize) -> Vec<String> {
        let inputs: Vec<String> = (0..count).map(|index| format!("long run {index}")).collect();
        self.cluster.spawn_agents(&inputs, &["--model", "openai:scripted"]).await.expect("spawning")
    }

    /// Returns node name → number of the given agents' latest runs placed on it, once every one
    /// of them is placed.
    async fn placement_of(&self, agents: &[String]) -> BTreeMap<String, usize> {
        let nodes = self.cluster.nodes().await.expect("listing nodes");
        let names: BTreeMap<&str, &str> =
            nodes.iter().filter_map(|node| Some((node["node_id"].as_str()?, node["name"].as_str()?))).collect();
        let placed_node = |agent: &serde_json::Value| {
            agent["latest_run"]["node_id"].as_str().filter(|id| !id.is_empty()).map(str::to_owned)
        };
        let ours = |agent: &&serde_json::Value| agents.iter().any(|id| agent["agent_id"] == id.as_str());
        let listed = self
            .cluster
            .wait_for_agents("placed runs", DEADLINE, |listed| {
                listed.iter().filter(ours).filter_map(placed_node).count() == agents.len()
            })
            .await
            .expect("every run placed");
        let mut counts = BTreeMap::new();
        for node_id in listed.iter().filter(ours).filter_map(placed_node) {
            *counts.entry(names[node_id.as_str()].to_owned()).or_insert(0) += 1;
        }
        counts
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binpack_fills_one_node_before_the_next() {
    let fixture = Fixture::start("binpack").await;
    let agents = fixture.spawn_long_runs(6).await;
    let placement = fixture.placement_of(&agents).await;
    let mut counts: Vec<usize> = placement.values().copied().collect();
    counts.sort_unstable();
    assert_eq!(counts, [2, 4], "binpack placement: {placement:?}");
    fixture.cluster.wait_until_completed(&agents, DEADLINE).await.expect("runs completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_evenly_and_a_drained_node_gets_nothing_new() {
    let fixture = Fixture::start("round_robin").await;
    let cluster = &fixture.cluster;
    let first = fixture.spawn_long_runs(6).await;
    let placement = fixture.placement_of(&first).await;
    assert_eq!(placement.values().copied().collect::<Vec<_>>(), [2, 2, 2], "round-robin placement: {placement:?}");

    let drained = cluster.client(&["node", "drain", "node-3"]).await.expect("running drain");
    assert!(drained.status.success(), "drain: {}", String::from_utf8_lossy(&drained.stderr));
    assert!(String::from_utf8_lossy(&drained.stdout).contains("node-3 draining"));
    let second = fixture.spawn_long_runs(3).await;
    let placement = fixture.placement_of(&second).await;
    assert!(!placement.contains_key("node-3"), "a draining node got new runs: {placement:?}");
    assert_eq!(placement.values().sum::<usize>(), 3);

    // Its running runs finish there; then it runs nothing and stays draining.
    let all: Vec<String> = first.into_iter().chain(second).collect();
    cluster.wait_until_completed(&all, DEADLINE).await.expect("runs completed");
    cluster
        .wait_for_nodes("drained node-3 with 0 running", DEADLINE, |nodes| {
            nodes.iter().any(|node| node["name"] == "node-3" && node["state"] == "draining" && node["running"] == 0)
        })
        .await
        .expect("node-3 drained");
}
