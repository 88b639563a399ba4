//! The web console in a real browser: Debian's Chromium driven by playwright-core scripts
//! (`tests/console/*.mjs`, through `agentry_test_util::browser`) against a process cluster on
//! PostgreSQL and NATS with two nodes and a scripted model.
//!
//! - [`the_console_follows_controls_and_replays_runs`]: a run spawned over gRPC appears in the
//!   runs view; its timeline gains its last step live, without a reload, once the test releases
//!   the model it was held on; the transcript shows the echo call and its result; a cancel
//!   clicked in the console ends another held run (checked over gRPC: `cancelled`, and
//!   `run_cancelled` in its trace); the nodes view shows both nodes ready; the run's exported
//!   JSONL trace renders in the replay view, dropped and chosen, without a request; every request
//!   goes to the hub's HTTP origin and console paths, and no response, page text or SSE stream
//!   holds the cluster's PostgreSQL or NATS address. Screenshots of each view go to
//!   `target/console-screenshots/` (and `docs/console/` with `AGENTRY_UPDATE_SCREENSHOTS=1`).
//! - [`the_console_renders_1000_agents_and_a_500_step_run`]: a performance report (measured and
//!   written to `target/console-screenshots/perf.json`, never asserted): time to the first
//!   render of the runs view with 1,000 agents, and to the whole timeline of an imported
//!   500-step run; it asserts only that everything rendered.
//!
//! Both need `AGENTRY_CHROMIUM` and `AGENTRY_PLAYWRIGHT_DIR` (`eval "$(scripts/browser-deps.sh)"`,
//! which scripts/test.sh runs): without them they fail, saying so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use tokio::sync::Notify;

use agentry_sdk::proto as pb;
use agentry_test_util::browser::{Browser, BrowserScript};
use agentry_test_util::{
    NatsServer, Observed, PgTestDatabase, ProcessCluster, ProcessClusterConfig, Reply, ScriptedModel, eventually,
    http_get,
};

/// How long one step of a browser scenario may take (a page wait is 20 s at most).
const STEP: Duration = Duration::from_secs(45);
/// How long a run may take to reach a state.
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// What the live run's echo call echoes, and its final answer.
const ECHO_TEXT: &str = "hello from the console test";
const FINAL_TEXT: &str = "the console watched it all";
/// User inputs of the live run and of the run cancelled from the console.
const LIVE_INPUT: &str = "a run to watch live";
const CANCEL_INPUT: &str = "a run to cancel from the console";
/// The views the scenario photographs (`<name>.png`).
const SCREENSHOTS: [&str; 7] = ["runs", "agent", "transcript", "inspector", "cost", "nodes", "replay"];
/// Agents of the performance report: idle ones (spawned without input), and model + tool steps
/// of the imported long run.
const PERF_AGENTS: usize = 1000;
const PERF_STEPS: usize = 500;

/// Returns the browser setup, or fails the test saying how to get one.
fn browser() -> Browser {
    Browser::from_env().unwrap_or_else(|error| panic!("{error:#}"))
}

/// Returns the path of a browser script of this test.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console").join(name)
}

/// Returns the target directory: `CARGO_TARGET_DIR` when absolute, else the one holding the
/// `agentry` binary under test (`<target>/<profile>/agentry`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).filter(|dir| dir.is_absolute()) {
        return dir;
    }
    let binary = Path::new(env!("CARGO_BIN_EXE_agentry"));
    binary.parent().and_then(Path::parent).expect("the binary is in <target>/<profile>/").to_owned()
}

/// Returns `target/console-screenshots/`, created.
fn screenshots_dir() -> PathBuf {
    let dir = target_dir().join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|error| panic!("creating {}: {error}", dir.display()));
    dir
}

/// Returns the hub's HTTP origin, where the console is served (`http://127.0.0.1:PORT`).
fn console_url(cluster: &ProcessCluster) -> String {
    cluster.hub_metrics_url().trim_end_matches("/metrics").to_owned()
}

/// Starts a scripted model, a fresh database, a NATS server and a cluster of `nodes` nodes.
async fn start_cluster(
    script: Vec<Reply>,
    nodes: usize,
) -> (ScriptedModel, PgTestDatabase, NatsServer, ProcessCluster) {
    let model = ScriptedModel::start(script, Duration::ZERO).await.expect("scripted model");
    let database = PgTestDatabase::create().await.expect("database");
    let nats = NatsServer::start().expect("nats");
    let config = ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
    let cluster = ProcessCluster::start(config, nodes).await.expect("cluster");
    (model, database, nats, cluster)
}

/// Waits until the model holds the request for step 1 of the run whose input is `input`.
async fn wait_until_held(model: &ScriptedModel, input: &str) {
    eventually(&format!("the model to hold step 1 of {input:?}"), RUN_DEADLINE, || async {
        let requests = model.requests();
        let held = requests.iter().any(|request| request.user_input == input && request.step == 1);
        Observed::from_option(held.then_some(()), || format!("{} requests", requests.len()))
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
}

/// Returns whether the model still holds (has not answered) step 1 of `input`'s run.
fn still_held(model: &ScriptedModel, input: &str) -> bool {
    model
        .requests()
        .iter()
        .any(|request| request.user_input == input && request.step == 1 && request.answered_at.is_none())
}

/// Returns `agentry ps`'s latest run of `agent_id`.
async fn latest_run(cluster: &ProcessCluster, agent_id: &str) -> Value {
    let agents = cluster.agents().await.expect("agentry ps");
    let agent = agents.iter().find(|agent| agent["agent_id"] == agent_id);
    agent.unwrap_or_else(|| panic!("agentry ps lists no {agent_id}: {agents:?}"))["latest_run"].clone()
}

/// Returns the types of `events`.
fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|event| event["type"].as_str()).collect()
}

/// Returns the seq of the `index`-th event of type `kind`.
fn seq_of(events: &[Value], kind: &str, index: usize) -> u64 {
    let found = events.iter().filter(|event| event["type"] == kind).nth(index);
    found.and_then(|event| event["seq"].as_u64()).unwrap_or_else(|| panic!("no {kind} #{index} in {events:?}"))
}

/// Fails when a screenshot is missing; copies them to `docs/console/` when
/// `AGENTRY_UPDATE_SCREENSHOTS=1`.
fn check_screenshots(dir: &Path) {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/console");
    let update = std::env::var("AGENTRY_UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1");
    for name in SCREENSHOTS {
        let shot = dir.join(format!("{name}.png"));
        let bytes = std::fs::read(&shot).unwrap_or_else(|error| panic!("screenshot {}: {error}", shot.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", shot.display());
        if update {
            std::fs::create_dir_all(&docs).expect("creating docs/console");
            std::fs::copy(&shot, docs.join(format!("{name}.png"))).expect("copying a screenshot to docs/console");
        }
    }
    let copied = if update { format!(", copied to {}", docs.display()) } else { String::new() };
    eprintln!("console screenshots in {}{copied}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_follows_controls_and_replays_runs() {
    let browser = browser();
    let script_replies = vec![Reply::tool("echo", json!({ "text": ECHO_TEXT })), Reply::text(FINAL_TEXT)];
    let (model, database, nats, cluster) = start_cluster(script_replies, 2).await;
    let origin = console_url(&cluster);
    let work = tempfile::tempdir().expect("temp dir");

    // A run spawned over gRPC (the CLI), held by the model before its second step.
    let live_gate = Arc::new(Notify::new());
    model.hold_step(1, live_gate.clone());
    let agent_id = cluster
        .spawn(&["--model", "openai:scripted", "--tools", "echo", "--input", LIVE_INPUT])
        .await
        .expect("agentry spawn");
    wait_until_held(&model, LIVE_INPUT).await;
    let node_ids: Vec<String> = cluster
        .nodes()
        .await
        .expect("agentry nodes")
        .iter()
        .filter_map(|node| node["node_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(node_ids.len(), 2, "{node_ids:?}");

    let shots = screenshots_dir();
    let forbidden = json!([database.url(), nats.url(), "postgres://", "postgresql://", "nats://"]);
    let env = [
        ("AGENTRY_CONSOLE_URL", origin.clone()),
        ("AGENTRY_AGENT_ID", agent_id.clone()),
        ("AGENTRY_ECHO_TEXT", ECHO_TEXT.to_owned()),
        ("AGENTRY_FINAL_TEXT", FINAL_TEXT.to_owned()),
        ("AGENTRY_NODE_IDS", json!(node_ids).to_string()),
        ("AGENTRY_FORBIDDEN", forbidden.to_string()),
        ("AGENTRY_SCREENSHOT_DIR", shots.display().to_string()),
    ]
    .map(|(key, value)| (key.to_owned(), value));
    let mut page: BrowserScript = browser.run_script(&script("console.mjs"), &env).expect("node console.mjs");

    // 1-2. Listed; its page shows the first step while the model still holds the second.
    page.expect("listed", STEP).await.unwrap_or_else(|error| panic!("{error:#}"));
    let held = page.expect_json("held", STEP).await.unwrap_or_else(|error| panic!("{error:#}"));
    assert!(still_held(&model, LIVE_INPUT), "the run is still mid-way while the page shows {held}");
    assert_eq!(latest_run(&cluster, &agent_id).await["status"], "running");
    page.send("go").await.expect("go");
    live_gate.notify_one();

    // The page saw the run complete, with its last step added live.
    let completed = page.expect_json("completed", STEP).await.unwrap_or_else(|error| panic!("{error:#}"));
    cluster.wait_until_completed(std::slice::from_ref(&agent_id), RUN_DEADLINE).await.expect("completed");
    assert!(completed["steps"].as_u64() > held["steps"].as_u64(), "the timeline grew: {held} → {completed}");
    let trace = cluster.trace(&agent_id).await.expect("agentry trace");
    // One timeline element per model call (two) and tool call (one), each at its first event.
    let seqs: Vec<u64> = completed["seqs"].as_array().expect("seqs").iter().filter_map(Value::as_u64).collect();
    assert_eq!(seqs.len(), 3, "model, echo, model: {completed} for {:?}", kinds(&trace));
    assert_eq!(seqs[0], seq_of(&trace, "step_start", 0), "{completed}");
    assert_eq!(seqs[1], seq_of(&trace, "tool_start", 0), "{completed}");
    assert_eq!(seqs[2], seq_of(&trace, "step_start", 1), "{completed}");

    // 3b. The page forked the completed agent after its last commit: the fork's trace starts
    // with `forked_from`, and it completed from the copied conversation without a model call.
    let requests_before = model.requests().len();
    let forked = page.expect_json("forked", STEP).await.unwrap_or_else(|error| panic!("{error:#}"));
    let fork_id = forked["agent"].as_str().expect("the fork's id").to_owned();
    cluster.wait_until_completed(std::slice::from_ref(&fork_id), RUN_DEADLINE).await.expect("the fork completed");
    let fork_trace = cluster.trace(&fork_id).await.expect("agentry trace");
    assert_eq!(kinds(&fork_trace), ["forked_from", "run_started", "final", "run_finished"], "{fork_trace:?}");
    assert_eq!(fork_trace[0]["data"]["agent_id"], agent_id.as_str(), "{fork_trace:?}");
    assert_eq!(model.requests().len(), requests_before, "the fork asked the model nothing");

    // 4. The replay file (the live run's exported trace), then a second run held by the model
    // that the page cancels.
    let exported = cluster.client(&["trace", &agent_id, "--jsonl"]).await.expect("agentry trace --jsonl");
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let trace_file = work.path().join("live-run.jsonl");
    std::fs::write(&trace_file, &exported.stdout).expect("writing the trace file");
    let cancel_gate = Arc::new(Notify::new());
    model.hold_step(1, cancel_gate.clone());
    let cancel_id = cluster
        .spawn(&["--model", "openai:scripted", "--tools", "echo", "--input", CANCEL_INPUT])
        .await
        .expect("agentry spawn");
    wait_until_held(&model, CANCEL_INPUT).await;
    let command = json!({ "agent": cancel_id, "trace": trace_file });
    page.send(&format!("cancel {command}")).await.expect("cancel");
    page.expect("cancelled", STEP).await.unwrap_or_else(|error| panic!("{error:#}"));
    let run = latest_run(&cluster, &cancel_id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    let run_id = run["run_id"].as_str().expect("a run id");
    let response = agentry_sdk::Client::connect(cluster.hub_url()).await.expect("client").get_run(run_id).await;
    let status = response.expect("GetRun").status;
    assert_eq!(status, pb::RunStatus::Cancelled as i32, "GetRun says CANCELLED");
    let cancelled_trace = cluster.trace(&cancel_id).await.expect("agentry trace");
    assert_eq!(kinds(&cancelled_trace).last(), Some(&"run_cancelled"), "{cancelled_trace:?}");
    cancel_gate.notify_one();

    // 5-7. Nodes, cost, replay, and the audit of every request.
    let done = page.expect_json("done", STEP).await.unwrap_or_else(|error| panic!("{error:#}"));
    page.finish(STEP).await.unwrap_or_else(|error| panic!("{error:#}"));
    eprintln!("the console's requests: {done}");
    let paths: Vec<&str> = done["paths"].as_array().expect("paths").iter().filter_map(Value::as_str).collect();
    assert!(paths.contains(&"/api/v1/trace"), "the agent page followed the trace over SSE: {paths:?}");
    assert!(paths.iter().any(|path| path.starts_with("/agentry.v1.AgentHub/")), "{paths:?}");

    // What the SSE stream sends (the page's audit reads no stream) holds no address either.
    let (status, stream) = http_get(&format!("{origin}/api/v1/trace?agent_id={agent_id}")).await.expect("GET trace");
    assert_eq!(status, 200, "{stream}");
    assert!(stream.contains("event: trace") && stream.contains("event: end"), "{stream}");
    for secret in forbidden.as_array().expect("a list").iter().filter_map(Value::as_str) {
        assert!(!stream.contains(secret), "the trace stream holds {secret:?}");
    }
    check_screenshots(&shots);
}

/// Returns an RFC 3339 time `millis` after 2026-01-01T00:00:00Z (below one day).
fn timestamp(millis: u64) -> String {
    let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    format!("2026-01-01T{hours:02}:{minutes:02}:{:02}.{:03}Z", rest / 1000, rest % 1000)
}

/// Returns an agentry JSONL trace of one run of `steps` model + echo steps and a final answer.
fn long_trace(steps: usize) -> String {
    let mut events = vec![("run_started", json!({ "node_id": "perf-node", "epoch": 1, "resumed": false }))];
    let model = |step: usize| {
        [
            ("step_start", json!({ "step": step })),
            ("model_start", json!({ "step": step, "model": "openai:scripted", "provider": "openai" })),
            (
                "usage",
                json!({ "step": step, "model": "openai:scripted", "prompt_tokens": 10 + step, "completion_tokens": 7,
                        "total_tokens": 17 + step, "cost_usd": 0.0, "latency_ms": 3 }),
            ),
        ]
    };
    for step in 0..steps {
        events.extend(model(step));
        let call = format!("call_{step}");
        let text = format!("step {step} of {steps}");
        events.push((
            "tool_start",
            json!({ "step": step, "tool_call_id": call, "name": "echo",
                    "arguments": json!({ "text": text }).to_string(), "idempotency_key": format!("perf-{step}") }),
        ));
        events.push((
            "tool_end",
            json!({ "step": step, "tool_call_id": call, "name": "echo", "output": text, "is_error": false,
                    "duration_ms": 1 }),
        ));
    }
    events.extend(model(steps));
    events.push(("final", json!({ "content": format!("done after {steps} steps") })));
    events.push(("run_finished", json!({ "steps": steps })));
    events
        .into_iter()
        .enumerate()
        .map(|(index, (kind, data))| {
            let seq = index as u64 + 1;
            let line = json!({ "seq": seq, "ts": timestamp(seq * 20), "type": kind, "agent_id": "perf-agent",
                               "run_id": "perf-run", "data": data });
            format!("{line}\n")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_renders_1000_agents_and_a_500_step_run() {
    let browser = browser();
    let (_model, _database, _nats, cluster) = start_cluster(vec![Reply::text("unused")], 1).await;
    let work = tempfile::tempdir().expect("temp dir");

    // 1,000 idle agents (Spawn without input), 16 Spawns at a time over gRPC.
    let client = agentry_sdk::Client::connect(cluster.hub_url()).await.expect("client");
    let started = Instant::now();
    let spawned: Vec<String> = futures::stream::iter(0..PERF_AGENTS)
        .map(|index| {
            let client = &client;
            async move {
                let spec = pb::AgentSpec { model: "openai:scripted".into(), ..Default::default() };
                let labels = [("perf".to_owned(), index.to_string())].into();
                let request = pb::SpawnRequest { spec: Some(spec), labels, ..Default::default() };
                client.spawn(request).await.map(|spawned| spawned.agent_id)
            }
        })
        .buffer_unordered(16)
        .try_collect()
        .await
        .expect("spawning the idle agents");
    let spawn_ms = started.elapsed().as_millis();
    assert_eq!(spawned.len(), PERF_AGENTS);

    // The long run, imported (nothing runs it).
    let file = work.path().join("long-run.jsonl");
    std::fs::write(&file, long_trace(PERF_STEPS)).expect("writing the long trace");
    let started = Instant::now();
    let imported = cluster
        .json(&["trace", "import", &file.display().to_string(), "--output", "json"])
        .await
        .expect("agentry trace import");
    let import_ms = started.elapsed().as_millis();
    let imported_id = imported["agent_id"].as_str().expect("the import's agent id").to_owned();
    let events = imported["events"].as_u64().expect("the import's event count");

    let shots = screenshots_dir();
    let env = [
        ("AGENTRY_CONSOLE_URL", console_url(&cluster)),
        ("AGENTRY_AGENT_COUNT", (PERF_AGENTS + 1).to_string()),
        ("AGENTRY_IMPORTED_AGENT", imported_id.clone()),
        ("AGENTRY_TOOL_STEPS", PERF_STEPS.to_string()),
        ("AGENTRY_SCREENSHOT_DIR", shots.display().to_string()),
    ]
    .map(|(key, value)| (key.to_owned(), value));
    let mut page = browser.run_script(&script("perf.mjs"), &env).expect("node perf.mjs");
    let measured = page.expect_json("perf", Duration::from_secs(90)).await.unwrap_or_else(|error| panic!("{error:#}"));
    page.finish(STEP).await.unwrap_or_else(|error| panic!("{error:#}"));

    // The figures are a report, written first; only that everything rendered is asserted.
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let report = json!({
        "cpus": cpus,
        "agents": PERF_AGENTS + 1,
        "spawn_idle_agents_ms": spawn_ms,
        "long_run": { "steps": PERF_STEPS, "events": events, "import_ms": import_ms },
        "browser": measured,
    });
    let path = shots.join("perf.json");
    let text = serde_json::to_string_pretty(&report).expect("JSON");
    std::fs::write(&path, &text).expect("writing perf.json");
    println!("console performance ({}):\n{text}", path.display());
    assert_eq!(measured["runs"]["listed"], PERF_AGENTS + 1, "every agent listed across the pages: {measured}");
    assert_eq!(measured["timeline"]["toolSteps"], PERF_STEPS, "every tool step on the timeline: {measured}");
}
