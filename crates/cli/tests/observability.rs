//! Telemetry of a process cluster (issue 12): one run is one distributed trace across the
//! client, the hub and the nodes — also after a `kill -9` moved it to another node — with the
//! OpenTelemetry GenAI spans and attributes, exported over OTLP/gRPC to a real receiver; the
//! hub's and a node's `/metrics` pass `promtool check metrics` and their counters move as a run
//! completes; `/healthz` and `/readyz` answer.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;

use agentry_sdk::proto as pb;
use agentry_test_util::{
    NatsServer, OtlpReceiver, PgTestDatabase, ProcessCluster, ProcessClusterConfig, ReceivedSpan, Reply, ScriptedModel,
    http_get,
};

/// How long spans may take to arrive (batch export every 100 ms here).
const EXPORT_DEADLINE: Duration = Duration::from_secs(30);
/// How long the run may take, failover included.
const RUN_DEADLINE: Duration = Duration::from_secs(60);
/// The client's own span: the run's trace must continue it.
const CLIENT_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN_ID: &str = "b7ad6b7169203331";

/// Returns a three-step script: `echo` twice, then the answer.
fn script() -> Vec<Reply> {
    let echo = Reply::tool("echo", json!({ "text": "traced" }));
    vec![echo.clone(), echo, Reply::text("done")]
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|span| span.name == name || span.name.starts_with(&format!("{name} "))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_one_trace_across_client_hub_and_nodes_even_after_a_kill_9() {
    let receiver = OtlpReceiver::start().await.expect("starting the OTLP receiver");
    let model = ScriptedModel::start(script(), Duration::ZERO).await.expect("model");
    let database = PgTestDatabase::create().await.expect("database");
    let nats = NatsServer::start().expect("nats");
    let mut config =
        ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
    config.lease_ttl = Duration::from_millis(1500);
    config.heartbeat_interval = Duration::from_millis(250);
    config.env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), receiver.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned()),
    ];
    let mut cluster = ProcessCluster::start(config, 2).await.expect("cluster");
    // The second model call waits until the node that asked for it is killed.
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    model.hold_step(1, gate.clone());

    // A client that has a trace of its own sends its context with the Spawn.
    let client = agentry_sdk::Client::connect(cluster.hub_url()).await.expect("client");
    let spec = pb::AgentSpec {
        model: "openai:scripted".into(),
        tools: vec!["echo".into()],
        max_iterations: 5,
        ..Default::default()
    };
    let mut request = tonic::Request::new(pb::SpawnRequest {
        spec: Some(spec),
        input: Some("trace me".into()),
        ..Default::default()
    });
    let traceparent = format!("00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01");
    request.metadata_mut().insert("traceparent", traceparent.parse().expect("ascii"));
    let mut raw = pb::agent_hub_client::AgentHubClient::connect(cluster.hub_url()).await.expect("raw client");
    let spawned = raw.spawn(request).await.expect("spawn").into_inner();
    let agent_id = spawned.agent_id.clone();

    // Step 0 and its echo call are committed once step 1 is asked for: kill its node. The
    // survivor answers step 1 (another echo call) and step 2.
    agentry_test_util::eventually("the second model call", RUN_DEADLINE, || async {
        let asked = model.requests().iter().any(|request| request.step == 1).then_some(());
        agentry_test_util::Observed::from_option(asked, || format!("{} model requests", model.requests().len()))
    })
    .await
    .expect("step 1 requested");
    let agents = cluster.agents().await.expect("agents");
    let node_id = agents.iter().find(|agent| agent["agent_id"] == agent_id.as_str()).expect("the agent")["latest_run"]
        ["node_id"]
        .as_str()
        .expect("placed")
        .to_owned();
    let nodes = cluster.nodes().await.expect("nodes");
    let first = nodes.iter().find(|node| node["node_id"] == node_id.as_str()).expect("its node")["name"]
        .as_str()
        .expect("a name")
        .to_owned();
    cluster.kill_node(&first).await.expect("kill -9");
    gate.notify_one();
    cluster.wait_until_completed(std::slice::from_ref(&agent_id), RUN_DEADLINE).await.expect("completed elsewhere");

    // Spans: the hub's Spawn continues the client's trace; the resumed execution is in it.
    let survivor_id = cluster.node_id(if first == "node-1" { "node-2" } else { "node-1" }).await.expect("survivor");
    let spans = receiver
        .wait_for("the survivor's invoke_agent, chat and execute_tool spans", EXPORT_DEADLINE, |spans| {
            let resumed = named(spans, "invoke_agent")
                .iter()
                .any(|span| span.attr_str("agentry.node_id") == Some(survivor_id.as_str()));
            resumed && !named(spans, "chat").is_empty() && !named(spans, "execute_tool").is_empty()
        })
        .await
        .expect("spans exported");
    let run: Vec<&ReceivedSpan> = spans.iter().filter(|span| span.trace_id == CLIENT_TRACE_ID).collect();
    let spawn = run
        .iter()
        .find(|span| span.name == "agentry.v1.AgentHub/Spawn")
        .unwrap_or_else(|| panic!("the hub's Spawn span continues the client's trace: {run:#?}"));
    assert_eq!(spawn.parent_span_id, CLIENT_SPAN_ID, "Spawn's parent is the client's span");
    assert_eq!(spawn.service_name, "agentry-hub");

    let invocations = named(&spans, "invoke_agent");
    assert!(invocations.iter().all(|span| span.trace_id == CLIENT_TRACE_ID), "every execution is in the run's trace");
    let resumed = invocations
        .iter()
        .find(|span| span.attr_str("agentry.node_id") == Some(survivor_id.as_str()))
        .expect("the resumed execution");
    assert_eq!(resumed.parent_span_id, spawn.span_id, "executions descend from the span that created the run");
    assert_eq!(resumed.service_name, "agentry-node");
    assert_eq!(resumed.attr_str("gen_ai.operation.name"), Some("invoke_agent"));
    assert_eq!(resumed.attr_str("gen_ai.agent.id"), Some(agent_id.as_str()));
    assert_eq!(resumed.attr_str("gen_ai.request.model"), Some("openai:scripted"));

    let invocation_ids: BTreeSet<&str> = invocations.iter().map(|span| span.span_id.as_str()).collect();
    let chats = named(&spans, "chat");
    for chat in &chats {
        assert_eq!(chat.trace_id, CLIENT_TRACE_ID);
        assert_eq!(chat.name, "chat scripted");
        // Its parent is an `invoke_agent` span (the killed node's never ended, so never came).
        assert!(!chat.parent_span_id.is_empty(), "{chat:?}");
        assert_eq!(chat.attr_str("gen_ai.operation.name"), Some("chat"));
        assert_eq!(chat.attr_str("gen_ai.provider.name"), Some("openai"));
        assert_eq!(chat.attr_str("gen_ai.request.model"), Some("scripted"));
        assert!(chat.attr_str("gen_ai.response.model").is_some(), "{chat:?}");
        assert!(chat.attr_i64("gen_ai.usage.input_tokens").is_some_and(|tokens| tokens > 0), "{chat:?}");
        assert!(chat.attr_i64("gen_ai.usage.output_tokens").is_some(), "{chat:?}");
        assert!(chat.attr_str("gen_ai.response.finish_reasons").is_some(), "{chat:?}");
    }
    let resumed_chat = chats
        .iter()
        .filter(|chat| chat.parent_span_id == resumed.span_id)
        .max_by_key(|chat| chat.attr_i64("agentry.step"))
        .expect("the resumed execution's last chat");
    assert_eq!(resumed_chat.attr_str("gen_ai.response.finish_reasons"), Some("[\"stop\"]"));
    let tools = named(&spans, "execute_tool");
    let echo = tools
        .iter()
        .find(|span| span.name == "execute_tool echo" && span.parent_span_id == resumed.span_id)
        .expect("the resumed execution's echo call");
    assert_eq!(echo.trace_id, CLIENT_TRACE_ID);
    assert!(invocation_ids.contains(echo.parent_span_id.as_str()), "execute_tool nests in invoke_agent");
    assert_eq!(echo.attr_str("gen_ai.tool.name"), Some("echo"));
    assert!(echo.attr_str("gen_ai.tool.call.id").is_some_and(|id| !id.is_empty()));
    // The node's commits reach the hub inside the run's trace.
    let commits = run.iter().filter(|span| span.name == "agentry.v1.NodeService/Commit").count();
    assert!(commits >= 1, "the hub's Commit spans are in the run's trace");

    // Every event names the run's trace and the span that produced it.
    let events = trace_events(&client, &agent_id).await;
    assert!(events.iter().all(|event| event.trace_id == CLIENT_TRACE_ID), "{events:#?}");
    let span_ids: BTreeSet<&str> = spans.iter().map(|span| span.span_id.as_str()).collect();
    let usage = events.iter().rfind(|event| event.r#type == "usage").expect("a usage event");
    assert_eq!(usage.span_id, resumed_chat.span_id, "a model call's events name its chat span");
    let tool_end = events.iter().rfind(|event| event.r#type == "tool_end").expect("a tool_end event");
    assert_eq!(tool_end.span_id, echo.span_id, "a tool call's events name its execute_tool span");
    let started = events.iter().rfind(|event| event.r#type == "run_started").expect("run_started");
    assert_eq!(started.span_id, resumed.span_id, "run_started names the invoke_agent span");
    assert!(span_ids.contains(started.span_id.as_str()));
    assert!(events.iter().all(|event| event.span_id.len() == 16), "{events:#?}");
}

/// Returns the persisted events of `agent_id`.
async fn trace_events(client: &agentry_sdk::Client, agent_id: &str) -> Vec<pb::TraceEvent> {
    use futures::StreamExt;
    let request = pb::TraceRequest { agent_id: agent_id.to_owned(), follow: false, ..Default::default() };
    let events: Vec<_> = client.trace(request).collect().await;
    events.into_iter().map(|event| event.expect("an event")).collect()
}

/// Returns the value of the sample `name{labels}` in a Prometheus text exposition (labels in
/// the order written); 0 when absent.
fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Runs `promtool check metrics` on `exposition`; panics with its output when it objects.
async fn promtool_check(what: &str, exposition: &str) {
    let mut child = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`; scripts/tool-deps.sh installs it)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(exposition.as_bytes()).await.expect("writing the metrics");
    drop(stdin);
    let output = child.wait_with_output().await.expect("promtool");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && report.trim().is_empty(), "promtool on the {what}'s /metrics: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_move_as_a_run_completes() {
    let model = ScriptedModel::start(script(), Duration::ZERO).await.expect("model");
    let database = PgTestDatabase::create().await.expect("database");
    let nats = NatsServer::start().expect("nats");
    let config = ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
    let cluster = ProcessCluster::start(config, 1).await.expect("cluster");
    let hub_metrics = cluster.hub_metrics_url();
    let node_metrics = cluster.node_metrics_url("node-1").expect("node-1");
    for url in [&hub_metrics, &node_metrics] {
        for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
            let url = url.replace("/metrics", path);
            assert_eq!(http_get(&url).await.expect(&url), (200, body.to_owned()), "{url}");
        }
    }
    let (_, hub_before) = http_get(&hub_metrics).await.expect("hub metrics");
    let (_, node_before) = http_get(&node_metrics).await.expect("node metrics");

    let agent =
        cluster.spawn(&["--model", "openai:scripted", "--tools", "echo", "--input", "count me"]).await.expect("spawn");
    cluster.wait_until_completed(std::slice::from_ref(&agent), RUN_DEADLINE).await.expect("completed");
    // An unknown agent: one NOT_FOUND answer for the error counter.
    let unknown = cluster.client(&["trace", &uuid::Uuid::now_v7().to_string()]).await.expect("agentry trace");
    assert!(!unknown.status.success());

    let (status, hub_after) = http_get(&hub_metrics).await.expect("hub metrics");
    assert_eq!(status, 200);
    let (_, node_after) = http_get(&node_metrics).await.expect("node metrics");
    promtool_check("hub", &hub_after).await;
    promtool_check("node", &node_after).await;

    let moved = |before: &str, after: &str, series: &str| sample(after, series) - sample(before, series);
    assert_eq!(moved(&hub_before, &hub_after, "agentry_runs_finished_total{status=\"completed\"}"), 1.0, "{hub_after}");
    assert_eq!(moved(&hub_before, &hub_after, "agentry_run_duration_seconds_count{status=\"completed\"}"), 1.0);
    assert!(moved(&hub_before, &hub_after, "agentry_rpc_duration_seconds_count{method=\"AgentHub/Spawn\"}") >= 1.0);
    assert!(moved(&hub_before, &hub_after, "agentry_commit_duration_seconds_count") >= 3.0, "{hub_after}");
    assert!(
        sample(&hub_after, "agentry_rpc_errors_total{code=\"NOT_FOUND\",method=\"AgentHub/Trace\"}") >= 1.0,
        "{hub_after}"
    );
    assert_eq!(sample(&hub_after, "agentry_nodes{state=\"ready\"}"), 1.0, "{hub_after}");
    assert_eq!(sample(&hub_after, "agentry_runs{status=\"running\"}"), 0.0);
    assert_eq!(sample(&hub_after, "agentry_queue_lag_messages{node=\"node-1\"}"), 0.0);
    assert!(hub_after.contains("agentry_queue_lag_messages{node=\"node-1\"}"), "a lag series per live node");

    let node = "node=\"node-1\"";
    let tokens = format!("agentry_tokens_total{{model=\"openai:scripted\",{node},type=\"input\"}}");
    assert!(moved(&node_before, &node_after, &tokens) > 0.0, "{node_after}");
    let calls = format!("agentry_model_calls_total{{model=\"openai:scripted\",{node}}}");
    assert_eq!(moved(&node_before, &node_after, &calls), 3.0, "{node_after}");
    let tool = format!("agentry_tool_calls_total{{{node},outcome=\"ok\",tool=\"echo\"}}");
    assert_eq!(moved(&node_before, &node_after, &tool), 2.0, "{node_after}");
    let latency = format!("agentry_tool_latency_seconds_count{{{node},tool=\"echo\"}}");
    assert_eq!(moved(&node_before, &node_after, &latency), 2.0, "{node_after}");
    assert_eq!(moved(&node_before, &node_after, &format!("agentry_steps_total{{{node}}}")), 3.0, "{node_after}");
    assert_eq!(sample(&node_after, &format!("agentry_node_slots{{{node}}}")), 4.0);
}

#[tokio::test]
async fn the_example_alert_rules_are_valid() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/prometheus/agentry-alerts.yml");
    let output = tokio::process::Command::new("promtool")
        .args(["check", "rules", rules])
        .output()
        .await
        .expect("promtool (Debian package `prometheus`; scripts/tool-deps.sh installs it)");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool check rules: {report}");
    assert!(report.contains("SUCCESS: 8 rules found"), "{report}");
}
