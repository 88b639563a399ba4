//! Teams across a process cluster (issue 14): a lead agent delegates three tasks at once with
//! `parallel_agents`; its sub-agents are placed on different nodes and run at the same time
//! while the lead's run waits (`waiting_children`) holding no slot; a node running a sub-agent
//! is killed with SIGKILL mid-step. Every sub-agent still gives exactly one final answer, the
//! lead resumes once and gives one, no committed model step is requested twice, and no
//! sub-agent is started twice.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use agentry_test_util::trace_check::{TraceSummary, check_seqs, requests_for};
use agentry_test_util::{NatsServer, PgTestDatabase, ProcessCluster, ProcessClusterConfig, Reply, ScriptedModel};

/// How long a phase of the scenario may take.
const DEADLINE: Duration = Duration::from_secs(60);
/// The lead's input (its conversations are told apart from its sub-agents' by it).
const LEAD_INPUT: &str = "team: ship the feature";
/// The sub-agents' tasks.
const TASKS: [&str; 3] = ["task: write the code", "task: write the tests", "task: write the docs"];

/// The config of the cluster: a `lead` template delegating to `worker`s, which call `echo`.
const CONFIG: &str = r#"
[templates.lead]
description = "splits the work"
system = "You lead a team. Delegate with parallel_agents."
team = ["worker"]

[templates.worker]
description = "does one task"
system = "You do one task with echo."
tools = ["echo"]
"#;

/// Starts the model: the lead delegates then answers; each worker calls `echo` then answers.
/// Workers' requests wait for `gate`, so that all three are mid-step at once while the test
/// looks at the cluster and kills a node.
async fn model(gate: CancellationToken) -> ScriptedModel {
    let tasks: Vec<Value> = TASKS.iter().map(|task| json!({ "agent": "worker", "input": task })).collect();
    let lead = vec![Reply::tool("parallel_agents", json!({ "tasks": tasks })), Reply::text("the team shipped it")];
    let model = ScriptedModel::start(lead, Duration::from_millis(50)).await.expect("starting the scripted model");
    model.script_for("task:", vec![Reply::tool("echo", json!({ "text": "working" })), Reply::text("task done")]);
    model.hold_inputs("task:", gate);
    model
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lead_delegates_to_sub_agents_on_several_nodes_and_survives_a_node_kill() {
    let gate = CancellationToken::new();
    let model = model(gate.clone()).await;
    let database = PgTestDatabase::create().await.expect("creating a test database");
    let nats = NatsServer::start().expect("starting nats-server");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config_file = dir.path().join("agentry.toml");
    std::fs::write(&config_file, CONFIG).expect("writing the config");
    let mut config =
        ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
    config.lease_ttl = Duration::from_secs(2);
    config.heartbeat_interval = Duration::from_millis(500);
    config.config_file = Some(config_file);
    let mut cluster = ProcessCluster::start(config, 3).await.expect("starting the cluster");

    let lead = cluster
        .spawn(&["--template", "lead", "--model", "openai:scripted", "--input", LEAD_INPUT])
        .await
        .expect("spawning the lead");

    // All three sub-agents run at once, on at least two nodes; the lead waits on none.
    let agents = cluster
        .wait_for_agents("three sub-agents running and the lead waiting", DEADLINE, |agents| {
            running_children(agents, &lead).len() == TASKS.len() && status_of(agents, &lead) == "waiting_children"
        })
        .await
        .expect("the sub-agents running");
    let children = running_children(&agents, &lead);
    let nodes: BTreeSet<&str> = children.iter().map(|(_, node)| node.as_str()).collect();
    assert!(nodes.len() >= 2, "the sub-agents run on {nodes:?}: not spread over the cluster");
    let lead_run = agent(&agents, &lead);
    let lead_node = lead_run["latest_run"]["node_id"].as_str().unwrap_or_default();
    assert!(lead_node.is_empty(), "a waiting lead holds no node: {lead_run}");
    let busy = cluster
        .wait_for_nodes("the nodes reporting the three sub-agents' runs only", DEADLINE, |nodes| {
            nodes.iter().map(|node| node["running"].as_u64().unwrap_or(0)).sum::<u64>() == TASKS.len() as u64
        })
        .await
        .expect("the nodes' running counts");
    eprintln!(
        "running per node while the lead waits: {:?}",
        busy.iter().map(|node| (&node["name"], &node["running"])).collect::<Vec<_>>()
    );

    // Kill the node of one sub-agent in the middle of its first model call, then let the
    // sub-agents' model calls be answered.
    let (victim_agent, victim_node) = children[0].clone();
    let names = cluster.node_names();
    let mut victim_name = None;
    for name in &names {
        if cluster.node_id(name).await.expect("a node id") == victim_node {
            victim_name = Some(name.clone());
        }
    }
    let victim_name = victim_name.expect("the sub-agent's node is one of the cluster's");
    cluster.kill_node(&victim_name).await.expect("killing the node");
    eprintln!("killed {victim_name} ({victim_node}) running sub-agent {victim_agent}");
    gate.cancel();

    // Everything completes: the three sub-agents, then the lead.
    cluster
        .wait_for_agents("the lead and its sub-agents completed", DEADLINE, |agents| {
            status_of(agents, &lead) == "completed"
        })
        .await
        .expect("the lead completing");

    let lead_trace = cluster.trace(&lead).await.expect("the lead's trace");
    let spawned: Vec<String> = lead_trace
        .iter()
        .filter(|event| event["type"] == "tool_start")
        .flat_map(|event| event["data"]["children"].as_array().cloned().unwrap_or_default())
        .filter_map(|child| child["agent_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(spawned.len(), TASKS.len(), "exactly three sub-agents were started: {spawned:?}");
    let all = cluster.agents().await.expect("listing agents");
    assert_eq!(all.len(), 1 + TASKS.len(), "no sub-agent was started twice: {all:#?}");
    assert!(spawned.contains(&victim_agent), "the killed node's sub-agent is one of the lead's");

    let requests = model.requests_per_step();
    let mut problems = Vec::new();
    let traces = cluster.traces(&spawned).await.expect("the sub-agents' traces");
    let mut moved = 0;
    for (child, events) in spawned.iter().zip(&traces) {
        let summary = TraceSummary::of(events);
        moved += summary.run_moved.len();
        let input = events
            .iter()
            .find(|event| event["type"] == "run_started")
            .map(|_| child_input(&lead_trace, child))
            .unwrap_or_default();
        let checks = [
            check_seqs(events),
            summary.check_completed_once(2),
            summary.check_requests(&requests_for(&requests, &input), 2),
        ];
        problems
            .extend(checks.into_iter().filter_map(Result::err).map(|problem| format!("{child} ({input}): {problem}")));
    }
    let lead_summary = TraceSummary::of(&lead_trace);
    let checks = [
        check_seqs(&lead_trace),
        lead_summary.check_completed_once(2),
        lead_summary.check_requests(&requests_for(&requests, LEAD_INPUT), 2),
    ];
    problems.extend(checks.into_iter().filter_map(Result::err).map(|problem| format!("lead: {problem}")));
    assert!(problems.is_empty(), "{}\nlogs in {}", problems.join("\n"), cluster.logs_dir().display());
    assert!(moved >= 1, "the killed node's sub-agent moved to another node");
    assert_eq!(lead_summary.run_started, 2, "the lead ran twice: before delegating and once its sub-agents ended");

    // The lead's tool result holds the three answers, in the order of the tasks.
    let result = lead_trace
        .iter()
        .find(|event| event["type"] == "tool_end" && event["data"]["name"] == "parallel_agents")
        .expect("the delegation's result");
    let output = result["data"]["output"].as_str().unwrap_or_default();
    for (index, child) in spawned.iter().enumerate() {
        let heading = format!("## {}/3: worker (agent {child})\ntask done", index + 1);
        assert!(output.contains(&heading), "{heading:?} missing from {output}");
    }
}

/// Returns `(agent id, node id)` of the lead's sub-agents whose latest run is running on a node.
fn running_children(agents: &[Value], lead: &str) -> Vec<(String, String)> {
    agents
        .iter()
        .filter(|agent| agent["agent_id"] != lead && agent["latest_run"]["status"] == "running")
        .filter_map(|agent| {
            let node = agent["latest_run"]["node_id"].as_str().filter(|node| !node.is_empty())?;
            Some((agent["agent_id"].as_str()?.to_owned(), node.to_owned()))
        })
        .collect()
}

/// Returns the agent `id` from `agentry ps` JSON.
fn agent<'a>(agents: &'a [Value], id: &str) -> &'a Value {
    agents.iter().find(|agent| agent["agent_id"] == id).unwrap_or(&Value::Null)
}

/// Returns the status of agent `id`'s latest run.
fn status_of(agents: &[Value], id: &str) -> String {
    agent(agents, id)["latest_run"]["status"].as_str().unwrap_or_default().to_owned()
}

/// Returns the task the lead gave sub-agent `child` (from the `tool_start` arguments).
fn child_input(lead_trace: &[Value], child: &str) -> String {
    for event in lead_trace.iter().filter(|event| event["type"] == "tool_start") {
        let children = event["data"]["children"].as_array().cloned().unwrap_or_default();
        if let Some(position) = children.iter().position(|entry| entry["agent_id"] == child) {
            let arguments: Value =
                serde_json::from_str(event["data"]["arguments"].as_str().unwrap_or("{}")).unwrap_or_default();
            return arguments["tasks"][position]["input"].as_str().unwrap_or_default().to_owned();
        }
    }
    String::new()
}
