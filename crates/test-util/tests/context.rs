//! Context management through the cluster: a 60-step run on a model with a small context
//! window completes; older turns are summarised and each `summary` is committed once — also
//! when the run is paused mid-way and resumed on another node, which builds its prompts from the
//! committed summary instead of summarising again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;

use agentry_core::models::{ModelConfig, ModelsConfig};
use agentry_proto::v1 as pb;
use agentry_test_util::{Backend, Cluster, Observed, Reply, ScriptedModel, eventually};

const STEPS: usize = 60;
/// The step at which the run is paused and moved to the other node.
const MOVE_AT: usize = 30;
const TIMEOUT: Duration = Duration::from_secs(120);

fn data(event: &pb::TraceEvent) -> Value {
    serde_json::from_str(&event.data).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_on_a_small_window_is_summarised_once_per_cut_across_a_move() {
    let mut script: Vec<Reply> = (0..STEPS).map(|step| Reply::tool("echo", json!({ "text": step }))).collect();
    script.push(Reply::text("done"));
    let model = ScriptedModel::start(script, Duration::ZERO).await.unwrap();
    let gate = Arc::new(Notify::new());
    model.hold_step(MOVE_AT, gate.clone());
    let small = ModelConfig {
        base_url: Some(model.base_url()),
        model: Some("scripted".into()),
        context_window: Some(400),
        max_output_tokens: Some(64),
        max_attempts: 1,
        ..ModelConfig::default()
    };
    let models = ModelsConfig { models: [("small".to_owned(), small)].into(), ..ModelsConfig::default() };
    let cluster = Cluster::start_with_models(Backend::Sqlite, 2, 1, &model.base_url(), models).await.unwrap();
    let mut client = cluster.client().await.unwrap();
    let spec = pb::AgentSpec {
        model: "small".into(),
        tools: vec!["echo".into()],
        max_iterations: (STEPS + 1) as u32,
        ..Default::default()
    };
    let spawned = cluster.spawn(spec, Some("count with echo".into())).await.unwrap();

    // Move the run while step MOVE_AT's answer is held: cordon its node, pause, resume.
    let requests =
        || model.requests().iter().filter(|request| request.step == MOVE_AT && request.answered_at.is_none()).count();
    eventually("the model to be asked for the held step", TIMEOUT, || async {
        if requests() == 1 { Observed::Ready(()) } else { Observed::NotYet("not yet".to_owned()) }
    })
    .await
    .unwrap();
    let run =
        client.get_run(pb::GetRunRequest { run_id: spawned.run_id.clone() }).await.unwrap().into_inner().run.unwrap();
    client.cordon_node(pb::CordonNodeRequest { node_id: run.node_id.clone() }).await.unwrap();
    client.pause_run(pb::PauseRunRequest { run_id: spawned.run_id.clone(), reason: "move".into() }).await.unwrap();
    gate.notify_one();
    client.resume_run(pb::ResumeRunRequest { run_id: spawned.run_id.clone(), ..Default::default() }).await.unwrap();

    let ended = cluster.wait_for_run_end(&spawned.run_id, TIMEOUT).await.unwrap();
    assert_eq!(ended.status, pb::RunStatus::Completed as i32, "{}", ended.error);
    let request = pb::TraceRequest { run_id: spawned.run_id.clone(), ..Default::default() };
    let events = cluster.trace(request, TIMEOUT).await.unwrap();
    let nodes: Vec<String> = events
        .iter()
        .filter(|event| event.r#type == "run_started")
        .map(|event| data(event)["node_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(nodes.len(), 2, "started, then resumed");
    assert_ne!(nodes[0], nodes[1], "resumed on the other node");

    let summaries: Vec<Value> = events.iter().filter(|event| event.r#type == "summary").map(data).collect();
    assert!(summaries.len() >= 3, "a 60-step run on a 400-token window is summarised repeatedly: {}", summaries.len());
    let covers: Vec<u64> = summaries.iter().map(|summary| summary["covers"].as_u64().unwrap()).collect();
    assert!(covers.windows(2).all(|pair| pair[0] < pair[1]), "each summary covers more than the last: {covers:?}");
    assert!(
        summaries.iter().all(|summary| summary["summarised"] == true
            && summary["tokens_after"].as_u64() < summary["tokens_before"].as_u64())
    );
    let summary_calls =
        model.requests().iter().filter(|request| request.user_input.contains("assistant called")).count();
    assert_eq!(summary_calls, summaries.len(), "every summary was asked for once and committed once");
    let steps = events.iter().filter(|event| event.r#type == "tool_end").count();
    assert_eq!(steps, STEPS, "every step ran once");
    for ((input, step), count) in model.requests_per_step() {
        if input.contains("assistant called") {
            continue;
        }
        let expected = if step == MOVE_AT { 2 } else { 1 };
        assert_eq!(count, expected, "step {step} was asked {count} times");
    }
    cluster.shutdown().await;
}
