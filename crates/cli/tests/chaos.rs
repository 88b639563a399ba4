//! Node crashes under load: a hub and three `agentry node join` processes run many five-step
//! agents (four `echo` calls, then an answer) against a scripted model; nodes are killed with
//! SIGKILL mid-run. The hub must notice each dead node once its lease expires, move its runs
//! (epoch + 1, a `run_moved` event) to the surviving nodes, which resume them from their
//! committed steps. Every run completes; every trace has contiguous seqs and one `final`; no
//! committed model answer is requested again (see `common::faults::check_agents`). A node
//! stopped with SIGTERM instead leaves: it hands its runs back at once, without waiting for its
//! lease to expire.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use agentry_test_util::{NatsServer, PgTestDatabase, ProcessCluster, ProcessClusterConfig, ScriptedModel};

use common::faults::{
    COMPLETION_DEADLINE, SPAWN_ARGS, assert_moved_exactly, check_agents, inputs, jittered_model, running_on,
    unfinished_on,
};

/// How long the hub may take to declare a killed node dead (lease + reaper period + margin).
const DEATH_DEADLINE: Duration = Duration::from_secs(15);
/// How long to wait for the load to reach a node before killing it.
const LOAD_DEADLINE: Duration = Duration::from_secs(30);

/// A process cluster with the services it runs on (dropped after it).
struct Fixture {
    cluster: ProcessCluster,
    model: ScriptedModel,
    _nats: NatsServer,
    _database: PgTestDatabase,
}

impl Fixture {
    /// Starts 3 nodes with `slots` each, a 2 s lease and 500 ms heartbeats, on a model that
    /// answers in 300–500 ms.
    async fn start(slots: u32) -> Self {
        Self::start_with(slots, Duration::from_secs(2), None).await
    }

    /// Like [`Fixture::start`] with a `lease_ttl` and the nodes' `--shutdown-grace`.
    async fn start_with(slots: u32, lease_ttl: Duration, shutdown_grace: Option<Duration>) -> Self {
        let model = jittered_model(Duration::from_millis(300), Duration::from_millis(200)).await;
        let database = PgTestDatabase::create().await.expect("creating a test database");
        let nats = NatsServer::start().expect("starting nats-server");
        let mut config =
            ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
        config.slots = slots;
        config.lease_ttl = lease_ttl;
        config.heartbeat_interval = Duration::from_millis(500);
        config.shutdown_grace = shutdown_grace;
        let cluster = ProcessCluster::start(config, 3).await.expect("starting the cluster");
        Self { cluster, model, _nats: nats, _database: database }
    }

    /// Waits until `node` runs at least `count` runs that are past their first step, kills it
    /// (SIGKILL) and returns its id and the agents whose runs it had not finished.
    async fn kill_mid_run(&mut self, node: &str, count: usize) -> (String, BTreeSet<String>) {
        let node_id = self.wait_for_runs_on(node, count).await;
        self.cluster.kill_node(node).await.expect("killing the node");
        // Until its lease expires the hub still shows the killed node's runs on it.
        let agents = self.cluster.agents().await.expect("listing agents");
        let unfinished = unfinished_on(&agents, &node_id);
        assert!(!unfinished.is_empty(), "{node} had no unfinished run when killed");
        (node_id, unfinished)
    }

    /// Waits until `node` runs at least `count` runs that are past their first step; returns
    /// its id.
    async fn wait_for_runs_on(&self, node: &str, count: usize) -> String {
        let node_id = self.cluster.node_id(node).await.expect("the node's id");
        let what = format!("{count} runs in progress on {node}");
        self.cluster
            .wait_for_agents(&what, LOAD_DEADLINE, |agents| running_on(agents, &node_id, 4) >= count)
            .await
            .expect("load on the node");
        node_id
    }

    /// Waits until the hub lists `node_id` as `dead`.
    async fn wait_until_dead(&self, node_id: &str) {
        let what = format!("dead node {node_id}");
        self.cluster
            .wait_for_nodes(&what, DEATH_DEADLINE, |nodes| {
                nodes.iter().any(|node| node["node_id"] == node_id && node["state"] == "dead")
            })
            .await
            .expect("the killed node declared dead");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_node_mid_run_moves_its_runs_and_loses_nothing() {
    let mut fixture = Fixture::start(6).await;
    let inputs = inputs("chaos agent", 50);
    let agents = fixture.cluster.spawn_agents(&inputs, &SPAWN_ARGS).await.expect("spawning");

    let (victim, moved) = fixture.kill_mid_run("node-2", 3).await;
    fixture.wait_until_dead(&victim).await;
    fixture.cluster.wait_until_completed(&agents, COMPLETION_DEADLINE).await.expect("every run completed");

    let summaries = check_agents(&fixture.cluster, &fixture.model, &agents, &inputs).await;
    assert_moved_exactly(&agents, &summaries, &moved, &BTreeSet::from([victim]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_two_nodes_one_after_the_other_loses_nothing() {
    let mut fixture = Fixture::start(4).await;
    let inputs = inputs("double chaos agent", 40);
    let agents = fixture.cluster.spawn_agents(&inputs, &SPAWN_ARGS).await.expect("spawning");

    let (first, mut moved) = fixture.kill_mid_run("node-1", 2).await;
    fixture.wait_until_dead(&first).await;
    // The crashed node comes back (under a new id); then a second node dies while runs moved
    // to it may be running.
    let rejoined = fixture.cluster.restart_node("node-1").await.expect("restarting node-1");
    assert_ne!(rejoined, first, "a restarted node joins under a new id");
    let (second, moved_again) = fixture.kill_mid_run("node-2", 1).await;
    moved.extend(moved_again);
    fixture.wait_until_dead(&second).await;
    fixture.cluster.wait_until_completed(&agents, COMPLETION_DEADLINE).await.expect("every run completed");

    let summaries = check_agents(&fixture.cluster, &fixture.model, &agents, &inputs).await;
    assert_moved_exactly(&agents, &summaries, &moved, &BTreeSet::from([first, second]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_node_hands_back_its_runs_without_waiting_for_its_lease() {
    // A lease far longer than the test: only a hand-back lets the node's runs complete in time.
    let lease_ttl = Duration::from_secs(30);
    let grace = Duration::from_secs(1);
    let mut fixture = Fixture::start_with(4, lease_ttl, Some(grace)).await;
    let inputs = inputs("leaving agent", 24);
    let agents = fixture.cluster.spawn_agents(&inputs, &SPAWN_ARGS).await.expect("spawning");

    let leaving = fixture.wait_for_runs_on("node-1", 2).await;
    let status = fixture.cluster.terminate_node("node-1", grace + Duration::from_secs(10)).await.expect("node-1 exits");
    assert!(status.success(), "node-1 exited with {status} after SIGTERM");
    fixture.cluster.wait_until_completed(&agents, Duration::from_secs(20)).await.expect("every run completed");
    let nodes = fixture.cluster.nodes().await.expect("listing nodes");
    let node = nodes.iter().find(|node| node["node_id"] == leaving.as_str()).expect("node-1 listed");
    assert_eq!(node["state"], "left", "a node stopped with SIGTERM left: {node}");

    let summaries = check_agents(&fixture.cluster, &fixture.model, &agents, &inputs).await;
    let handed_back = summaries.iter().filter(|summary| summary.run_started > 1).count();
    eprintln!("{handed_back} runs handed back by node-1");
}
