//! What deployments watch (issue 15): `agentry health` — the exit code of the image's
//! `HEALTHCHECK` — against a real hub and node, and the autoscaling signal on the hub's
//! `/metrics` (`agentry_runs_waiting`, `agentry_queue_lag_total_messages`,
//! `agentry_cluster_slots`) while more runs are queued than the nodes have slots.

use std::process::Output;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use agentry_test_util::{
    NatsServer, Observed, PgTestDatabase, ProcessCluster, ProcessClusterConfig, Reply, ScriptedModel, eventually,
    http_get,
};

/// How long the gauges may take to reflect the cluster (heartbeats, placement).
const SIGNAL_DEADLINE: Duration = Duration::from_secs(30);

/// Runs `agentry health ARGS` (no `--hub` added) and returns its output.
async fn health(binary: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(binary)
        .arg("health")
        .args(args)
        .env_remove("AGENTRY_HUB")
        .env_remove("AGENTRY_HEALTH_HTTP")
        .output()
        .await
        .expect("running agentry health")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving_ready_unknown_and_unreachable_by_exit_code() {
    let model = ScriptedModel::start(vec![Reply::text("done")], Duration::ZERO).await.expect("model");
    let database = PgTestDatabase::create().await.expect("database");
    let nats = NatsServer::start().expect("nats");
    let config = ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
    let cluster = ProcessCluster::start(config, 1).await.expect("cluster");
    let binary = env!("CARGO_BIN_EXE_agentry");
    let hub = cluster.hub_url();

    for service in ["", "agentry.v1.AgentHub", "agentry.v1.NodeService"] {
        let output = health(binary, &["--hub", &hub, "--service", service]).await;
        assert!(output.status.success(), "service {service:?}: {}", text(&output.stderr));
        assert_eq!(text(&output.stdout), "SERVING");
    }
    let unknown = health(binary, &["--hub", &hub, "--service", "agentry.v1.Nope"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(text(&unknown.stderr), format!("error: hub {hub}: service agentry.v1.Nope is UNKNOWN"));

    let node_http = cluster.node_metrics_url("node-1").expect("node-1 serves metrics").replace("/metrics", "");
    let ready = health(binary, &["--http", &node_http]).await;
    assert!(ready.status.success(), "{}", text(&ready.stderr));
    assert_eq!(text(&ready.stdout), "ready");
    let live = health(binary, &["--http", &node_http, "--live"]).await;
    assert_eq!((live.status.code(), text(&live.stdout)), (Some(0), "live".to_owned()));

    // The same check through the environment, as the image's HEALTHCHECK runs in a node container.
    let from_env = tokio::process::Command::new(binary)
        .arg("health")
        .env("AGENTRY_HEALTH_HTTP", &node_http)
        .output()
        .await
        .expect("running agentry health");
    assert_eq!((from_env.status.code(), text(&from_env.stdout)), (Some(0), "ready".to_owned()));

    // Nothing listens there any more: unreachable is exit code 2, for both kinds of check.
    let closed = format!("http://127.0.0.1:{}", agentry_test_util::process_cluster::free_port().expect("a port"));
    let grpc = health(binary, &["--hub", &closed, "--timeout", "3s"]).await;
    assert_eq!(grpc.status.code(), Some(2), "{}", text(&grpc.stderr));
    assert!(text(&grpc.stderr).starts_with(&format!("error: hub unreachable at {closed}")), "{}", text(&grpc.stderr));
    let http = health(binary, &["--http", &closed]).await;
    assert_eq!(http.status.code(), Some(2), "{}", text(&http.stderr));
    assert!(
        text(&http.stderr).starts_with(&format!("error: unreachable at {closed}/readyz")),
        "{}",
        text(&http.stderr)
    );
}

/// Returns the value of the sample `series` (name and labels as written) in `exposition`.
fn sample(exposition: &str, series: &str) -> Option<i64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
}

/// The autoscaling gauges of one scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Signal {
    running: i64,
    waiting: i64,
    slots_total: i64,
    slots_busy: i64,
}

/// Scrapes the hub until its gauges equal `expected`; checks on the way that the waiting runs
/// are the unplaced runs plus the summed queue lag, and the sum is that of the per-node lags.
async fn wait_for_signal(metrics_url: &str, expected: Signal) {
    eventually(&format!("the hub's gauges to read {expected:?}"), SIGNAL_DEADLINE, || async {
        let (_, body) = match http_get(metrics_url).await {
            Ok(answer) => answer,
            Err(error) => return Observed::Failed(error),
        };
        let get = |series: &str| sample(&body, series).unwrap_or_else(|| panic!("{series} missing:\n{body}"));
        let signal = Signal {
            running: get("agentry_runs{status=\"running\"}"),
            waiting: get("agentry_runs_waiting"),
            slots_total: get("agentry_cluster_slots{state=\"total\"}"),
            slots_busy: get("agentry_cluster_slots{state=\"busy\"}"),
        };
        let lag_total = get("agentry_queue_lag_total_messages");
        assert_eq!(lag_total, get("agentry_queue_lag_messages{node=\"node-1\"}"), "one node: the sum is its lag");
        if signal != expected {
            return Observed::NotYet(format!("{signal:?}"));
        }
        assert_eq!(signal.waiting, get("agentry_runs_unplaced") + lag_total, "{body}");
        Observed::Ready(())
    })
    .await
    .expect("autoscaling gauges");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_beyond_the_free_slots_show_as_waiting_until_they_get_one() {
    let model = ScriptedModel::start(vec![Reply::text("done")], Duration::ZERO).await.expect("model");
    let database = PgTestDatabase::create().await.expect("database");
    let nats = NatsServer::start().expect("nats");
    let mut config =
        ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), model.base_url());
    config.slots = 2;
    config.heartbeat_interval = Duration::from_millis(250);
    let cluster = ProcessCluster::start(config, 1).await.expect("cluster");
    let metrics = cluster.hub_metrics_url();
    wait_for_signal(&metrics, Signal { running: 0, waiting: 0, slots_total: 2, slots_busy: 0 }).await;

    // Five runs on two slots: two run (their model calls held), three wait.
    let gate = CancellationToken::new();
    model.hold_inputs("scale", gate.clone());
    let inputs: Vec<String> = (0..5).map(|index| format!("scale {index}")).collect();
    let agents = cluster.spawn_agents(&inputs, &["--model", "openai:scripted"]).await.expect("spawning");
    wait_for_signal(&metrics, Signal { running: 2, waiting: 3, slots_total: 2, slots_busy: 2 }).await;

    gate.cancel();
    cluster.wait_until_completed(&agents, SIGNAL_DEADLINE).await.expect("every run completes");
    wait_for_signal(&metrics, Signal { running: 0, waiting: 0, slots_total: 2, slots_busy: 0 }).await;
}
