//! Lease streams, with a lease TTL (30 s) far longer than the tests: a node killed with SIGKILL
//! is declared dead and its runs move because its lease stream broke — the reaper could not
//! have done it (the node's lease is current, and a hub that just started waits a whole TTL
//! before reaping). A node whose connection to the hub is reset but which opens a new stream
//! within the confirmation window keeps its runs: no `run_moved`, and it finishes them itself.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use agentry_test_util::{
    NatsServer, NodeOptions, Observed, PgTestDatabase, ProcessCluster, ProcessClusterConfig, ScriptedModel, TcpProxy,
    eventually,
};

use common::faults::{
    COMPLETION_DEADLINE, SPAWN_ARGS, assert_moved_exactly, check_agents, inputs, jittered_model, running_on,
    unfinished_on,
};

/// The hub's lease TTL: longer than every wait below, so only a broken stream moves runs.
const LONG_LEASE: Duration = Duration::from_secs(30);
/// How long the hub may take to declare a killed node dead: well under [`LONG_LEASE`].
const BREAK_DEADLINE: Duration = Duration::from_secs(15);
/// How long to wait for the load to reach a node, or for a line in a log.
const DEADLINE: Duration = Duration::from_secs(30);
/// What the hub logs when a node whose stream broke beat again within the window
/// (`agent_hub::leases`).
const CAME_BACK: &str = "node came back within the confirmation window";

/// The services and the cluster of a test (dropped in this order).
struct Fixture {
    cluster: ProcessCluster,
    model: ScriptedModel,
    _nats: NatsServer,
    _database: PgTestDatabase,
}

impl Fixture {
    /// Starts a hub with a 30 s lease TTL and `heartbeat` beats (the confirmation window is two
    /// of them), `nodes` nodes of 4 slots, and a model answering in 300–500 ms.
    async fn start(nodes: usize, heartbeat: Duration) -> Self {
        let model = jittered_model(Duration::from_millis(300), Duration::from_millis(200)).await;
        let database = PgTestDatabase::create().await.expect("creating a test database");
        let nats = NatsServer::start().expect("starting nats-server");
        let mut config =
            ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
        config.lease_ttl = LONG_LEASE;
        config.heartbeat_interval = heartbeat;
        let cluster = ProcessCluster::start(config, nodes).await.expect("starting the cluster");
        Self { cluster, model, _nats: nats, _database: database }
    }

    /// Waits until `node_id` runs at least `count` runs that are past their first step.
    async fn wait_for_runs_on(&self, node_id: &str, count: usize) {
        let what = format!("{count} runs in progress on {node_id}");
        self.cluster
            .wait_for_agents(&what, DEADLINE, |agents| running_on(agents, node_id, 4) >= count)
            .await
            .expect("load on the node");
    }

    /// Returns the state the hub lists `node_id` in.
    async fn node_state(&self, node_id: &str) -> String {
        let nodes = self.cluster.nodes().await.expect("listing nodes");
        let node = nodes.iter().find(|node| node["node_id"] == node_id).expect("the node is listed");
        node["state"].as_str().unwrap_or_default().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_runs_move_when_its_lease_stream_breaks_long_before_its_ttl() {
    let mut fixture = Fixture::start(3, Duration::from_millis(500)).await;
    let inputs = inputs("lease stream agent", 24);
    let agents = fixture.cluster.spawn_agents(&inputs, &SPAWN_ARGS).await.expect("spawning");
    let victim = fixture.cluster.node_id("node-2").await.expect("node-2's id");
    fixture.wait_for_runs_on(&victim, 2).await;

    fixture.cluster.kill_node("node-2").await.expect("killing node-2");
    let listed = fixture.cluster.agents().await.expect("listing agents");
    let moved = unfinished_on(&listed, &victim);
    assert!(!moved.is_empty(), "node-2 had no unfinished run when killed");
    let what = format!("{victim} declared dead well before its lease expires");
    fixture
        .cluster
        .wait_for_nodes(&what, BREAK_DEADLINE, |nodes| {
            nodes.iter().any(|node| node["node_id"] == victim.as_str() && node["state"] == "dead")
        })
        .await
        .expect("the killed node declared dead");
    fixture.cluster.wait_until_completed(&agents, COMPLETION_DEADLINE).await.expect("every run completed");

    let summaries = check_agents(&fixture.cluster, &fixture.model, &agents, &inputs).await;
    assert_moved_exactly(&agents, &summaries, &moved, &BTreeSet::from([victim]));
    for event in summaries.iter().flat_map(|summary| &summary.run_moved) {
        let reason = event["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("lease stream broke"), "moved by the broken stream, not the TTL: {event}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_stream_reopened_within_the_confirmation_window_moves_nothing() {
    // 1 s beats: a 2 s window for a node that reconnects in milliseconds.
    let mut fixture = Fixture::start(0, Duration::from_secs(1)).await;
    let proxy = TcpProxy::start(fixture.cluster.hub_address().parse().expect("the hub's address"))
        .await
        .expect("starting the proxy");
    let through_proxy = NodeOptions { hub_url: Some(proxy.url()), ..NodeOptions::default() };
    let node_a = fixture.cluster.add_node_with("node-a", through_proxy).await.expect("starting node-a");
    let inputs = inputs("reconnecting agent", 4);
    let agents = fixture.cluster.spawn_agents(&inputs, &SPAWN_ARGS).await.expect("spawning");
    fixture.wait_for_runs_on(&node_a, 2).await;

    // Every connection of node-a to the hub ends at once: its lease stream and its commits.
    proxy.reset();
    let what = format!("the hub to see {node_a} come back (logs in {})", fixture.cluster.logs_dir().display());
    eventually(&what, DEADLINE, || async {
        let log = fixture.cluster.log("hub");
        let came_back = log.lines().any(|line| line.contains(CAME_BACK) && line.contains(&node_a));
        Observed::from_option(came_back.then_some(()), || format!("{} hub log lines", log.lines().count()))
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    fixture.cluster.wait_until_completed(&agents, COMPLETION_DEADLINE).await.expect("every run completed");

    assert_eq!(fixture.node_state(&node_a).await, "ready", "node-a kept its membership");
    let summaries = check_agents(&fixture.cluster, &fixture.model, &agents, &inputs).await;
    for (agent, summary) in agents.iter().zip(&summaries) {
        assert!(summary.run_moved.is_empty(), "{agent} was moved: {:?}", summary.run_moved);
        assert_eq!(summary.last_node_id.as_deref(), Some(node_a.as_str()), "{agent} finished on node-a");
    }
}
