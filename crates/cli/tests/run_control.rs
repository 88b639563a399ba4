//! `agentry pause|resume|cancel` and `send --on-busy interrupt` against `agentry dev`, with a
//! slow scripted model so runs are still in progress when they are controlled: the run's
//! status, its trace, followers' exit codes and the errors of refused controls.

mod common;

use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use agentry_test_util::scripted_model::{Reply, ScriptedModel};
use agentry_test_util::{Observed, eventually_blocking};

use common::{DevProcess, stderr_lines};

/// How long a run may take to reach a state.
const DEADLINE: Duration = Duration::from_secs(60);
/// Latency of every model reply: a run of `STEPS` steps takes several seconds.
const MODEL_LATENCY: Duration = Duration::from_millis(1_000);
/// Model calls of a run: tool calls, then a final answer.
const STEPS: usize = 4;
/// A run id no hub knows.
const UNKNOWN_RUN: &str = "0193a000-0000-7000-8000-000000000000";

/// A scripted model (on its own runtime, kept alive by the returned value) and `agentry dev`
/// using it.
struct Setup {
    dev: DevProcess,
    _model: (tokio::runtime::Runtime, ScriptedModel),
    _data_dir: tempfile::TempDir,
}

fn start() -> Setup {
    let mut script: Vec<Reply> =
        (1..STEPS).map(|step| Reply::tool("echo", json!({ "text": format!("step {step}") }))).collect();
    script.push(Reply::text("all done"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let model = runtime.block_on(ScriptedModel::start(script, MODEL_LATENCY)).expect("scripted model");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut dev = DevProcess::start_with_env(data_dir.path(), &[("OPENAI_BASE_URL", &model.base_url())]);
    dev.wait_until_ready();
    Setup { dev, _model: (runtime, model), _data_dir: data_dir }
}

fn spawn_args(input: &str) -> Vec<&str> {
    vec!["spawn", "--model", "openai:scripted", "--tools", "echo", "--input", input]
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the command succeeded and returns its stdout.
fn success(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(0), "stderr: {:?}, stdout: {}", stderr_lines(output), stdout(output));
    stdout(output)
}

/// Asserts the command failed with exit code 1 and one `error: ...` line, and returns it.
fn failure_line(output: &Output) -> String {
    let lines = stderr_lines(output);
    assert_eq!(output.status.code(), Some(1), "stderr: {lines:?}");
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(lines[0].starts_with("error: "), "{lines:?}");
    lines[0].clone()
}

/// Returns `agentry ps --output json`.
fn agents(dev: &DevProcess) -> Vec<Value> {
    let listed = success(&dev.client(&["ps", "--output", "json"]));
    serde_json::from_str::<Value>(&listed).expect("ps JSON").as_array().expect("an array").clone()
}

/// Waits until the latest run of some agent has `status` (and `run_id`, when given); returns
/// that agent.
fn wait_for_run(dev: &DevProcess, run_id: Option<&str>, status: &str) -> Value {
    let what = format!("run {run_id:?} to be {status}");
    eventually_blocking(&what, DEADLINE, Duration::from_millis(100), || {
        let agents = agents(dev);
        let found = agents.iter().find(|agent| {
            let run = &agent["latest_run"];
            run["status"] == status && run_id.is_none_or(|run_id| run["run_id"] == run_id)
        });
        Observed::from_option(found.cloned(), || format!("{agents:?}"))
    })
    .unwrap_or_else(|error| panic!("{error:#}"))
}

/// Returns the JSON lines of a `--jsonl` output.
fn events(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|event| event["type"].as_str()).collect()
}

/// Asserts the persisted events have strictly increasing seqs (nothing printed twice).
fn assert_increasing_seqs(events: &[Value]) {
    let seqs: Vec<u64> = events.iter().filter_map(|event| event["seq"].as_u64()).filter(|seq| *seq > 0).collect();
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "increasing seqs: {seqs:?}");
}

#[test]
fn a_paused_run_waits_and_completes_once_resumed() {
    let setup = start();
    let dev = &setup.dev;
    let agent_id = success(&dev.client(&spawn_args("pause me"))).trim().to_owned();
    let running = wait_for_run(dev, None, "running");
    let run_id = running["latest_run"]["run_id"].as_str().expect("a run id").to_owned();

    std::thread::scope(|scope| {
        // A follower of the run keeps following through the pause and ends with the run.
        let follower = scope.spawn(|| dev.client(&["trace", &agent_id, "--run", &run_id, "--follow", "--jsonl"]));

        let paused = dev.client(&["pause", &run_id, "--reason", "hold on", "--output", "json"]);
        let paused: Value = serde_json::from_str(&success(&paused)).expect("run JSON");
        assert_eq!(paused["run_id"], run_id.as_str());
        assert_eq!(paused["agent_id"], agent_id.as_str());
        assert_eq!(paused["status"], "paused");
        wait_for_run(dev, Some(&run_id), "paused");
        let trace = success(&dev.client(&["trace", &agent_id, "--run", &run_id, "--jsonl"]));
        let paused_event = events(&trace).into_iter().find(|event| event["type"] == "run_paused");
        let paused_event = paused_event.unwrap_or_else(|| panic!("run_paused in the trace: {trace}"));
        assert_eq!(paused_event["data"]["reason"], "hold on");
        assert_eq!(agents(dev)[0]["latest_run"]["status"], "paused", "still paused");

        let resumed = success(&dev.client(&["resume", &run_id]));
        assert!(resumed.trim().starts_with(&format!("run {run_id} resumed")), "{resumed}");
        wait_for_run(dev, Some(&run_id), "completed");

        let followed = follower.join().expect("follower thread");
        let followed = events(&success(&followed));
        let kinds = kinds(&followed);
        assert_eq!(kinds.last(), Some(&"run_finished"), "{kinds:?}");
        let paused_at = kinds.iter().position(|kind| *kind == "run_paused").expect("run_paused followed");
        let resumed_at = kinds.iter().position(|kind| *kind == "run_resumed").expect("run_resumed followed");
        assert!(paused_at < resumed_at, "{kinds:?}");
        assert_increasing_seqs(&followed);
    });

    let again = failure_line(&dev.client(&["resume", &run_id]));
    assert!(again.contains(&format!("run {run_id} cannot be resumed")), "{again}");
    assert!(again.contains("failed precondition"), "{again}");
    let ended = failure_line(&dev.client(&["pause", &run_id]));
    assert!(ended.contains(&format!("run {run_id} cannot be paused")), "{ended}");
}

#[test]
fn a_cancelled_run_ends_with_its_reason_and_cannot_be_cancelled_again() {
    let setup = start();
    let dev = &setup.dev;
    std::thread::scope(|scope| {
        // `spawn --follow` exits 1 when the run is cancelled.
        let spawned = scope.spawn(|| {
            let mut args = spawn_args("cancel me");
            args.push("--follow");
            dev.client(&args)
        });
        let running = wait_for_run(dev, None, "running");
        let run_id = running["latest_run"]["run_id"].as_str().expect("a run id").to_owned();

        let cancelled = success(&dev.client(&["cancel", &run_id, "--reason", "too slow"]));
        assert_eq!(cancelled.trim(), format!("run {run_id} cancelled"));
        let agent = wait_for_run(dev, Some(&run_id), "cancelled");
        assert_eq!(agent["latest_run"]["error"], "too slow", "the reason is kept: {agent}");

        let spawned = spawned.join().expect("spawn thread");
        let line = failure_line(&spawned);
        assert_eq!(line, format!("error: run {run_id} cancelled: too slow"));
        let printed = stdout(&spawned);
        assert!(printed.lines().last().is_some_and(|line| line.contains(" run_cancelled ")), "{printed}");

        let again = failure_line(&dev.client(&["cancel", &run_id]));
        assert!(again.contains(&format!("run {run_id} cannot be cancelled")), "{again}");
        assert!(again.contains("failed precondition"), "{again}");
        let table = success(&dev.client(&["ps"]));
        let row = table.lines().find(|line| line.contains(&run_id)).unwrap_or_else(|| panic!("{table}"));
        assert!(row.contains(" cancelled ") && row.ends_with("too slow"), "{row}");
    });

    for args in [["cancel", UNKNOWN_RUN], ["pause", UNKNOWN_RUN], ["resume", UNKNOWN_RUN]] {
        let line = failure_line(&dev.client(&args));
        assert!(line.starts_with("error: not found: ") && line.contains(UNKNOWN_RUN), "{args:?}: {line}");
    }
}

#[test]
fn sending_with_on_busy_interrupt_cancels_the_active_run() {
    let setup = start();
    let dev = &setup.dev;
    let agent_id = success(&dev.client(&spawn_args("first"))).trim().to_owned();
    let running = wait_for_run(dev, None, "running");
    let first_run = running["latest_run"]["run_id"].as_str().expect("a run id").to_owned();

    let sent = dev.client(&["send", &agent_id, "second", "--on-busy", "interrupt", "--follow", "--jsonl"]);
    let sent = success(&sent);
    let second_run = sent.lines().next().expect("the run id").to_owned();
    assert_ne!(second_run, first_run);
    assert_eq!(kinds(&events(&sent)).last(), Some(&"run_finished"), "{sent}");
    let agent = wait_for_run(dev, Some(&second_run), "completed");
    assert_eq!(agent["agent_id"], agent_id.as_str());

    let first = events(&success(&dev.client(&["trace", &agent_id, "--run", &first_run, "--jsonl"])));
    assert_eq!(kinds(&first).last(), Some(&"run_cancelled"), "the interrupted run ends cancelled: {first:?}");
    let whole = events(&success(&dev.client(&["trace", &agent_id, "--jsonl"])));
    assert_increasing_seqs(&whole);
    let first_end = whole.iter().position(|event| event["type"] == "run_cancelled").expect("run_cancelled");
    let second_start = whole.iter().position(|event| event["run_id"] == second_run.as_str()).expect("second run");
    assert!(first_end < second_start, "the second run starts after the first was cancelled");
}
