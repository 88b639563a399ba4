//! Tool permission policy through real `agentry` processes on PostgreSQL + JetStream: a `deny`
//! rule refuses a call without running it; an `ask` rule parks the run (`waiting_approval`,
//! slot freed) and the parked run survives `kill -9` of its node untouched; `agentry approve`
//! resumes it on the other node, which runs the call; `agentry deny` refuses the next one; an
//! approval nobody gives expires as a denial. No model call is repeated and nothing is lost.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use agentry_test_util::{NatsServer, PgTestDatabase, ProcessCluster, ProcessClusterConfig, Reply, ScriptedModel};

const DEADLINE: Duration = Duration::from_secs(60);

/// Deny `rm -rf /…`, ask before any `touch`.
const POLICY: &str = r#"
[tools]
approval-timeout = "APPROVAL_TIMEOUT"
[[tools.rules]]
tool = "bash"
pattern = 'rm\s+-rf\s+/'
action = "deny"
reason = "destroys the machine"
[[tools.rules]]
tool = "bash"
pattern = '^touch '
action = "ask"
reason = "creates files"
"#;

struct Setup {
    cluster: ProcessCluster,
    model: ScriptedModel,
    _config: tempfile::NamedTempFile,
    _database: PgTestDatabase,
    _nats: NatsServer,
}

async fn start(script: Vec<Reply>, approval_timeout: &str) -> Setup {
    let model = ScriptedModel::start(script, Duration::ZERO).await.expect("scripted model");
    let database = PgTestDatabase::create().await.expect("creating a test database");
    let nats = NatsServer::start().expect("starting nats-server");
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().expect("config file");
    file.write_all(POLICY.replace("APPROVAL_TIMEOUT", approval_timeout).as_bytes()).expect("writing the config");
    let mut config =
        ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
    config.config_file = Some(file.path().to_path_buf());
    let cluster = ProcessCluster::start(config, 2).await.expect("starting the cluster");
    Setup { cluster, model, _config: file, _database: database, _nats: nats }
}

fn bash(command: &str) -> Reply {
    Reply::tool("bash", json!({ "command": command }))
}

fn latest_run<'a>(agents: &'a [Value], agent: &str) -> &'a Value {
    &agents.iter().find(|entry| entry["agent_id"] == agent).expect("the agent is listed")["latest_run"]
}

fn of_type<'a>(trace: &'a [Value], kind: &str) -> Vec<&'a Value> {
    trace.iter().filter(|event| event["type"] == kind).collect()
}

/// Waits until the agent's run waits for an approval; returns the pending approval.
async fn pending_approval(cluster: &ProcessCluster, agent: &str) -> Value {
    cluster
        .wait_for_agents("the run to wait for an approval", DEADLINE, |agents| {
            latest_run(agents, agent)["status"] == "waiting_approval"
        })
        .await
        .expect("the run waits for an approval");
    let pending = cluster.json(&["approvals", "--pending", "--output", "json"]).await.expect("approvals");
    let pending = pending.as_array().expect("an array").clone();
    assert_eq!(pending.len(), 1, "one pending approval: {pending:?}");
    pending[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_parks_the_run_through_a_node_kill_and_approve_resumes_it_elsewhere() {
    let script = vec![
        bash("rm -rf / --no-preserve-root"),
        bash("touch approved.txt && echo created"),
        bash("touch denied.txt"),
        Reply::text("done"),
    ];
    let mut setup = start(script, "10m").await;
    let (cluster, model) = (&mut setup.cluster, &setup.model);
    let agent =
        cluster.spawn(&["--model", "openai:scripted", "--tools", "bash", "--input", "work"]).await.expect("spawn");

    // `rm -rf /` is refused without running; `touch` parks the run.
    let approval = pending_approval(cluster, &agent).await;
    assert_eq!((approval["tool"].as_str(), approval["state"].as_str()), (Some("bash"), Some("pending")));
    assert!(approval["rule"].as_str().unwrap_or_default().contains("^touch "), "{approval}");
    assert_eq!(approval["rule_reason"], "creates files");
    let run_id = approval["run_id"].as_str().expect("run id").to_owned();
    let call_id = approval["tool_call_id"].as_str().expect("call id").to_owned();
    let trace = cluster.trace(&agent).await.expect("trace");
    let denied = of_type(&trace, "tool_end");
    assert_eq!(denied.len(), 1, "only the refusal ended: {trace:?}");
    assert_eq!(denied[0]["data"]["is_error"], true);
    let refusal = denied[0]["data"]["output"].as_str().unwrap_or_default();
    assert!(refusal.contains("permission denied") && refusal.contains("destroys the machine"), "{refusal}");
    assert!(of_type(&trace, "tool_start").is_empty(), "neither call started: {trace:?}");
    assert_eq!(of_type(&trace, "approval_requested").len(), 1);

    // Parked, the run holds no slot.
    cluster
        .wait_for_nodes("every node idle", DEADLINE, |nodes| nodes.iter().all(|node| node["running"] == 0))
        .await
        .expect("the parked run holds no slot");

    // kill -9 of the node that ran it changes nothing.
    let started = of_type(&trace, "run_started");
    let first_node = started[0]["data"]["node_id"].as_str().expect("node id").to_owned();
    let nodes = cluster.nodes().await.expect("nodes");
    let name_of = |id: &str| {
        nodes.iter().find(|node| node["node_id"] == id).and_then(|node| node["name"].as_str()).map(str::to_owned)
    };
    let first_name = name_of(&first_node).expect("the node is listed");
    cluster.kill_node(&first_name).await.expect("kill -9");
    cluster
        .wait_for_nodes("the killed node to be dead", DEADLINE, |nodes| {
            nodes.iter().any(|node| node["node_id"] == first_node.as_str() && node["state"] == "dead")
        })
        .await
        .expect("the reaper declares the node dead");
    let agents = cluster.agents().await.expect("ps");
    assert_eq!(latest_run(&agents, &agent)["status"], "waiting_approval");
    let trace = cluster.trace(&agent).await.expect("trace");
    assert!(of_type(&trace, "run_moved").is_empty(), "a parked run is not moved: {trace:?}");

    // A wrong call and an unknown run are refused with clear errors.
    let wrong = cluster.client(&["approve", &run_id, "call-nope"]).await.expect("approve");
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("not of call call-nope") && stderr.contains(&call_id), "{stderr}");
    let unknown = cluster.client(&["approve", &uuid::Uuid::now_v7().to_string(), &call_id]).await.expect("approve");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not found"), "unknown run is NOT_FOUND");

    // Approve: the other node runs the call; the next `touch` parks again and is denied.
    let approved =
        cluster.client(&["approve", &run_id, &call_id, "--reason", "looks safe", "--actor", "alice"]).await.unwrap();
    assert!(approved.status.success(), "approve: {}", String::from_utf8_lossy(&approved.stderr));
    let second = pending_approval(cluster, &agent).await;
    let second_call = second["tool_call_id"].as_str().expect("call id").to_owned();
    assert_ne!(second_call, call_id);
    let denied = cluster.client(&["deny", &run_id, &second_call, "--reason", "not now", "--actor", "bob"]).await;
    assert!(denied.expect("deny").status.success());
    cluster.wait_until_completed(std::slice::from_ref(&agent), DEADLINE).await.expect("the run completes");

    let trace = cluster.trace(&agent).await.expect("trace");
    let decisions: Vec<(bool, &str)> = of_type(&trace, "approval_decided")
        .iter()
        .map(|event| (event["data"]["approved"] == true, event["data"]["actor"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(decisions, [(true, "alice"), (false, "bob")]);
    let starts = of_type(&trace, "tool_start");
    assert_eq!(starts.len(), 1, "only the approved call ran: {trace:?}");
    assert_eq!(starts[0]["data"]["tool_call_id"], call_id.as_str());
    assert_eq!(starts[0]["data"]["approval"]["actor"], "alice");
    assert!(starts[0]["data"]["sandbox"].is_string(), "the sandbox is recorded: {}", starts[0]);
    let ends: BTreeMap<String, String> = of_type(&trace, "tool_end")
        .iter()
        .map(|event| {
            let id = event["data"]["tool_call_id"].as_str().unwrap_or_default().to_owned();
            (id, event["data"]["output"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    assert_eq!(ends[&call_id], "created\n");
    assert!(ends[&second_call].contains("bob denied") && ends[&second_call].contains("not now"), "{ends:?}");
    let resumed_on: Vec<&str> =
        of_type(&trace, "run_started").iter().filter_map(|event| event["data"]["node_id"].as_str()).collect();
    assert!(resumed_on.len() >= 2 && resumed_on[1] != first_node, "resumed on the other node: {resumed_on:?}");

    // The approved call ran in the surviving node's workspace; no model call was repeated.
    let other = cluster.node_names().into_iter().find(|name| *name != first_name).expect("another node");
    let workspace = cluster.logs_dir().join("workspaces").join(other).join(&run_id);
    assert!(workspace.join("approved.txt").exists(), "the approved call ran in {}", workspace.display());
    assert!(!workspace.join("denied.txt").exists(), "the denied call did not run");
    let repeated: Vec<_> = model.requests_per_step().into_iter().filter(|(_, count)| *count > 1).collect();
    assert!(repeated.is_empty(), "model calls repeated: {repeated:?}");
    let listed = cluster.json(&["approvals", "--run", &run_id, "--output", "json"]).await.expect("approvals");
    let states: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|entry| entry["state"].as_str()).collect();
    assert_eq!(states, ["denied", "approved"], "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_nobody_gives_expires_as_a_denial() {
    let script = vec![bash("touch late.txt"), Reply::text("gave up")];
    let setup = start(script, "1s").await;
    let cluster = &setup.cluster;
    let agent =
        cluster.spawn(&["--model", "openai:scripted", "--tools", "bash", "--input", "work"]).await.expect("spawn");
    cluster.wait_until_completed(std::slice::from_ref(&agent), DEADLINE).await.expect("the run completes");

    let listed = cluster.json(&["approvals", "--output", "json"]).await.expect("approvals");
    let approval = &listed.as_array().expect("an array")[0];
    assert_eq!((approval["state"].as_str(), approval["actor"].as_str()), (Some("expired"), Some("system:expiry")));
    let trace = cluster.trace(&agent).await.expect("trace");
    assert!(of_type(&trace, "tool_start").is_empty(), "the expired call never ran");
    let end = of_type(&trace, "tool_end");
    let output = end[0]["data"]["output"].as_str().unwrap_or_default();
    assert!(output.contains("system:expiry denied") && output.contains("expired"), "{output}");
    assert_eq!(of_type(&trace, "final")[0]["data"]["content"], "gave up");
}
