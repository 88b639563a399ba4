//! The SDK conformance scenario (`sdk/conformance/README.md`) against a real `agentry dev`:
//! run here with the Rust SDK, and by the Python and TypeScript SDKs' own test scripts
//! (`scripts/sdk-python.sh`, `scripts/sdk-typescript.sh`), which install what they need from
//! the registries, check their generated code is current, type-check the package and run the
//! scenario with the scripted model binary (`agentry-scripted-model`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;

use agentry_sdk::proto::{AgentSpec, RunStatus, SpawnRequest, SpawnResponse, TraceEvent, TraceRequest};
use agentry_sdk::{Client, ClientError, FollowOptions, event_kind};
use agentry_test_util::ScriptedModel;
use agentry_test_util::conformance::{Scenario, scenario_path};

use common::DevProcess;

/// How long a run of the scenario may take to end.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_passes_the_conformance_scenario() {
    let scenario = Scenario::load(&scenario_path()).unwrap();
    let model = ScriptedModel::start(scenario.replies(), scenario.latency()).await.unwrap();
    let base_url = model.base_url();
    // A grace of 0 s: a stopping `agentry dev` hands its running run back at once.
    let env =
        [("OPENAI_BASE_URL", base_url.as_str()), ("OPENAI_API_KEY", "scripted"), ("AGENTRY_SHUTDOWN_GRACE", "0s")];
    let data_dir = tempfile::tempdir().unwrap();
    let mut dev = DevProcess::start_with_env(data_dir.path(), &env);
    tokio::task::block_in_place(|| dev.wait_until_ready());
    let client = Client::connect(dev.hub_url()).await.unwrap();

    // 1. Spawn and follow.
    let first = spawn(&client, &scenario).await;
    let events = follow_run(&client, &first.run_id, &mut |_| {}).await;
    check_run_trace(&events, &first, &scenario);
    let run = client.get_run(&first.run_id).await.unwrap();
    assert_eq!(run.status(), RunStatus::Completed, "{run:?}");

    // 2. Trace after k.
    let after =
        TraceRequest { agent_id: first.agent_id.clone(), after_seq: scenario.trace_after, ..Default::default() };
    let replayed = collect(client.trace(after)).await;
    let k = usize::try_from(scenario.trace_after).unwrap();
    assert_eq!(replayed, events[k..].to_vec());

    // 3. Reconnect across a hub restart.
    let second = spawn(&client, &scenario).await;
    let port = dev.port();
    let mut restarted = false;
    let received = follow_run(&client, &second.run_id, &mut |event| {
        if !restarted && event.r#type == scenario.restart_after_event {
            tokio::task::block_in_place(|| {
                dev.terminate();
                dev = DevProcess::start_on(port, data_dir.path(), &env);
            });
            restarted = true;
        }
    })
    .await;
    assert!(restarted, "no {} event to restart the hub on", scenario.restart_after_event);
    // The stopping node handed the run back mid-run and the restarted one resumed it.
    assert!(received.iter().any(|event| event.r#type == event_kind::RUN_MOVED), "{received:?}");
    check_run_trace(&received, &second, &scenario);
    let persisted = TraceRequest { agent_id: second.agent_id.clone(), ..Default::default() };
    assert_eq!(received, collect(client.trace(persisted)).await, "the followed trace is the persisted one");

    // 4. Errors.
    let unknown = uuid::Uuid::now_v7().to_string();
    let error = client.get_run(&unknown).await.unwrap_err();
    assert_eq!(error.code(), Some(tonic::Code::NotFound), "{error}");
    assert!(error.to_string().contains(&unknown), "the message names the run: {error}");
    let blank = SpawnRequest { spec: Some(spec(&scenario)), input: Some("   ".into()), ..Default::default() };
    let error = client.spawn(blank).await.unwrap_err();
    assert_eq!(error.code(), Some(tonic::Code::InvalidArgument), "{error}");
    assert!(error.to_string().contains("input"), "the message names the field: {error}");

    dev.terminate();
}

#[test]
fn python_sdk_passes_the_conformance_scenario() {
    run_sdk_script("scripts/sdk-python.sh");
}

#[test]
fn typescript_sdk_passes_the_conformance_scenario() {
    run_sdk_script("scripts/sdk-typescript.sh");
}

/// Runs an SDK's test script (`test` mode) with this build's binaries and asserts it passed.
fn run_sdk_script(script: &str) {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let agentry = PathBuf::from(env!("CARGO_BIN_EXE_agentry"));
    let scripted_model = agentry.with_file_name("agentry-scripted-model");
    assert!(
        scripted_model.exists(),
        "{} is missing: `cargo nextest run --workspace` builds it, or `cargo build -p agentry-test-util --bins`",
        scripted_model.display()
    );
    let output = Command::new("bash")
        .arg(repository.join(script))
        .arg("test")
        .current_dir(&repository)
        .env("AGENTRY_BIN", &agentry)
        .env("AGENTRY_SCRIPTED_MODEL_BIN", &scripted_model)
        .env_remove("AGENTRY_HUB")
        .env_remove("AGENTRY_TOKEN")
        .env_remove("AGENTRY_CA")
        .env_remove("AGENTRY_CLIENT_CERT")
        .env_remove("AGENTRY_CLIENT_KEY")
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|error| panic!("running {script}: {error}"));
    assert!(
        output.status.success(),
        "{script} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn spec(scenario: &Scenario) -> AgentSpec {
    AgentSpec { model: scenario.model.clone(), tools: scenario.tools.clone(), ..Default::default() }
}

async fn spawn(client: &Client, scenario: &Scenario) -> SpawnResponse {
    let request =
        SpawnRequest { spec: Some(spec(scenario)), input: Some(scenario.input.clone()), ..Default::default() };
    let spawned = client.spawn(request).await.unwrap();
    assert!(!spawned.agent_id.is_empty() && !spawned.run_id.is_empty(), "{spawned:?}");
    spawned
}

/// Follows a run's trace to its end (the SDK reconnects by itself), calling `on_event` with
/// each event as it arrives, and returns the events.
async fn follow_run(client: &Client, run_id: &str, on_event: &mut dyn FnMut(&TraceEvent)) -> Vec<TraceEvent> {
    let options = FollowOptions {
        backoff_start: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        ..FollowOptions::default()
    };
    let request = TraceRequest { run_id: run_id.to_owned(), follow: true, ..Default::default() };
    let mut stream = client.follow_trace_with(request, options);
    let mut events = Vec::new();
    while let Some(event) = tokio::time::timeout(RUN_TIMEOUT, stream.next()).await.expect("the trace stalled") {
        let event = event.unwrap_or_else(|error| panic!("the follower reconnects: {error}"));
        on_event(&event);
        events.push(event);
    }
    events
}

/// Checks step 1's expectations on a run's followed trace.
fn check_run_trace(events: &[TraceEvent], spawned: &SpawnResponse, scenario: &Scenario) {
    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "seqs from 1 without a gap or a repeat");
    assert_eq!(events.first().map(|event| event.r#type.as_str()), Some(event_kind::RUN_STARTED));
    assert_eq!(events.last().map(|event| event.r#type.as_str()), Some(event_kind::RUN_FINISHED));
    let answer = events.iter().find(|event| event.r#type == event_kind::FINAL).expect("a final event");
    let data: serde_json::Value = serde_json::from_str(&answer.data).unwrap();
    assert_eq!(data["content"], scenario.answer.as_str());
    for event in events {
        assert_eq!(event.run_id, spawned.run_id, "{event:?}");
        assert_eq!(event.agent_id, spawned.agent_id, "{event:?}");
        assert!(event.ts.is_some(), "{event:?}");
    }
}

async fn collect(stream: agentry_sdk::TraceStream) -> Vec<TraceEvent> {
    let events = tokio::time::timeout(RUN_TIMEOUT, stream.collect::<Vec<_>>()).await.expect("the trace stalled");
    events.into_iter().collect::<Result<Vec<_>, ClientError>>().unwrap()
}
