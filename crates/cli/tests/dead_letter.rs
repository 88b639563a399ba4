//! Bounded redeliveries: a run whose every attempt fails on its node is not retried forever nor
//! silently dropped. After `--max-deliveries` failed deliveries the node fails it with the last
//! failure kept (the dead-letter state), shown by `agentry ps` and in the trace; the node stays
//! healthy and runs the agent's next message once the fault is gone.

use std::time::Duration;

use agentry_test_util::{NatsServer, PgTestDatabase, ProcessCluster, ProcessClusterConfig, Reply, ScriptedModel};

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_keeps_failing_is_dead_lettered_with_its_reason() {
    let model = ScriptedModel::start(vec![Reply::text("fine")], Duration::ZERO).await.expect("scripted model");
    let database = PgTestDatabase::create().await.expect("creating a test database");
    let nats = NatsServer::start().expect("starting nats-server");
    let mut config =
        ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
    config.max_deliveries = Some(2);
    let cluster = ProcessCluster::start(config, 1).await.expect("starting the cluster");

    // The node's workspace root turns into a file: every attempt fails to create the run's
    // workspace, a fault the node cannot fix by retrying.
    let workspace_root = cluster.logs_dir().join("workspaces").join("node-1");
    std::fs::remove_dir_all(&workspace_root).expect("removing the workspace root");
    std::fs::write(&workspace_root, "not a directory").expect("blocking the workspace root");

    let agent = cluster.spawn(&["--model", "openai:scripted", "--input", "doomed"]).await.expect("spawn");
    let agents = cluster
        .wait_for_agents("the run to end", DEADLINE, |agents| {
            agents.iter().any(|entry| entry["agent_id"] == agent.as_str() && entry["latest_run"]["status"] == "failed")
        })
        .await
        .expect("the run is dead-lettered");
    let run = &agents.iter().find(|entry| entry["agent_id"] == agent.as_str()).unwrap()["latest_run"];
    let error = run["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("dead-lettered after 2 failed deliveries; last failure: workspace "), "{error}");
    assert!(error.contains("node-1"), "the reason names the failing path: {error}");

    let trace = cluster.trace(&agent).await.expect("trace");
    let failed: Vec<_> = trace.iter().filter(|event| event["type"] == "run_failed").collect();
    assert_eq!(failed.len(), 1, "one run_failed: {trace:?}");
    assert_eq!(
        (failed[0]["data"]["dead_letter"].as_bool(), failed[0]["data"]["deliveries"].as_u64()),
        (Some(true), Some(2))
    );
    assert_eq!(model.requests().len(), 0, "no attempt got as far as the model");
    let listing = cluster.client(&["ps"]).await.expect("ps");
    assert!(String::from_utf8_lossy(&listing.stdout).contains("dead-lettered"), "ps shows the reason");
    // `ps --status dead-lettered` finds it by the node's marker, like `--status failed` does.
    let listed_ids = |listing: serde_json::Value| -> Vec<String> {
        let agents = listing.as_array().cloned().unwrap_or_default();
        agents.iter().filter_map(|entry| entry["agent_id"].as_str().map(str::to_owned)).collect()
    };
    let dead = cluster.json(&["ps", "--status", "dead-lettered", "-o", "json"]).await.expect("ps --status");
    assert_eq!(listed_ids(dead), vec![agent.clone()]);
    let prefix = &agent[..30];
    let found = cluster.json(&["ps", "--status", "failed", "--search", prefix, "-o", "json"]).await.expect("ps");
    assert_eq!(listed_ids(found), vec![agent.clone()]);

    // The fault is repaired: the same node runs the agent's next message.
    std::fs::remove_file(&workspace_root).expect("unblocking the workspace root");
    let sent = cluster.client(&["send", &agent, "again"]).await.expect("send");
    assert!(sent.status.success(), "send: {}", String::from_utf8_lossy(&sent.stderr));
    cluster
        .wait_for_agents("the next run to complete", DEADLINE, |agents| {
            agents
                .iter()
                .any(|entry| entry["agent_id"] == agent.as_str() && entry["latest_run"]["status"] == "completed")
        })
        .await
        .expect("the next run completes");
    // Its latest run completed: it is no dead letter any more.
    let dead = cluster.json(&["ps", "--status", "dead-lettered", "-o", "json"]).await.expect("ps --status");
    assert_eq!(listed_ids(dead), Vec::<String>::new());
    let completed = cluster.json(&["ps", "--status", "completed", "--limit", "1", "-o", "json"]).await.expect("ps");
    assert_eq!(listed_ids(completed), vec![agent.clone()]);
}
