//! The hub's background tasks are supervised. The placer's policy is to restart: a panic
//! injected into one of its store calls is reported with the task's name and policy, the
//! placer starts again, and the run it had to place is placed and completes — nothing lost,
//! the hub keeps serving.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use agent_hub::server::PLACER_POLICY;
use agent_hub::{HubConfig, HubServer};
use agent_node::{Node, NodeConfig};
use agentry_broker::Broker;
use agentry_proto::v1 as pb;
use agentry_proto::v1::agent_hub_client::AgentHubClient;
use agentry_store::SqliteStore;
use agentry_supervisor::Policy;
use agentry_test_util::faulty_store::FaultyStore;
use agentry_test_util::{Reply, ScriptedModel};

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_placer_is_reported_and_restarted_and_its_run_still_completes() {
    assert_eq!(PLACER_POLICY, Policy::Restart, "the policy this test proves");
    let model = ScriptedModel::start(vec![Reply::text("placed after the panic")], Duration::ZERO)
        .await
        .expect("starting the scripted model");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite = SqliteStore::open(&dir.path().join("agentry.db")).await.expect("opening SQLite");
    let store = Arc::new(FaultyStore::new(Arc::new(sqlite)));
    // The placer's next store read panics, whichever pass makes it.
    store.panic_once("placeable_runs");

    let broker = Broker::in_process();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding");
    let hub_url = format!("http://{}", listener.local_addr().expect("the address"));
    // The store is injected; the URL only has to be valid.
    let server =
        HubServer::new(HubConfig::for_test("sqlite::memory:")).with_store(store.clone()).with_broker(broker.clone());
    let supervisor = server.supervisor();
    let mut failures = supervisor.failures();
    let hub_stop = CancellationToken::new();
    let hub = tokio::spawn(server.serve(listener, hub_stop.clone()));
    let node_config = NodeConfig::for_test(hub_url.clone(), dir.path().join("workspaces"), model.base_url());
    let node_stop = CancellationToken::new();
    let node = tokio::spawn(Node::new(node_config).with_queue(broker.tasks.clone()).run(node_stop.clone()));

    let reported = tokio::time::timeout(TIMEOUT, failures.wait_for(|failures| !failures.is_empty()))
        .await
        .expect("the placer's panic was reported in time")
        .expect("the supervisor is alive")
        .clone();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0].task, "placer");
    assert_eq!(reported[0].policy, Policy::Restart);
    assert!(reported[0].reason.contains("injected panic in placeable_runs"), "{reported:?}");
    assert!(!store.is_armed());

    let mut client = AgentHubClient::connect(hub_url).await.expect("connecting to the hub");
    let spec = pb::AgentSpec { model: "openai:scripted".into(), ..pb::AgentSpec::default() };
    let spawned = client
        .spawn(pb::SpawnRequest { spec: Some(spec), input: Some("place me".into()), ..Default::default() })
        .await
        .expect("spawn")
        .into_inner();
    // A followed run's trace ends with the run: no polling.
    let request = pb::TraceRequest { run_id: spawned.run_id.clone(), follow: true, ..Default::default() };
    let trace = client.trace(request).await.expect("trace").into_inner();
    let events: Vec<pb::TraceEvent> =
        tokio::time::timeout(TIMEOUT, trace.filter_map(|item| async move { item.ok()?.event }).collect())
            .await
            .expect("the run ended in time");
    let kinds: Vec<&str> = events.iter().map(|event| event.r#type.as_str()).collect();
    assert_eq!(kinds.last(), Some(&"run_finished"), "{kinds:?}");
    assert!(events.iter().any(|event| event.r#type == "final" && event.data.contains("placed after the panic")));

    assert!(supervisor.restarts("placer") >= 1, "the placer was restarted");
    assert!(!supervisor.failed().is_cancelled(), "a restartable task does not stop the hub");
    node_stop.cancel();
    node.await.expect("node task").expect("the node stopped cleanly");
    hub_stop.cancel();
    hub.await.expect("hub task").expect("the hub stopped cleanly");
}
