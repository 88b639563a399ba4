//! Streamed model text through the cluster: a follower that takes ephemeral events gets the
//! answer's text as `token` events (seq 0) while the model is still answering — before the
//! step's commit — and a replay of the same trace has none of them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use agentry_core::AgentId;
use agentry_proto::v1 as pb;
use agentry_test_util::{Backend, Cluster, Reply, ScriptedModel};

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_events_reach_a_follower_before_the_commit_and_are_absent_from_a_replay() {
    let gate = Arc::new(Notify::new());
    let reply = Reply::HeldText { first: "Hello ".into(), rest: "world".into(), gate: gate.clone() };
    let model = ScriptedModel::start(vec![reply], Duration::ZERO).await.unwrap();
    let cluster = Cluster::start(Backend::Sqlite, 1, &model.base_url()).await.unwrap();
    let mut client = cluster.client().await.unwrap();
    let spec = pb::AgentSpec { model: "openai:scripted".into(), ..Default::default() };
    let agent_id = cluster.spawn(spec, None).await.unwrap().agent_id;
    // Follow first, so the node finds a follower when it streams.
    let follow =
        pb::TraceRequest { agent_id: agent_id.clone(), follow: true, include_ephemeral: true, ..Default::default() };
    let mut trace = client.trace(follow).await.unwrap().into_inner();
    let send = pb::SendMessageRequest { agent_id: agent_id.clone(), input: "greet".into(), ..Default::default() };
    let run_id = client.send_message(send).await.unwrap().into_inner().run_id;

    let mut received = Vec::new();
    let first_token = tokio::time::timeout(TIMEOUT, async {
        loop {
            let event = trace.message().await.unwrap().expect("the trace ended early").event.unwrap();
            received.push(event.clone());
            if event.r#type == "token" {
                return event;
            }
        }
    })
    .await
    .expect("no token event while the model answers");
    assert_eq!(first_token.seq, 0, "ephemeral events have no seq");
    assert_eq!(first_token.run_id, run_id);
    let data: Value = serde_json::from_str(&first_token.data).unwrap();
    assert_eq!((data["text"].as_str(), data["step"].as_u64()), (Some("Hello "), Some(1)));
    // The model is still held: its answer is not committed yet.
    let agent: AgentId = agent_id.parse().unwrap();
    let committed = cluster.store.events_after(agent, None, 0, 100).await.unwrap();
    assert!(committed.iter().all(|event| event.kind != "usage" && event.kind != "final"), "{committed:?}");

    gate.notify_one();
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let event = trace.message().await.unwrap().expect("the trace ended early").event.unwrap();
            let finished = event.r#type == "run_finished";
            received.push(event);
            if finished {
                return;
            }
        }
    })
    .await
    .expect("the run did not finish");
    let tokens: Vec<String> = received
        .iter()
        .filter(|event| event.r#type == "token")
        .map(|event| serde_json::from_str::<Value>(&event.data).unwrap()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tokens.concat(), "Hello world");
    let final_position = received.iter().position(|event| event.r#type == "final").unwrap();
    let last_token = received.iter().rposition(|event| event.r#type == "token").unwrap();
    assert!(last_token < final_position, "every token comes before the committed answer");

    let replay = pb::TraceRequest { agent_id, include_ephemeral: true, ..Default::default() };
    let replayed = cluster.trace(replay, TIMEOUT).await.unwrap();
    assert!(
        replayed.iter().all(|event| event.r#type != "token" && event.seq > 0),
        "a replay holds committed events only"
    );
    let committed: Vec<&pb::TraceEvent> = received.iter().filter(|event| event.seq > 0).collect();
    assert_eq!(replayed.len(), committed.len(), "the follower got every committed event");
    cluster.shutdown().await;
}
