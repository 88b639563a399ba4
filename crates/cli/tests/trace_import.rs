//! `agentry trace import FILE` against `agentry dev`: a trace exported with `agentry trace ID
//! --jsonl` comes back as a read-only agent with the same events (and the original keeps its
//! own), a hand-written agentry-format file imports too, and bad files are refused line by line.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use agentry_test_util::scripted_model::{Reply, ScriptedModel};
use agentry_test_util::{Observed, eventually_blocking};

use common::{DevProcess, stderr_lines};

/// How long `trace --follow` of an import may take: it must end after the backlog.
const FOLLOW_DEADLINE: Duration = Duration::from_secs(30);

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
fn succeeded(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(0), "{:?}", stderr_lines(output));
    stdout(output)
}

/// Returns the JSON lines of a `--jsonl` trace.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
}

/// Returns what an import must keep of each event: its seq, type and data.
fn kept(events: &[Value]) -> Vec<(Value, Value, Value)> {
    events.iter().map(|event| (event["seq"].clone(), event["type"].clone(), event["data"].clone())).collect()
}

/// Runs `agentry trace AGENT --follow --jsonl` and returns its output once it exits on its own;
/// fails if it still runs after [`FOLLOW_DEADLINE`] (it would tail forever).
fn follow_to_the_end(dev: &DevProcess, agent_id: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(["trace", agent_id, "--follow", "--jsonl", "--hub", dev.hub_url()])
        .env_remove("AGENTRY_HUB")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running agentry trace --follow");
    let exited =
        eventually_blocking("trace --follow of an import to end", FOLLOW_DEADLINE, Duration::from_millis(100), || {
            match child.try_wait().expect("polling agentry trace") {
                Some(_) => Observed::Ready(()),
                None => Observed::NotYet("still following".to_owned()),
            }
        });
    if let Err(error) = exited {
        let _ = child.kill();
        panic!("{error:#}");
    }
    child.wait_with_output().expect("its output")
}

#[test]
fn an_exported_trace_imports_as_a_read_only_copy() {
    let script = vec![
        Reply::tool("echo", json!({ "text": "ping" })),
        Reply::text("the answer"),
        Reply::text("the second answer"),
    ];
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let model = runtime.block_on(ScriptedModel::start(script, Duration::ZERO)).expect("scripted model");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut dev = DevProcess::start_with_env(data_dir.path(), &[("OPENAI_BASE_URL", &model.base_url())]);
    dev.wait_until_ready();

    let spawned = succeeded(&dev.client(&[
        "spawn",
        "--model",
        "openai:scripted",
        "--tools",
        "echo",
        "--input",
        "hello",
        "--follow",
    ]));
    let agent_id = spawned.lines().next().expect("the agent id").to_owned();
    succeeded(&dev.client(&["send", &agent_id, "again", "--follow"]));
    let exported = succeeded(&dev.client(&["trace", &agent_id, "--jsonl"]));
    let original = json_lines(&exported);
    assert_eq!(original.last().map(|event| event["type"].clone()), Some(json!("run_finished")), "{exported}");
    let file = data_dir.path().join("export.jsonl");
    std::fs::write(&file, &exported).expect("writing the export");

    let imported = succeeded(&dev.client(&[
        "trace",
        "import",
        file.to_str().expect("a UTF-8 path"),
        "--label",
        "team=qa",
        "--output",
        "json",
    ]));
    let imported: Value = serde_json::from_str(&imported).expect("import JSON");
    let new_id = imported["agent_id"].as_str().expect("agent_id").to_owned();
    assert_ne!(new_id, agent_id);
    assert_eq!(imported["events"], json!(original.len()), "{imported}");
    let run_ids: Vec<&str> =
        imported["run_ids"].as_array().expect("run_ids").iter().filter_map(Value::as_str).collect();
    assert_eq!(run_ids.len(), 2, "{imported}");

    // The same events, for the new agent and its own runs.
    let replayed = json_lines(&succeeded(&dev.client(&["trace", &new_id, "--jsonl"])));
    assert_eq!(kept(&replayed), kept(&original));
    let times = |events: &[Value]| events.iter().map(|event| event["ts"].clone()).collect::<Vec<_>>();
    assert_eq!(times(&replayed), times(&original));
    assert!(replayed.iter().all(|event| event["agent_id"] == new_id.as_str()));
    assert!(replayed.iter().all(|event| run_ids.contains(&event["run_id"].as_str().unwrap_or_default())));
    // Following an import ends after its backlog.
    let followed = follow_to_the_end(&dev, &new_id);
    assert_eq!(kept(&json_lines(&succeeded(&followed))), kept(&original));

    // Nothing of the original was lost or changed.
    assert_eq!(succeeded(&dev.client(&["trace", &agent_id, "--jsonl"])), exported);

    let agents: Value = serde_json::from_str(&succeeded(&dev.client(&["ps", "--output", "json"]))).expect("ps");
    let listed = agents.as_array().expect("agents").iter().find(|agent| agent["agent_id"] == new_id.as_str());
    let listed = listed.expect("the import is listed");
    assert_eq!(listed["imported_from"], "export.jsonl");
    assert_eq!(listed["model"], "openai:scripted");
    assert_eq!(listed["labels"]["team"], "qa");
    assert_eq!(listed["labels"]["agentry.imported-agent"], agent_id.as_str());
    assert_eq!(listed["latest_run"]["status"], "completed");

    // Read-only.
    let read_only = format!("agent {new_id} is a read-only import of export.jsonl");
    for refused in [dev.client(&["send", &new_id, "more"]), dev.client(&["cancel", run_ids[0]])] {
        assert_eq!(refused.status.code(), Some(1), "{:?}", stderr_lines(&refused));
        let lines = stderr_lines(&refused);
        assert!(lines.len() == 1 && lines[0].contains(&read_only), "{lines:?}");
    }
    dev.terminate();
}

/// A Go agentry run, written by hand: a tool call and a final answer, times in UTC, with an
/// offset, and absent.
const AGENTRY_TRACE: &str = r#"{"seq":1,"ts":"2025-01-31T14:03:05.000Z","type":"run_started","agent_id":"go-1","run_id":"r-1","data":{}}
{"seq":2,"ts":"2025-01-31T14:03:05.010Z","type":"step_start","agent_id":"go-1","run_id":"r-1","data":{"step":1}}
{"seq":3,"ts":"2025-01-31T16:03:05.020+02:00","type":"model_start","agent_id":"go-1","run_id":"r-1","data":{"step":1,"model":"openai:gpt-4o-mini"}}
{"seq":4,"ts":"2025-01-31T14:03:06.000Z","type":"usage","agent_id":"go-1","run_id":"r-1","data":{"step":1,"prompt_tokens":120,"completion_tokens":30,"total_tokens":150}}
{"seq":5,"ts":"2025-01-31T14:03:06.100Z","type":"tool_start","agent_id":"go-1","run_id":"r-1","data":{"step":1,"tool_call_id":"c1","name":"bash","arguments":"{\"command\":\"ls\"}"}}
{"seq":6,"ts":"2025-01-31T14:03:06.300Z","type":"tool_end","agent_id":"go-1","run_id":"r-1","data":{"step":1,"tool_call_id":"c1","name":"bash","output":"Cargo.toml\nREADME.md","is_error":false}}

{"seq":7,"type":"final","agent_id":"go-1","run_id":"r-1","data":{"content":"two files"}}
{"seq":8,"ts":"2025-01-31T14:03:07.000Z","type":"run_finished","agent_id":"go-1","run_id":"r-1","data":{"steps":2}}
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing a trace file");
    path.to_str().expect("a UTF-8 path").to_owned()
}

#[test]
fn a_hand_written_agentry_file_imports_and_bad_lines_are_named() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut dev = DevProcess::start(data_dir.path());
    dev.wait_until_ready();

    let file = write(data_dir.path(), "go-agentry.jsonl", AGENTRY_TRACE);
    let new_id = succeeded(&dev.client(&["trace", "import", &file])).trim().to_owned();
    assert!(uuid::Uuid::parse_str(&new_id).is_ok(), "prints the new agent id: {new_id}");
    let replayed = json_lines(&succeeded(&dev.client(&["trace", &new_id, "--jsonl"])));
    let written: Vec<Value> =
        AGENTRY_TRACE.lines().filter(|line| !line.is_empty()).map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(kept(&replayed), kept(&written));
    assert_eq!(replayed[2]["ts"], "2025-01-31T14:03:05.020Z", "the offset is applied");
    assert!(replayed[6]["ts"].is_string(), "a missing time is the import's");
    let human = succeeded(&dev.client(&["trace", &new_id]));
    assert!(human.contains(" tool_end bash Cargo.toml\\nREADME.md"), "{human}");
    let agent: Value = serde_json::from_str(&succeeded(&dev.client(&["ps", "--output", "json"]))).expect("ps");
    assert_eq!(agent[0]["model"], "openai:gpt-4o-mini");
    assert_eq!(agent[0]["latest_run"]["status"], "completed");

    // Line by line: the file and line of the first problem, nothing imported.
    let missing_type = AGENTRY_TRACE.replacen(r#""type":"model_start","#, "", 1);
    let mixed = AGENTRY_TRACE.replacen(
        r#""agent_id":"go-1","run_id":"r-1","data":{"step":1,"prompt"#,
        r#""agent_id":"go-2","run_id":"r-1","data":{"step":1,"prompt"#,
        1,
    );
    let cases = [
        ("missing.jsonl", missing_type.as_str(), ":3: type is missing"),
        ("mixed.jsonl", mixed.as_str(), ":4: agent go-2 differs from agent go-1 of line 1"),
        ("text.jsonl", "#1 12:00:00.000 run_started\n", ":1: not JSON"),
    ];
    for (name, text, problem) in cases {
        let path = write(data_dir.path(), name, text);
        let refused = dev.client(&["trace", "import", &path]);
        let lines = stderr_lines(&refused);
        assert_eq!(refused.status.code(), Some(1), "{lines:?}");
        let expected = format!("error: {path}{problem}");
        assert!(lines.len() == 1 && lines[0].starts_with(&expected), "{lines:?} does not start with {expected:?}");
    }
    let listed: Value = serde_json::from_str(&succeeded(&dev.client(&["ps", "--output", "json"]))).expect("ps");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "only the first import: {listed}");

    // --agent picks one agent of a mixed file.
    let mixed_path = write(data_dir.path(), "mixed.jsonl", &mixed);
    let picked = succeeded(&dev.client(&["trace", "import", &mixed_path, "--agent", "go-2", "-o", "json"]));
    let picked: Value = serde_json::from_str(&picked).expect("import JSON");
    assert_eq!(picked["events"], 1, "{picked}");
    dev.terminate();
}
