//! Rolling upgrades under load: two hub replicas behind one address (a [`TcpBalancer`], as a
//! Kubernetes Service in front of the hub Deployment's pods) and three `agentry node join`
//! processes run many five-step agents (four `echo` calls, then an answer) against a model that
//! answers in 300–500 ms, so runs are always in flight. Clients and nodes use the balancer's
//! address only.
//!
//! - A rollout replaces every node, one at a time, in the order of a Deployment with
//!   `maxSurge: 1`, `maxUnavailable: 0`: the new node starts and is `ready` before the old one
//!   gets SIGTERM. The old node's runs that cannot finish within its `--shutdown-grace` are
//!   handed back and resume on other nodes from their last commit. Then a hub replica is
//!   replaced the same way (the new replica joins the Service, the old one leaves it and gets
//!   SIGTERM); a hub that stops moves no run.
//! - A hub replica is killed (SIGKILL) while runs are in flight and the balancer still lists
//!   it: connections to it fail and reconnect through the balancer to the other replica, which
//!   carries on; a replacement replica joins later. No run moves, and trace followers miss
//!   nothing.
//!
//! Either way every run completes; every trace has contiguous seqs and one `final`; no
//! committed model answer is requested again (see `common::faults::check_agents`).

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use agentry_test_util::trace_check::check_seqs;
use agentry_test_util::{
    NatsServer, PgTestDatabase, ProcessCluster, ProcessClusterConfig, ScriptedModel, TcpBalancer, TraceFollower,
    http_get,
};

use common::faults::{COMPLETION_DEADLINE, SPAWN_ARGS, assert_moved_exactly, check_agents, inputs, jittered_model};

/// Agents spawned for each step of a rollout: more than the 16 slots of four nodes, so that
/// runs keep starting during the step.
const BATCH: usize = 24;
/// `--shutdown-grace` of the nodes: shorter than the four model answers (≥ 300 ms each) an
/// early run (see [`EARLY_SEQS`]) has left, so such a run is handed back rather than finished.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// `seq`s of a run's last event when its first model answer is committed but not its second:
/// `run_started` is 1, each tool step commits `step_start`, `model_start`, `usage`,
/// `tool_start` (4–5 for the first answer, 9–10 for the second) and `tool_end`.
const EARLY_SEQS: std::ops::RangeInclusive<u64> = 4..=8;
/// How long a process may take to exit after SIGTERM.
const EXIT_DEADLINE: Duration = Duration::from_secs(30);
/// How long to wait for load of a given shape.
const LOAD_DEADLINE: Duration = Duration::from_secs(30);

/// The hub replicas the fixture starts.
const FIRST_HUBS: [&str; 2] = ["hub", "hub-2"];

/// Two hub replicas behind a balancer, three nodes joined through it, and the services they
/// run on (dropped after the processes).
struct Fixture {
    cluster: ProcessCluster,
    balancer: TcpBalancer,
    model: ScriptedModel,
    agents: Vec<String>,
    inputs: Vec<String>,
    _nats: NatsServer,
    _database: PgTestDatabase,
}

impl Fixture {
    /// Starts hub replicas `hub` and `hub-2` behind a balancer, then `node-1` … `node-3`
    /// joined through it (4 slots, a 2 s lease, 500 ms heartbeats).
    async fn start() -> Self {
        let model = jittered_model(Duration::from_millis(300), Duration::from_millis(200)).await;
        let database = PgTestDatabase::create().await.expect("creating a test database");
        let nats = NatsServer::start().expect("starting nats-server");
        let mut config =
            ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
        config.lease_ttl = Duration::from_secs(2);
        config.heartbeat_interval = Duration::from_millis(500);
        config.shutdown_grace = Some(SHUTDOWN_GRACE);
        let mut cluster = ProcessCluster::start(config, 0).await.expect("starting the first hub");
        cluster.start_hub_replica(FIRST_HUBS[1]).await.expect("starting the second hub replica");
        let balancer =
            TcpBalancer::start(FIRST_HUBS.map(|name| address(&cluster, name))).await.expect("starting the balancer");
        cluster.set_hub_url(balancer.url());
        for name in ["node-1", "node-2", "node-3"] {
            cluster.add_node(name).await.expect("starting a node");
        }
        Self { cluster, balancer, model, agents: Vec::new(), inputs: Vec::new(), _nats: nats, _database: database }
    }

    /// Spawns `count` more agents (through the balancer).
    async fn spawn(&mut self, prefix: &str, count: usize) {
        let inputs = inputs(prefix, count);
        let agents = self.cluster.spawn_agents(&inputs, &SPAWN_ARGS).await.expect("spawning agents");
        self.agents.extend(agents);
        self.inputs.extend(inputs);
    }

    /// Waits until `node` runs at least two early runs (see [`EARLY_SEQS`]); returns its id and
    /// those runs' agents.
    async fn wait_for_early_runs_on(&self, node: &str) -> (String, BTreeSet<String>) {
        let node_id = self.cluster.node_id(node).await.expect("the node's id");
        let what = format!("runs early in progress on {node}");
        let agents = self
            .cluster
            .wait_for_agents(&what, LOAD_DEADLINE, |agents| early_on(agents, &node_id).len() >= 2)
            .await
            .expect("load on the node");
        let early = early_on(&agents, &node_id);
        (node_id, early)
    }

    /// Waits until at least `count` runs are in progress past their first step.
    async fn wait_for_load(&self, count: usize) {
        self.cluster
            .wait_for_agents("runs in progress", LOAD_DEADLINE, |agents| {
                let in_progress = |agent: &&Value| {
                    agent["latest_run"]["status"] == "running" && agent["last_seq"].as_u64() >= Some(4)
                };
                agents.iter().filter(in_progress).count() >= count
            })
            .await
            .expect("runs in progress");
    }

    /// Returns how many `Commit` calls each of [`FIRST_HUBS`] answered so far.
    async fn commit_counts(&self) -> [u64; 2] {
        [self.commits_answered(FIRST_HUBS[0]).await, self.commits_answered(FIRST_HUBS[1]).await]
    }

    /// Returns which of [`FIRST_HUBS`] answered more of the nodes' commits since `before` (from
    /// [`Self::commit_counts`]): one that holds a node's connection now.
    async fn busiest_hub(&self, before: [u64; 2]) -> &'static str {
        let after = self.commit_counts().await;
        let answered = [after[0] - before[0], after[1] - before[1]];
        assert!(answered.iter().sum::<u64>() > 0, "no hub replica answered a commit since {before:?}");
        if answered[0] >= answered[1] { FIRST_HUBS[0] } else { FIRST_HUBS[1] }
    }

    /// Returns how many `Commit` calls hub replica `name` answered, from its `/metrics`.
    async fn commits_answered(&self, name: &str) -> u64 {
        let url = self.cluster.hub_replica_metrics_url(name).expect("a started replica");
        let (status, metrics) = http_get(&url).await.expect("scraping the hub's metrics");
        assert_eq!(status, 200, "{url} answered {status}: {metrics}");
        let series = r#"agentry_rpc_duration_seconds_count{method="NodeService/Commit"}"#;
        let count = metrics.lines().find_map(|line| line.strip_prefix(series));
        count.and_then(|count| count.trim().parse().ok()).unwrap_or(0)
    }

    /// Waits until every agent's run completed and returns their `agentry ps` entries.
    async fn wait_until_completed(&self) -> Vec<Value> {
        self.cluster.wait_until_completed(&self.agents, COMPLETION_DEADLINE).await.expect("every run completed")
    }
}

/// Returns the gRPC address of hub replica `name`.
fn address(cluster: &ProcessCluster, name: &str) -> SocketAddr {
    let address = cluster.hub_replica_address(name).expect("a started replica");
    address.parse().expect("a socket address")
}

/// Returns the agents (from `agentry ps`) whose run is running on `node_id` with its last
/// `seq` in [`EARLY_SEQS`].
fn early_on(agents: &[Value], node_id: &str) -> BTreeSet<String> {
    agents
        .iter()
        .filter(|agent| agent["latest_run"]["node_id"] == node_id && agent["latest_run"]["status"] == "running")
        .filter(|agent| EARLY_SEQS.contains(&agent["last_seq"].as_u64().unwrap_or(0)))
        .filter_map(|agent| agent["agent_id"].as_str().map(str::to_owned))
        .collect()
}

/// Returns how many of `entries` (from `agentry ps`) completed on `node_id`.
fn completed_on(entries: &[Value], node_id: &str) -> usize {
    entries.iter().filter(|entry| entry["latest_run"]["node_id"] == node_id).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_of_every_node_and_a_hub_replica_loses_nothing() {
    let mut fixture = Fixture::start().await;
    let mut replaced = BTreeSet::new();
    let mut handed_back = BTreeSet::new();
    let mut new_ids = Vec::new();
    for (old, new) in [("node-1", "node-4"), ("node-2", "node-5"), ("node-3", "node-6")] {
        // maxSurge 1: the new node is ready before the old one stops.
        new_ids.push(fixture.cluster.add_node(new).await.expect("starting the new node"));
        fixture.spawn(&format!("while replacing {old}:"), BATCH).await;
        let (old_id, early) = fixture.wait_for_early_runs_on(old).await;
        let status = fixture.cluster.terminate_node(old, EXIT_DEADLINE).await.expect("the old node exits");
        assert!(status.success(), "{old} exited with {status} after SIGTERM");
        replaced.insert(old_id);
        handed_back.extend(early);
    }

    let commits = fixture.commit_counts().await;
    fixture.spawn("while replacing a hub:", BATCH).await;
    fixture.wait_for_load(4).await;
    let replaced_hub = fixture.busiest_hub(commits).await;
    let old_hub = address(&fixture.cluster, replaced_hub);
    fixture.cluster.start_hub_replica("hub-3").await.expect("starting the new hub replica");
    let new_hub = address(&fixture.cluster, "hub-3");
    fixture.balancer.add(new_hub);
    fixture.balancer.remove(old_hub);
    let status = fixture.cluster.terminate_hub_replica(replaced_hub, EXIT_DEADLINE).await.expect("the old hub exits");
    assert!(status.success(), "the old hub exited with {status} after SIGTERM");
    let entries = fixture.wait_until_completed().await;

    let summaries = check_agents(&fixture.cluster, &fixture.model, &fixture.agents, &fixture.inputs).await;
    // Only the replaced nodes handed runs back (the hub's SIGTERM moved none), and every run
    // caught early by a SIGTERM was among them.
    assert_moved_exactly(&fixture.agents, &summaries, &handed_back, &replaced);
    let reasons: Vec<&Value> = summaries.iter().flat_map(|summary| &summary.run_moved).collect();
    assert!(
        reasons.iter().all(|moved| moved["reason"].as_str().is_some_and(|reason| reason.ends_with(" left"))),
        "runs move only because their node left: {reasons:?}"
    );
    for new_id in &new_ids {
        assert!(completed_on(&entries, new_id) > 0, "node {new_id} completed no run");
    }
    assert!(fixture.balancer.forwarded(new_hub) > 0, "the new hub replica got no connection");
    eprintln!(
        "{} agents, {} runs handed back by {} replaced nodes",
        fixture.agents.len(),
        handed_back.len(),
        replaced.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_two_hub_replicas_behind_one_address_loses_nothing() {
    let mut fixture = Fixture::start().await;
    let commits = fixture.commit_counts().await;
    fixture.spawn("hub replica crash agent", 2 * BATCH + BATCH / 2).await;
    let followers: Vec<TraceFollower> = fixture.agents[..2]
        .iter()
        .map(|agent| fixture.cluster.follow_trace(agent).expect("following a trace"))
        .collect();

    fixture.wait_for_load(4).await;
    // The replica killed holds at least one node's connection.
    let victim = fixture.busiest_hub(commits).await;
    let killed = address(&fixture.cluster, victim);
    fixture.cluster.kill_hub_replica(victim).await.expect("killing a hub replica");
    // The balancer still lists the killed replica: new connections skip it.
    fixture.spawn("after the hub replica crash:", BATCH / 2).await;
    fixture.cluster.start_hub_replica("hub-3").await.expect("starting a replacement replica");
    fixture.balancer.add(address(&fixture.cluster, "hub-3"));
    fixture.balancer.remove(killed);
    fixture.wait_until_completed().await;

    let summaries = check_agents(&fixture.cluster, &fixture.model, &fixture.agents, &fixture.inputs).await;
    // Every node kept its lease through the other replica: nothing moved.
    assert_moved_exactly(&fixture.agents, &summaries, &BTreeSet::new(), &BTreeSet::new());
    for ((agent, summary), mut follower) in fixture.agents.iter().zip(&summaries).zip(followers) {
        let last_seq = summary.last_seq;
        follower
            .wait_for(&format!("seq {last_seq} of {agent}"), Duration::from_secs(20), |events| {
                events.iter().any(|event| event["seq"].as_u64() == Some(last_seq))
            })
            .await
            .expect("the follower got every event");
        let followed = follower.stop().await.expect("the follower's events");
        check_seqs(&followed).unwrap_or_else(|problem| panic!("follower of {agent}: {problem}"));
    }
}
