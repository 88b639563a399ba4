//! `spawn --follow` and `send --follow` against `agentry dev` driven by a scripted model: the
//! trace is printed until the run ends, and the exit code says whether it completed.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use agentry_test_util::scripted_model::{Reply, ScriptedModel};

use common::{DevProcess, stderr_lines};

/// Starts a scripted model server on its own runtime (kept alive by the returned value).
fn scripted_model(script: Vec<Reply>) -> (tokio::runtime::Runtime, ScriptedModel) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let model = runtime.block_on(ScriptedModel::start(script, Duration::ZERO)).expect("scripted model");
    (runtime, model)
}

#[test]
fn followed_runs_print_their_trace_and_exit_by_outcome() {
    let script = vec![Reply::tool("echo", json!({ "text": "ping" })), Reply::text("the answer\nin two lines")];
    let (_runtime, model) = scripted_model(script);
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut dev = DevProcess::start_with_env(data_dir.path(), &[("OPENAI_BASE_URL", &model.base_url())]);
    dev.wait_until_ready();

    let spawned =
        dev.client(&["spawn", "--model", "openai:scripted", "--tools", "echo", "--input", "hello", "--follow"]);
    assert_eq!(spawned.status.code(), Some(0), "{:?}", stderr_lines(&spawned));
    let stdout = String::from_utf8_lossy(&spawned.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    let agent_id = lines[0];
    assert!(uuid::Uuid::parse_str(agent_id).is_ok(), "first line is the agent id: {stdout}");
    let kinds: Vec<&str> = lines[1..].iter().filter_map(|line| line.split(' ').nth(2)).collect();
    assert_eq!(kinds.first(), Some(&"run_started"), "{stdout}");
    assert_eq!(kinds.last(), Some(&"run_finished"), "{stdout}");
    assert!(lines.iter().any(|line| line.contains(r#" tool_start echo {"text":"ping"}"#)), "{stdout}");
    assert!(lines.iter().any(|line| line.contains(" tool_end echo ping")), "{stdout}");
    assert!(stdout.contains(" final the answer\nin two lines\n"), "the answer is printed in full: {stdout}");

    let sent = dev.client(&["send", agent_id, "again", "--follow", "--jsonl"]);
    assert_eq!(sent.status.code(), Some(0), "{:?}", stderr_lines(&sent));
    let stdout = String::from_utf8_lossy(&sent.stdout).into_owned();
    let mut lines = stdout.lines();
    let run_id = lines.next().expect("the run id");
    let events: Vec<Value> = lines.map(|line| serde_json::from_str(line).expect("a JSON line")).collect();
    assert!(events.iter().all(|event| event["agent_id"] == agent_id && event["run_id"] == run_id), "{stdout}");
    assert!(events.iter().all(|event| event["data"].is_object() && event["ts"].is_string()), "{stdout}");
    let (tokens, committed): (Vec<&Value>, Vec<&Value>) = events.iter().partition(|event| event["type"] == "token");
    let seqs: Vec<u64> = committed.iter().filter_map(|event| event["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "increasing seqs: {seqs:?}");
    // The answer's text may stream ahead of its commit, as ephemeral events without a seq — all
    // of it, or none when the node streamed before this follower subscribed (the `tokens` test
    // of crates/test-util covers streaming deterministically).
    assert!(tokens.iter().all(|event| event["seq"] == 0), "{stdout}");
    let streamed: String = tokens.iter().filter_map(|event| event["data"]["text"].as_str()).collect();
    assert!(streamed.is_empty() || streamed == "the answer\nin two lines", "{stdout}");
    assert_eq!(events.last().map(|event| event["type"].clone()), Some(json!("run_finished")));

    let trace = dev.client(&["trace", agent_id, "--after", "2"]);
    assert!(trace.status.success(), "{:?}", stderr_lines(&trace));
    let first = String::from_utf8_lossy(&trace.stdout).lines().next().map(str::to_owned).unwrap_or_default();
    assert!(first.starts_with("#3 "), "events after seq 2 only: {first}");

    dev.terminate();
}

#[test]
fn a_failed_followed_run_exits_with_1_and_its_reason() {
    let (_runtime, model) = scripted_model(vec![Reply::Error(400, "model does not exist".to_owned())]);
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut dev = DevProcess::start_with_env(data_dir.path(), &[("OPENAI_BASE_URL", &model.base_url())]);
    dev.wait_until_ready();

    let spawned = dev.client(&["spawn", "--model", "openai:missing", "--input", "hello", "--follow"]);
    let lines = stderr_lines(&spawned);
    assert_eq!(spawned.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("error: run ") && lines[0].contains(" failed: "), "{lines:?}");
    let stdout = String::from_utf8_lossy(&spawned.stdout).into_owned();
    assert!(stdout.lines().last().is_some_and(|line| line.contains(" run_failed ")), "{stdout}");

    let agents = dev.client(&["ps", "--output", "json"]);
    let agents: Value = serde_json::from_slice(&agents.stdout).expect("ps JSON");
    assert_eq!(agents[0]["latest_run"]["status"], "failed", "{agents}");
    dev.terminate();
}
