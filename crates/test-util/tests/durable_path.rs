//! The durable path end to end: a client spawns an agent over gRPC, a node runs it against a
//! scripted OpenAI-compatible server with two tool calls, every step is committed, and the
//! trace replays and tails with contiguous `seq`. Run on PostgreSQL + JetStream and on
//! SQLite + the in-process broker.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tonic::Code;

use agentry_core::RunId;
use agentry_proto::v1 as pb;
use agentry_test_util::{Backend, Cluster, Reply, ScriptedModel};

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

const EXPECTED_RUN_EVENTS: [&str; 16] = [
    "run_started",
    "step_start",
    "model_start",
    "usage",
    "tool_start",
    "tool_end",
    "step_start",
    "model_start",
    "usage",
    "tool_start",
    "tool_end",
    "step_start",
    "model_start",
    "usage",
    "final",
    "run_finished",
];

fn script() -> Vec<Reply> {
    vec![
        Reply::tool("echo", json!({ "text": "hello from echo" })),
        Reply::tool("bash", json!({ "command": "echo from-bash > out.txt && cat out.txt" })),
        Reply::text("done: hello from echo, from-bash"),
    ]
}

fn spec() -> pb::AgentSpec {
    pb::AgentSpec {
        model: "openai:scripted".into(),
        tools: vec!["echo".into(), "bash".into()],
        system: "You are a test agent.".into(),
        max_iterations: 8,
        temperature: Some(0.5),
        ..Default::default()
    }
}

/// Collects a trace stream until it ends or the followed run ends.
async fn collect_trace(cluster: &Cluster, request: pb::TraceRequest) -> Vec<pb::TraceEvent> {
    cluster.trace(request, RUN_TIMEOUT).await.unwrap()
}

fn kinds(events: &[pb::TraceEvent]) -> Vec<&str> {
    events.iter().map(|event| event.r#type.as_str()).collect()
}

fn data(event: &pb::TraceEvent) -> Value {
    serde_json::from_str(&event.data).unwrap()
}

async fn two_tool_calls_run_to_completion(backend: Backend) {
    let model = ScriptedModel::start(script(), Duration::ZERO).await.unwrap();
    let cluster = Cluster::start(backend, 2, &model.base_url()).await.unwrap();
    let mut client = cluster.client().await.unwrap();

    let spawned = cluster.spawn(spec(), Some("say hello".into())).await.unwrap();
    // Follow the run live from seq 0 while it executes.
    let live = collect_trace(
        &cluster,
        pb::TraceRequest { run_id: spawned.run_id.clone(), follow: true, ..Default::default() },
    );
    let live = live.await;
    let run = cluster.wait_for_run_end(&spawned.run_id, RUN_TIMEOUT).await.unwrap();
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "run failed: {}", run.error);

    // The live trace: the expected sequence, contiguous seq from 1, all of this agent and run.
    assert_eq!(kinds(&live), EXPECTED_RUN_EVENTS);
    let seqs: Vec<u64> = live.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=16).collect::<Vec<u64>>());
    assert!(live.iter().all(|event| event.agent_id == spawned.agent_id && event.run_id == spawned.run_id));
    assert_eq!(data(&live[0])["node_id"], run.node_id);
    assert_eq!(data(&live[5])["output"], "hello from echo");
    assert_eq!(data(&live[9])["name"], "bash");
    assert!(data(&live[10])["output"].as_str().unwrap().contains("from-bash"));
    assert_eq!(data(&live[14])["content"], "done: hello from echo, from-bash");
    assert_eq!(data(&live[3])["prompt_tokens"], 10);

    // Replay after k returns exactly the events after k.
    for after_seq in [0, 5, 15, 16] {
        let replay = collect_trace(
            &cluster,
            pb::TraceRequest { agent_id: spawned.agent_id.clone(), after_seq, ..Default::default() },
        )
        .await;
        assert_eq!(replay, live[after_seq as usize..].to_vec(), "replay after {after_seq}");
    }

    // Exactly one model request per step; the third saw both tool results.
    let requests = model.requests();
    assert_eq!(requests.iter().map(|request| request.step).collect::<Vec<_>>(), [0, 1, 2]);
    let third = &requests[2].body["messages"];
    assert_eq!(third[0]["role"], "system");
    assert_eq!(requests[0].body["temperature"], 0.5, "the spec's temperature reaches the model");
    assert_eq!(third.as_array().unwrap().iter().filter(|message| message["role"] == "tool").count(), 2);

    // The conversation is durable: user, 2 × (answer + tool result), final answer.
    let context = cluster.store.load_run(spawned.run_id.parse::<RunId>().unwrap(), run.epoch).await.unwrap();
    let roles: Vec<&str> = context.messages.iter().map(|stored| stored.message.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant", "tool", "assistant"]);
    assert_eq!(context.messages.iter().map(|stored| stored.index).collect::<Vec<_>>(), (0..6).collect::<Vec<u64>>());

    // A second message continues the conversation on the same node (sticky placement); its
    // events continue the agent's seq.
    let sent = client
        .send_message(pb::SendMessageRequest {
            agent_id: spawned.agent_id.clone(),
            input: "again".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(sent.accepted);
    let second = collect_trace(
        &cluster,
        pb::TraceRequest { run_id: sent.run_id.clone(), after_seq: 16, follow: true, ..Default::default() },
    )
    .await;
    assert_eq!(kinds(&second), EXPECTED_RUN_EVENTS);
    assert_eq!(second.iter().map(|event| event.seq).collect::<Vec<_>>(), (17..=32).collect::<Vec<u64>>());
    let second_run = cluster.wait_for_run_end(&sent.run_id, RUN_TIMEOUT).await.unwrap();
    assert_eq!(second_run.status, pb::RunStatus::Completed as i32);
    assert_eq!(second_run.node_id, run.node_id, "an agent's next run sticks to the node that ran its last one");
    let fourth = &model.requests()[3].body["messages"];
    assert_eq!(fourth.as_array().unwrap().len(), 1 + 6 + 1, "the second run sees the whole conversation");

    let agent = client
        .get_agent(pb::GetAgentRequest { agent_id: spawned.agent_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .agent
        .unwrap();
    assert_eq!(agent.last_seq, 32);
    assert_eq!(agent.latest_run.unwrap().run_id, sent.run_id);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tool_calls_on_postgres_and_jetstream() {
    two_tool_calls_run_to_completion(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tool_calls_on_sqlite_and_in_process_broker() {
    two_tool_calls_run_to_completion(Backend::Sqlite).await;
}

/// A follower that connects before the run starts sees every event once, live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_attached_before_the_run_misses_nothing() {
    let model = ScriptedModel::start(script(), Duration::from_millis(100)).await.unwrap();
    let cluster = Cluster::start(Backend::Postgres, 1, &model.base_url()).await.unwrap();
    let mut client = cluster.client().await.unwrap();
    let idle = client.spawn(pb::SpawnRequest { spec: Some(spec()), ..Default::default() }).await.unwrap().into_inner();
    assert!(idle.run_id.is_empty(), "no input, no run");
    let follow = pb::TraceRequest { agent_id: idle.agent_id.clone(), follow: true, ..Default::default() };
    let mut stream = client.trace(follow).await.unwrap().into_inner();
    let sent = client
        .send_message(pb::SendMessageRequest {
            agent_id: idle.agent_id.clone(),
            input: "go".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while events.len() < EXPECTED_RUN_EVENTS.len() {
        let next = tokio::time::timeout(RUN_TIMEOUT, stream.next()).await.expect("trace stalled");
        events.push(next.unwrap().unwrap().event.unwrap());
    }
    assert_eq!(kinds(&events), EXPECTED_RUN_EVENTS);
    assert!(events.iter().all(|event| event.run_id == sent.run_id));
    assert_eq!(events.iter().map(|event| event.seq).collect::<Vec<_>>(), (1..=16).collect::<Vec<u64>>());
    cluster.shutdown().await;
}

/// Bad input gets a clear status and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_with_clear_statuses() {
    let model = ScriptedModel::start(script(), Duration::ZERO).await.unwrap();
    let cluster = Cluster::start(Backend::Sqlite, 1, &model.base_url()).await.unwrap();
    let mut client = cluster.client().await.unwrap();
    let unknown = RunId::generate().to_string();

    let status = client.get_agent(pb::GetAgentRequest { agent_id: unknown.clone() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains(&unknown), "{}", status.message());
    let status = client
        .send_message(pb::SendMessageRequest { agent_id: unknown.clone(), input: "hi".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let trace = pb::TraceRequest { agent_id: unknown.clone(), ..Default::default() };
    assert_eq!(client.trace(trace).await.unwrap_err().code(), Code::NotFound);
    let status = client.get_run(pb::GetRunRequest { run_id: unknown.clone() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let status = client.get_agent(pb::GetAgentRequest { agent_id: "not-an-id".into() }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("not a valid agent id"), "{}", status.message());

    let spawn = |input: &str| pb::SpawnRequest { spec: Some(spec()), input: Some(input.into()), ..Default::default() };
    let status = client.spawn(spawn("   ")).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (Code::InvalidArgument, "input must not be empty"));
    let oversized = "x".repeat(1024 * 1024 + 1);
    let status = client.spawn(spawn(&oversized)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("1048577 bytes; the limit is 1048576 bytes"), "{}", status.message());
    let mut bad_tool = spawn("hi");
    bad_tool.spec.as_mut().unwrap().tools.push("teleport".into());
    let status = client.spawn(bad_tool).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("unknown tool \"teleport\""), "{}", status.message());
    let no_spec = pb::SpawnRequest { input: Some("hi".into()), ..Default::default() };
    assert_eq!(client.spawn(no_spec).await.unwrap_err().code(), Code::InvalidArgument);

    // Nothing was created by the rejected calls; a valid agent still works afterwards.
    let agents = client.list_agents(pb::ListAgentsRequest::default()).await.unwrap().into_inner().agents;
    assert!(agents.is_empty(), "rejected spawns created {agents:?}");
    let idle = client.spawn(pb::SpawnRequest { spec: Some(spec()), ..Default::default() }).await.unwrap().into_inner();
    let empty = pb::SendMessageRequest { agent_id: idle.agent_id.clone(), input: String::new(), ..Default::default() };
    assert_eq!(client.send_message(empty).await.unwrap_err().code(), Code::InvalidArgument);
    let agent = client.get_agent(pb::GetAgentRequest { agent_id: idle.agent_id }).await.unwrap().into_inner();
    assert!(agent.agent.unwrap().latest_run.is_none(), "a rejected message created a run");
    cluster.shutdown().await;
}

/// The hub restarts while a run executes: the node's commits wait for it, and a follower that
/// reconnects with `after_seq` = the last seq it saw gets the rest, with no gap and no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_resumes_across_a_hub_restart() {
    let model = ScriptedModel::start(script(), Duration::from_millis(300)).await.unwrap();
    let mut cluster = Cluster::start(Backend::Postgres, 1, &model.base_url()).await.unwrap();
    let mut client = cluster.client().await.unwrap();
    let spawned = cluster.spawn(spec(), Some("say hello".into())).await.unwrap();
    let follow = pb::TraceRequest { run_id: spawned.run_id.clone(), follow: true, ..Default::default() };
    let mut stream = client.trace(follow).await.unwrap().into_inner();
    let mut events = Vec::new();
    while events.len() < 5 {
        let next = tokio::time::timeout(RUN_TIMEOUT, stream.next()).await.expect("trace stalled");
        events.push(next.unwrap().unwrap().event.unwrap());
    }

    cluster.restart_hub().await.unwrap();
    // The old stream ends (cleanly or with an error); the client resumes after its last seq.
    while let Ok(Some(Ok(item))) = tokio::time::timeout(RUN_TIMEOUT, stream.next()).await {
        events.push(item.event.unwrap());
    }
    let last_seq = events.last().unwrap().seq;
    let resumed = collect_trace(
        &cluster,
        pb::TraceRequest { run_id: spawned.run_id.clone(), after_seq: last_seq, follow: true, ..Default::default() },
    )
    .await;
    events.extend(resumed);

    assert_eq!(kinds(&events), EXPECTED_RUN_EVENTS);
    assert_eq!(events.iter().map(|event| event.seq).collect::<Vec<_>>(), (1..=16).collect::<Vec<u64>>());
    let run = cluster.wait_for_run_end(&spawned.run_id, RUN_TIMEOUT).await.unwrap();
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{}", run.error);
    let per_step = model.requests_per_step();
    assert!(per_step.values().all(|count| *count == 1), "a step was requested twice: {per_step:?}");
    cluster.shutdown().await;
}
