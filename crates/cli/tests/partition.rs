//! A network partition between a node and the hub: node A reaches the hub through a
//! [`TcpProxy`], which is blackholed while A waits for a slow model answer. A's lease expires,
//! the hub moves the run to node B (epoch + 1, `run_moved`), B completes it. The partition heals
//! in two halves: first towards the hub, so A's late commit of the old epoch reaches the hub
//! before A hears anything (the hub must refuse it: its log says so for that run and epoch, and
//! the trace keeps one answer per step, one `final` and contiguous seqs), then back to A, which
//! stops the run (it logs that it was fenced, or that it lost its membership and stopped every
//! run). Each step waits for what it needs (the model's answer, the hub's refusal), not a time.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use agentry_test_util::proxy::Direction;
use agentry_test_util::trace_check::{TraceSummary, check_seqs, requests_for};
use agentry_test_util::{
    NatsServer, NodeOptions, Observed, PgTestDatabase, ProcessCluster, ProcessClusterConfig, Reply, ScriptedModel,
    TcpProxy, eventually,
};

/// Latency of the first request of step 0 (A's): long enough to partition A during it.
const SLOW_STEP: Duration = Duration::from_secs(8);
/// Latency of every other request (B's).
const FAST_STEP: Duration = Duration::from_millis(200);
const DEADLINE: Duration = Duration::from_secs(30);
/// What the hub logs (at info, with `run_id` and the refused `epoch`) when it refuses a commit
/// of an old epoch (`agent_hub::hub::Hub::commit`).
const STALE_COMMIT_REFUSED: &str = "stale commit refused (fenced)";

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
    let on_a = |agents: &[Value]| {
        agents.iter().any(|listed| {
            listed["agent_id"] == agent.as_str()
                && listed["latest_run"]["node_id"] == node_a.as_str()
                && listed["latest_run"]["status"] == "running"
        })
    };
    let agents = cluster.wait_for_agents("the run running on node-a", DEADLINE, on_a).await.expect("the run on node-a");
    let run_on_a =
        agents.iter().find(|listed| listed["agent_id"] == agent.as_str()).expect("listed")["latest_run"].clone();
    let run_id = run_on_a["run_id"].as_str().expect("a run id").to_owned();
    let epoch_on_a = run_on_a["epoch"].as_u64().expect("an epoch");
    wait_for_slow_request(&model).await;
    let node_b = cluster.add_node("node-b").await.expect("starting node-b");

    proxy.partition();
    assert!(slow_answer_sent_at(&model).is_none(), "the partition must start before A gets its slow answer");
    let agents = cluster.wait_until_completed(std::slice::from_ref(&agent), DEADLINE).await.expect("completed on B");
    assert_eq!(agents[0]["latest_run"]["node_id"], node_b.as_str(), "the run ended on node-b: {}", agents[0]);
    assert_eq!(agents[0]["latest_run"]["run_id"], run_id.as_str(), "the same run moved: {}", agents[0]);

    // Once A has its slow answer it commits it at its old epoch, into the partition. Heal
    // towards the hub only, so the stale commit is delivered before A can learn it lost the run,
    // and wait until the hub refused it.
    eventually("the model to answer node-a's slow request", SLOW_STEP + DEADLINE, || async {
        Observed::from_option(slow_answer_sent_at(&model), || "not answered".to_owned())
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    proxy.heal_direction(Direction::ToTarget);
    let refusal = wait_for_line(&cluster, "hub", &format!("a refused stale commit of run {run_id}"), |line| {
        line.contains(STALE_COMMIT_REFUSED) && line.contains(&run_id)
    })
    .await;
    assert!(refusal.contains(&format!("epoch={epoch_on_a}")), "the hub refused A's epoch {epoch_on_a}: {refusal}");
    proxy.heal();
    let stopped = wait_for_line(&cluster, "node-a", "node-a to stop the run (fenced or membership lost)", |line| {
        line.contains("fenced") || line.contains("membership lost")
    })
    .await;
    eprintln!("hub: {refusal}\nnode-a: {stopped}");

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

/// Waits until the log of `process` (`hub` or a node) has a line satisfying `matches`; returns
/// that line.
async fn wait_for_line(cluster: &ProcessCluster, process: &str, what: &str, matches: impl Fn(&str) -> bool) -> String {
    let what = format!("{what} in {process}.log (logs in {})", cluster.logs_dir().display());
    eventually(&what, DEADLINE, || async {
        let log = cluster.log(process);
        let line = log.lines().find(|line| matches(line)).map(str::to_owned);
        Observed::from_option(line, || format!("{} lines", log.lines().count()))
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"))
}

/// Waits until the model got its first request: node-a asking for step 0, answered after
/// [`SLOW_STEP`].
async fn wait_for_slow_request(model: &ScriptedModel) {
    eventually("node-a to ask the model", DEADLINE, || async {
        Observed::from_option(model.requests().first().map(|_| ()), || "no request".to_owned())
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
}

/// Returns when the model sent its answer to the first (slow) request, if it did.
fn slow_answer_sent_at(model: &ScriptedModel) -> Option<tokio::time::Instant> {
    model.requests().first().and_then(|request| request.answered_at)
}
