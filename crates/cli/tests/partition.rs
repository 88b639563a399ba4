//! A network partition between a node and the hub: node A reaches the hub through a
//! [`TcpProxy`], which is blackholed while A waits for a slow model answer. A's lease expires,
//! the hub moves the run to node B (epoch + 1, `run_moved`), B completes it. The partition heals
//! in two halves: first towards the hub, so A's late commit of the old epoch reaches the hub
//! before A hears anything (the hub must refuse it: the trace keeps one answer per step, one
//! `final` and contiguous seqs), then back to A, which stops the run (it logs that it was fenced,
//! or that it lost its membership and stopped every run).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use agentry_test_util::proxy::Direction;
use agentry_test_util::trace_check::{TraceSummary, check_seqs, requests_for};
use agentry_test_util::{
    NatsServer, NodeOptions, PgTestDatabase, ProcessCluster, ProcessClusterConfig, Reply, ScriptedModel, TcpProxy,
};

/// Latency of the first request of step 0 (A's): long enough to partition A during it.
const SLOW_STEP: Duration = Duration::from_secs(8);
/// Latency of every other request (B's).
const FAST_STEP: Duration = Duration::from_millis(200);
const DEADLINE: Duration = Duration::from_secs(30);

/// Starts a model whose script is an `echo` call then an answer; only the very first request
/// of step 0 is slow.
async fn model() -> ScriptedModel {
    let script = vec![Reply::tool("echo", json!({ "text": "partitioned" })), Reply::text("done despite the partition")];
    let first_requests = Arc::new(AtomicUsize::new(0));
    ScriptedModel::start_with_latency_fn(script, move |_, step| {
        let slow = step == 0 && first_requests.fetch_add(1, Ordering::SeqCst) == 0;
        if slow { SLOW_STEP } else { FAST_STEP }
    })
    .await
    .expect("starting the scripted model")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_node_loses_its_run_and_its_late_commit_is_fenced() {
    let model = model().await;
    let database = PgTestDatabase::create().await.expect("creating a test database");
    let nats = NatsServer::start().expect("starting nats-server");
    let mut config =
        ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
    config.lease_ttl = Duration::from_secs(2);
    config.heartbeat_interval = Duration::from_millis(300);
    let mut cluster = ProcessCluster::start(config, 0).await.expect("starting the hub");
    let hub_address = cluster.hub_address().parse().expect("the hub's address");
    let proxy = TcpProxy::start(hub_address).await.expect("starting the proxy");

    // A is the only node when the agent is spawned, so the run is placed on A.
    let through_proxy = NodeOptions { hub_url: Some(proxy.url()), ..NodeOptions::default() };
    let node_a = cluster.add_node_with("node-a", through_proxy).await.expect("starting node-a");
    let input = "partitioned agent";
    let agent =
        cluster.spawn(&["--model", "openai:scripted", "--tools", "echo", "--input", input]).await.expect("spawn");
    cluster
        .wait_for_agents("the run running on node-a", DEADLINE, |agents| {
            agents.iter().any(|listed| {
                listed["agent_id"] == agent.as_str()
                    && listed["latest_run"]["node_id"] == node_a.as_str()
                    && listed["latest_run"]["status"] == "running"
            })
        })
        .await
        .expect("the run on node-a");
    let first_request = wait_for_first_request(&model).await;
    let node_b = cluster.add_node("node-b").await.expect("starting node-b");

    proxy.partition();
    let agents = cluster.wait_until_completed(std::slice::from_ref(&agent), DEADLINE).await.expect("completed on B");
    assert_eq!(agents[0]["latest_run"]["node_id"], node_b.as_str(), "the run ended on node-b: {}", agents[0]);

    // Heal once A got its slow answer and is trying to commit it through the partition: first
    // towards the hub, so the stale commit is delivered before A can learn it lost the run.
    tokio::time::sleep_until(first_request + SLOW_STEP + Duration::from_millis(500)).await;
    proxy.heal_direction(Direction::ToTarget);
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.heal();
    let stopped = wait_for_any_line(&cluster, "node-a", &["fenced", "membership lost"]).await;
    eprintln!("node-a: {stopped}");

    let events = cluster.trace(&agent).await.expect("the trace");
    check_seqs(&events).unwrap_or_else(|problem| panic!("{problem}: {events:?}"));
    let summary = TraceSummary::of(&events);
    summary.check_completed_once(2).unwrap_or_else(|problem| panic!("{problem}: {events:?}"));
    assert_eq!(summary.run_moved.len(), 1, "one run_moved event: {events:?}");
    assert_eq!(summary.run_moved[0]["from_node_id"], node_a.as_str(), "{events:?}");
    assert_eq!(summary.last_node_id.as_deref(), Some(node_b.as_str()), "{events:?}");
    let requests = requests_for(&model.requests_per_step(), input);
    summary.check_requests(&requests, 2).unwrap_or_else(|problem| panic!("{problem}"));
}

/// Waits until the log of `node` has a line containing one of `needles`; returns that line.
async fn wait_for_any_line(cluster: &ProcessCluster, node: &str, needles: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let log = cluster.log(node);
        if let Some(line) = log.lines().find(|line| needles.iter().any(|needle| line.contains(needle))) {
            return line.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{node} never logged any of {needles:?}; logs in {}",
            cluster.logs_dir().display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the model got its first request; returns when it arrived.
async fn wait_for_first_request(model: &ScriptedModel) -> tokio::time::Instant {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(request) = model.requests().first() {
            return request.received_at;
        }
        assert!(tokio::time::Instant::now() < deadline, "node-a never asked the model");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
