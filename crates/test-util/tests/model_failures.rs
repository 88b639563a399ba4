//! Model failures through the cluster: an answer that is not JSON fails its step with a readable
//! reason while the same node goes on serving other runs, and a chain falls back past the
//! broken model, saying so in `model_start`. Both models are scripted servers speaking the real
//! chat completions wire format.

use std::time::Duration;

use serde_json::{Value, json};

use agentry_core::models::{ModelConfig, ModelsConfig};
use agentry_proto::v1 as pb;
use agentry_test_util::{Backend, Cluster, Reply, ScriptedModel};

const RUN_TIMEOUT: Duration = Duration::from_secs(30);

fn configured(base_url: String) -> ModelConfig {
    ModelConfig { base_url: Some(base_url), max_attempts: 1, ..ModelConfig::default() }
}

fn spec(model: &str) -> pb::AgentSpec {
    pb::AgentSpec { model: model.into(), tools: vec!["echo".into()], ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_one_model_fails_its_run_readably_while_the_node_serves_the_others() {
    let good =
        ScriptedModel::start(vec![Reply::tool("echo", json!({"text": "x"})), Reply::text("done")], Duration::ZERO)
            .await
            .unwrap();
    let broken =
        ScriptedModel::start(vec![Reply::Error(200, "{\"choices\": [oops".into())], Duration::ZERO).await.unwrap();
    let mut models = ModelsConfig::default();
    models.models.insert("good".into(), configured(good.base_url()));
    models.models.insert("broken".into(), configured(broken.base_url()));
    let cluster = Cluster::start_with_models(Backend::Sqlite, 1, 4, &good.base_url(), models).await.unwrap();

    let failing = cluster.spawn(spec("broken"), Some("will fail".into())).await.unwrap();
    let healthy: Vec<pb::SpawnResponse> = futures::future::try_join_all(
        (0..3).map(|index| cluster.spawn(spec("good"), Some(format!("healthy {index}")))),
    )
    .await
    .unwrap();
    let falling_back = cluster.spawn(spec("broken,good"), Some("falls back".into())).await.unwrap();

    let failed = cluster.wait_for_run_end(&failing.run_id, RUN_TIMEOUT).await.unwrap();
    assert_eq!(failed.status, pb::RunStatus::Failed as i32);
    assert!(
        failed.error.starts_with("model call failed: model answer could not be decoded:")
            && failed.error.contains("{\\\"choices\\\": [oops"),
        "{}",
        failed.error
    );
    for spawned in healthy.iter().chain([&falling_back]) {
        let run = cluster.wait_for_run_end(&spawned.run_id, RUN_TIMEOUT).await.unwrap();
        assert_eq!(run.status, pb::RunStatus::Completed as i32, "{}: {}", spawned.run_id, run.error);
    }
    let after = cluster.spawn(spec("good"), Some("after the failure".into())).await.unwrap();
    let run = cluster.wait_for_run_end(&after.run_id, RUN_TIMEOUT).await.unwrap();
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "the node still serves runs: {}", run.error);

    let request = pb::TraceRequest { run_id: falling_back.run_id.clone(), ..Default::default() };
    let events = cluster.trace(request, RUN_TIMEOUT).await.unwrap();
    let start = events.iter().find(|event| event.r#type == "model_start").expect("a model_start");
    let data: Value = serde_json::from_str(&start.data).unwrap();
    assert_eq!(data["model"], "good", "{data}");
    assert_eq!(data["reference"], "broken,good");
    assert_eq!(data["fallbacks"][0]["model"], "broken");
    assert!(data["fallbacks"][0]["error"].as_str().unwrap().contains("could not be decoded"), "{data}");
    cluster.shutdown().await;
}
