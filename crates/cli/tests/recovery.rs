//! The services crash under load: the hub process (kill -9, restarted on the same port), NATS
//! (killed and restarted with its JetStream store) and PostgreSQL (killed and restarted, crash
//! recovery). Every run completes, traces have contiguous seqs and one `final`, no committed
//! model answer is requested again, and a client following a trace across a hub crash misses
//! nothing (see `common::faults::check_agents`).

mod common;

use std::time::Duration;

use agentry_test_util::trace_check::check_seqs;
use agentry_test_util::{
    NatsServer, PgTestDatabase, PostgresServer, ProcessCluster, ProcessClusterConfig, ScriptedModel,
};

use common::faults::{COMPLETION_DEADLINE, SPAWN_ARGS, check_agents, inputs, jittered_model};

/// How long to wait for the load to be under way before a fault.
const LOAD_DEADLINE: Duration = Duration::from_secs(30);
/// How long a service stays down.
const DOWNTIME: Duration = Duration::from_millis(1500);

/// Starts a model answering in 300–450 ms.
async fn model() -> ScriptedModel {
    jittered_model(Duration::from_millis(300), Duration::from_millis(150)).await
}

/// Returns a config of 3 nodes with 4 slots on `database_url` and `nats_url`.
fn config(database_url: &str, nats_url: &str, model: &ScriptedModel) -> ProcessClusterConfig {
    ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database_url, nats_url, model.base_url())
}

/// Waits until at least `count` agents are past their second step but not done.
async fn wait_for_load(cluster: &ProcessCluster, count: usize) {
    cluster
        .wait_for_agents("runs in progress", LOAD_DEADLINE, |agents| {
            let in_progress = |agent: &&serde_json::Value| {
                agent["latest_run"]["status"] == "running" && agent["last_seq"].as_u64() >= Some(8)
            };
            agents.iter().filter(in_progress).count() >= count
        })
        .await
        .expect("runs in progress");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_crash_loses_nothing_and_followers_miss_nothing() {
    let model = model().await;
    let database = PgTestDatabase::create().await.expect("creating a test database");
    let nats = NatsServer::start().expect("starting nats-server");
    let mut cluster = ProcessCluster::start(config(database.url(), &nats.url(), &model), 3).await.expect("cluster");
    let inputs = inputs("hub crash agent", 24);
    let agents = cluster.spawn_agents(&inputs, &SPAWN_ARGS).await.expect("spawning");
    let mut followers: Vec<_> =
        agents.iter().take(3).map(|agent| cluster.follow_trace(agent).expect("following a trace")).collect();

    wait_for_load(&cluster, 4).await;
    cluster.kill_hub().await.expect("killing the hub");
    tokio::time::sleep(DOWNTIME).await;
    cluster.start_hub().await.expect("restarting the hub");
    cluster.wait_until_completed(&agents, COMPLETION_DEADLINE).await.expect("every run completed");

    let summaries = check_agents(&cluster, &model, &agents, &inputs).await;
    for ((agent, summary), mut follower) in agents.iter().zip(&summaries).zip(followers.drain(..)) {
        let what = format!("seq {} of {agent}", summary.last_seq);
        let last_seq = summary.last_seq;
        follower
            .wait_for(&what, Duration::from_secs(20), |events| {
                events.iter().any(|event| event["seq"].as_u64() == Some(last_seq))
            })
            .await
            .expect("the follower got every event");
        let followed = follower.stop().await.expect("the follower's events");
        check_seqs(&followed).unwrap_or_else(|problem| panic!("follower of {agent}: {problem}"));
        let followed_last = followed.iter().filter_map(|event| event["seq"].as_u64()).max();
        assert_eq!(followed_last, Some(last_seq), "follower of {agent} printed up to the last event");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_loses_nothing() {
    let model = model().await;
    let database = PgTestDatabase::create().await.expect("creating a test database");
    let mut nats = NatsServer::start().expect("starting nats-server");
    let cluster = ProcessCluster::start(config(database.url(), &nats.url(), &model), 3).await.expect("cluster");
    let mut inputs = inputs("nats restart agent", 24);
    let mut agents = cluster.spawn_agents(&inputs, &SPAWN_ARGS).await.expect("spawning");

    wait_for_load(&cluster, 4).await;
    nats.kill();
    tokio::time::sleep(DOWNTIME).await;
    tokio::task::block_in_place(|| nats.restart()).expect("restarting nats-server");
    // Work submitted after the restart flows too.
    let late_inputs: Vec<String> = (0..4).map(|index| format!("after nats restart {index}")).collect();
    agents.extend(cluster.spawn_agents(&late_inputs, &SPAWN_ARGS).await.expect("spawning after the restart"));
    inputs.extend(late_inputs);
    cluster.wait_until_completed(&agents, COMPLETION_DEADLINE).await.expect("every run completed");

    check_agents(&cluster, &model, &agents, &inputs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_crash_loses_nothing() {
    let model = model().await;
    let mut postgres = tokio::task::block_in_place(PostgresServer::start).expect("starting PostgreSQL");
    let database_url = postgres.create_database("agentry").expect("creating the database");
    let nats = NatsServer::start().expect("starting nats-server");
    let cluster = ProcessCluster::start(config(&database_url, &nats.url(), &model), 3).await.expect("cluster");
    let inputs = inputs("postgres crash agent", 24);
    let agents = cluster.spawn_agents(&inputs, &SPAWN_ARGS).await.expect("spawning");

    wait_for_load(&cluster, 4).await;
    tokio::task::block_in_place(|| postgres.kill());
    tokio::time::sleep(DOWNTIME).await;
    tokio::task::block_in_place(|| postgres.restart()).expect("restarting PostgreSQL");
    cluster.wait_until_completed(&agents, COMPLETION_DEADLINE).await.expect("every run completed");

    check_agents(&cluster, &model, &agents, &inputs).await;
}
