//! MCP through the whole cluster, against a real third-party server from npm
//! (`@modelcontextprotocol/server-everything`, installed by `scripts/mcp-servers.sh` when
//! missing): the agent's spec names the stdio server, the node starts it in its sandbox for the
//! run, the scripted model calls `everything__echo`, and the server's answer lands in the trace.
//! A server that cannot start is reported, and nothing is lost: the run is dead-lettered with
//! the server's error as its reason.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use agentry_proto::v1 as pb;
use agentry_test_util::{Backend, Cluster, Reply, ScriptedModel};

const TIMEOUT: Duration = Duration::from_secs(90);

/// Returns `dist/index.js` of server-everything, installing the servers when missing.
fn everything_entry() -> PathBuf {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mcp-servers.sh");
    let output = std::process::Command::new("bash").arg(&script).output().expect("running scripts/mcp-servers.sh");
    assert!(
        output.status.success(),
        "scripts/mcp-servers.sh failed (node and npm with access to the npm registry are needed): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    PathBuf::from(dir).join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
}

fn spec(command: Vec<String>) -> pb::AgentSpec {
    let stdio = pb::McpStdio { command, ..Default::default() };
    let server = pb::McpServer { transport: Some(pb::mcp_server::Transport::Stdio(stdio)) };
    pb::AgentSpec {
        model: "openai:scripted".into(),
        mcp_servers: [("everything".to_owned(), server)].into(),
        ..Default::default()
    }
}

fn data(event: &pb::TraceEvent) -> Value {
    serde_json::from_str(&event.data).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_tool_is_called_through_the_cluster() {
    let entry = everything_entry();
    let script = vec![
        Reply::tool("everything__echo", json!({ "message": "hello through the cluster" })),
        Reply::text("the server answered"),
    ];
    let model = ScriptedModel::start(script, Duration::ZERO).await.unwrap();
    let cluster = Cluster::start(Backend::Sqlite, 1, &model.base_url()).await.unwrap();
    let command = vec!["node".to_owned(), entry.display().to_string(), "stdio".to_owned()];
    let spawned = cluster.spawn(spec(command), Some("call the echo tool".into())).await.unwrap();
    let run = cluster.wait_for_run_end(&spawned.run_id, TIMEOUT).await.unwrap();
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "run failed: {}", run.error);

    let request = pb::TraceRequest { run_id: spawned.run_id.clone(), ..Default::default() };
    let events = cluster.trace(request, TIMEOUT).await.unwrap();
    let start = events.iter().find(|event| event.r#type == "tool_start").expect("tool_start");
    assert_eq!(data(start)["name"], "everything__echo");
    assert!(data(start)["sandbox"].is_string(), "the sandbox of the server is recorded: {}", start.data);
    let end = events.iter().find(|event| event.r#type == "tool_end").expect("tool_end");
    assert_eq!(data(end)["output"], "Echo: hello through the cluster");
    assert_eq!(data(end)["is_error"], false);
    // The model was offered the server's tools under their prefixed names.
    let offered: Vec<String> = model.requests()[0].body["tools"]
        .as_array()
        .expect("tools offered")
        .iter()
        .filter_map(|tool| tool["function"]["name"].as_str().map(str::to_owned))
        .collect();
    assert!(offered.contains(&"everything__echo".to_owned()), "{offered:?}");
    assert!(offered.iter().all(|name| name.starts_with("everything__")), "{offered:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_cannot_start_dead_letters_the_run_with_its_error() {
    let model = ScriptedModel::start(vec![Reply::text("unused")], Duration::ZERO).await.unwrap();
    let cluster = Cluster::start(Backend::Sqlite, 1, &model.base_url()).await.unwrap();
    let command = vec!["/nonexistent/mcp-server".to_owned()];
    let spawned = cluster.spawn(spec(command), Some("hi".into())).await.unwrap();
    let run = cluster.wait_for_run_end(&spawned.run_id, TIMEOUT).await.unwrap();
    assert_eq!(run.status, pb::RunStatus::Failed as i32);
    assert!(run.error.contains("dead-lettered") && run.error.contains("everything"), "{}", run.error);
    assert!(model.requests().is_empty(), "no model call without the agent's tools");
    cluster.shutdown().await;
}
