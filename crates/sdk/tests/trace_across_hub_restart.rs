//! `Client::follow_trace` against a real in-process cluster (hub + node on SQLite and the
//! in-process broker): the hub restarts while a followed run executes, and the follower still
//! receives every event of the run exactly once, in order, ending with the run's end.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use agentry_sdk::proto::{AgentSpec, TraceRequest};
use agentry_sdk::{Client, FollowOptions, event_kind};
use agentry_test_util::{Backend, Cluster, Reply, ScriptedModel};

const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Model latency per step: the run is still executing when the hub restarts.
const MODEL_LATENCY: Duration = Duration::from_millis(800);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_run_survives_a_hub_restart() {
    let script = vec![
        Reply::tool("echo", json!({ "text": "one" })),
        Reply::tool("echo", json!({ "text": "two" })),
        Reply::tool("echo", json!({ "text": "three" })),
        Reply::text("done"),
    ];
    let model = ScriptedModel::start(script, MODEL_LATENCY).await.unwrap();
    let mut cluster = Cluster::start(Backend::Sqlite, 1, &model.base_url()).await.unwrap();
    let spec = AgentSpec { model: "openai:scripted".into(), tools: vec!["echo".into()], ..AgentSpec::default() };
    let spawned = cluster.spawn(spec, Some("go".into())).await.unwrap();

    let client = Client::connect(cluster.hub_url.clone()).await.unwrap();
    let options = FollowOptions {
        backoff_start: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        ..FollowOptions::default()
    };
    let request = TraceRequest { run_id: spawned.run_id.clone(), follow: true, ..TraceRequest::default() };
    let mut events = client.follow_trace_with(request, options);
    let mut received = Vec::new();
    while received.len() < 3 {
        let next = tokio::time::timeout(RUN_TIMEOUT, events.next()).await.expect("trace stalled");
        received.push(next.expect("an event").expect("no error"));
    }

    cluster.restart_hub().await.unwrap();
    let before_restart = received.len();
    let rest = async {
        while let Some(event) = events.next().await {
            received.push(event.expect("the follower reconnects"));
        }
    };
    tokio::time::timeout(RUN_TIMEOUT, rest).await.expect("the trace did not end in time");

    assert!(received.len() > before_restart, "events after the restart");
    let last = received.last().unwrap();
    assert!(event_kind::ends_run(&last.r#type), "ends with the run's end: {}", last.r#type);
    // Exactly the persisted trace of the run: no gap, no repeat.
    let replay = TraceRequest { agent_id: spawned.agent_id.clone(), ..TraceRequest::default() };
    let persisted = cluster.trace(replay, RUN_TIMEOUT).await.unwrap();
    assert_eq!(received, persisted);
    cluster.shutdown().await;
}
