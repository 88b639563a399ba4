//! The sandbox through the whole cluster (scripted model → hub → node → `bash` / file tools),
//! on the node's default sandbox: a write outside the workspace fails; then (only once that
//! proved the sandbox active) `rm -rf / --no-preserve-root` leaves a canary outside the
//! workspace intact; a TCP connect to a listener on the host's 127.0.0.1 never arrives while the
//! network is denied, and arrives when the node's manifest allows it; a fork bomb and a 4 GiB
//! allocation are stopped and reported as tool errors while the node stays healthy; `../` and
//! symlink escapes in file tools are refused.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use agentry_core::policy::{ManifestOverride, ToolPolicy};
use agentry_proto::v1 as pb;
use agentry_test_util::{Backend, Cluster, Observed, Reply, ScriptedModel, eventually};

const TIMEOUT: Duration = Duration::from_secs(90);

/// A cluster of one node whose `bash` manifest is `bash` (lower limits, so the test is quick).
async fn cluster(model: &ScriptedModel, bash: ManifestOverride) -> Cluster {
    let mut cluster = Cluster::start(Backend::Sqlite, 0, &model.base_url()).await.unwrap();
    let policy = ToolPolicy { manifest: [("bash".to_owned(), bash)].into(), ..ToolPolicy::default() };
    cluster.add_custom_node(move |node| node.with_tool_policy(policy)).await.unwrap();
    cluster.wait_for_ready_nodes(1).await.unwrap();
    cluster
}

fn spec(tools: &[&str]) -> pb::AgentSpec {
    pb::AgentSpec {
        model: "openai:scripted".into(),
        tools: tools.iter().map(|tool| tool.to_string()).collect(),
        ..Default::default()
    }
}

fn bash(command: &str) -> Reply {
    Reply::tool("bash", json!({ "command": command }))
}

fn data(event: &pb::TraceEvent) -> Value {
    serde_json::from_str(&event.data).unwrap()
}

/// Returns `(output, is_error)` of every `tool_end` of the run so far.
async fn tool_results(cluster: &Cluster, run_id: &str) -> Vec<(String, bool)> {
    let request = pb::TraceRequest { run_id: run_id.to_owned(), ..Default::default() };
    let events = cluster.trace(request, TIMEOUT).await.unwrap();
    events
        .iter()
        .filter(|event| event.r#type == "tool_end")
        .map(|event| {
            let data = data(event);
            (data["output"].as_str().unwrap_or_default().to_owned(), data["is_error"] == true)
        })
        .collect()
}

/// Waits until the run has `count` tool results; returns them.
async fn wait_for_results(cluster: &Cluster, run_id: &str, count: usize) -> Vec<(String, bool)> {
    eventually(&format!("{count} tool results"), TIMEOUT, || async {
        let results = tool_results(cluster, run_id).await;
        if results.len() >= count { Observed::Ready(results) } else { Observed::NotYet(format!("{results:?}")) }
    })
    .await
    .unwrap()
}

/// Returns whether a connection is waiting to be accepted on `listener` (non-blocking).
fn connection_arrived(listener: &std::net::TcpListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Ok(_) => true,
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(error) => panic!("accept failed: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_written_commands_cannot_escape_the_default_sandbox() {
    // Outside the workspace and outside /tmp (bwrap replaces /tmp, and a checkout may live there).
    let outside = tempfile::tempdir_in("/var/tmp").unwrap();
    let canary = outside.path().join("canary");
    std::fs::write(&canary, "still here").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = vec![
        bash(&format!("touch {}/written-from-the-sandbox", outside.path().display())),
        bash("rm -rf / --no-preserve-root; echo rm-finished"),
        bash(&format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected")),
        // Every level waits for its children, so the tree only grows until the process limit.
        Reply::tool("bash", json!({ "command": "bomb() { bomb | bomb; }; bomb", "timeout_secs": 4 })),
        Reply::tool(
            "bash",
            json!({ "command": "perl -e '$x = \"a\" x (4 * 1024**3); print length($x)'", "timeout_secs": 30 }),
        ),
        Reply::tool("view", json!({ "path": "../../../../etc/passwd" })),
        bash("ln -s /etc/passwd escape && echo linked"),
        Reply::tool("view", json!({ "path": "escape" })),
        Reply::text("done"),
    ];
    let model = ScriptedModel::start(script, Duration::ZERO).await.unwrap();
    // `rm -rf /` waits until the write outside the workspace proved the sandbox active.
    let gate = Arc::new(tokio::sync::Notify::new());
    model.hold_step(1, gate.clone());
    let limits = ManifestOverride {
        memory_mb: Some(256),
        max_processes: Some(64),
        // `rm -rf /` walks the whole (read-only) file system: give it time to reach the canary.
        wall_time: Some(Duration::from_secs(120)),
        ..ManifestOverride::default()
    };
    let cluster = cluster(&model, limits).await;
    let spawned = cluster.spawn(spec(&["bash", "view"]), Some("try to escape".into())).await.unwrap();

    let probe = wait_for_results(&cluster, &spawned.run_id, 1).await;
    let written = outside.path().join("written-from-the-sandbox");
    if written.exists() || !probe[0].0.contains("exit code") {
        eprintln!(
            "SKIPPED LOUDLY: the default sandbox let a command write outside the workspace ({:?}); not running \
             rm -rf / against this machine",
            probe[0]
        );
        let mut client = cluster.client().await.unwrap();
        let cancel = pb::CancelRunRequest { run_id: spawned.run_id.clone(), reason: "sandbox inactive".into() };
        client.cancel_run(cancel).await.unwrap();
        return;
    }
    gate.notify_one();
    let run = cluster.wait_for_run_end(&spawned.run_id, TIMEOUT).await.unwrap();
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "run failed: {}", run.error);
    let results = tool_results(&cluster, &spawned.run_id).await;
    assert_eq!(results.len(), 8, "{results:?}");

    // rm -rf / ran to its end and left the canary outside the workspace.
    assert!(results[1].0.contains("rm-finished"), "{:?}", results[1]);
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "still here");
    // The connect failed, and nothing arrived at the listener.
    assert!(!results[2].0.contains("connected"), "{:?}", results[2]);
    assert!(!connection_arrived(&listener), "a connection from the sandbox arrived");
    // The fork bomb and the allocation are tool errors naming the limit.
    assert!(results[3].1, "the fork bomb is an error: {:?}", results[3]);
    assert!(
        results[3].0.contains("process limit of 64 reached") || results[3].0.contains("timed out"),
        "{:?}",
        results[3]
    );
    assert!(!results[4].0.contains("4294967296"), "the allocation succeeded: {:?}", results[4]);
    let stopped = results[4].1 && results[4].0.contains("memory limit of 256 MiB reached");
    assert!(stopped || results[4].0.contains("Out of memory"), "{:?}", results[4]);
    // File tools refuse `..` and a symlink pointing out of the workspace.
    assert!(results[5].1 && results[5].0.contains("escapes the workspace"), "{:?}", results[5]);
    assert!(results[6].0.contains("linked"), "{:?}", results[6]);
    assert!(results[7].1 && results[7].0.contains("outside the workspace"), "{:?}", results[7]);
    assert!(!results[7].0.contains("root:"), "the symlink was followed: {:?}", results[7]);

    // The run went on after each of them (it completed), and the node is still ready and idle.
    let client = cluster.client().await.unwrap();
    eventually("the node ready and idle", TIMEOUT, || {
        let mut client = client.clone();
        async move {
            let nodes = client.list_nodes(pb::ListNodesRequest::default()).await.unwrap().into_inner().nodes;
            match nodes.as_slice() {
                [node] if node.state == pb::NodeState::Ready as i32 && node.running == 0 => Observed::Ready(()),
                other => Observed::NotYet(format!("{other:?}")),
            }
        }
    })
    .await
    .unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_arrives_when_the_manifest_allows_the_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = vec![bash(&format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected")), Reply::text("done")];
    let model = ScriptedModel::start(script, Duration::ZERO).await.unwrap();
    let cluster = cluster(&model, ManifestOverride { network: Some(vec!["*".into()]), ..Default::default() }).await;
    let spawned = cluster.spawn(spec(&["bash"]), Some("connect".into())).await.unwrap();
    let run = cluster.wait_for_run_end(&spawned.run_id, TIMEOUT).await.unwrap();
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "run failed: {}", run.error);
    let results = tool_results(&cluster, &spawned.run_id).await;
    assert_eq!(results[0].0, "connected\n");
    assert!(connection_arrived(&listener), "the allowed connection did not arrive");
    cluster.shutdown().await;
}
