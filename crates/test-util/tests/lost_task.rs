//! A task lost between an assignment and its publication: the hub's task queue drops its first
//! publishes silently (returns `Ok` without forwarding), which is what a hub stopping between
//! `assign_runs` and `publish_tasks` leaves behind — runs `queued` on a live node that never
//! hears of them. The reaper's safety net takes them back (epoch + 1) once their assignment is
//! older than two lease TTLs and their node's queue is empty, and the placer places them again.
//! Every run completes, each step committed and requested once. Run on PostgreSQL + JetStream
//! and on SQLite + the in-process broker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use agentry_broker::{Task, TaskQueue, TaskSubscription};
use agentry_core::NodeId;
use agentry_proto::v1 as pb;
use agentry_test_util::trace_check::{TraceSummary, check_seqs, requests_for};
use agentry_test_util::{Backend, Cluster, Reply, ScriptedModel};

/// Agents spawned.
const AGENTS: usize = 5;
/// Publishes the hub's queue drops: tasks lost.
const LOST: usize = 3;
/// Model calls per run: two tool calls, then the answer.
const STEPS: usize = 3;
/// Long enough for the reaper's grace (one TTL), the staleness (two TTLs) and the runs.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A task queue that drops the first publishes it is asked for (answering `Ok`), remembering
/// them, and forwards everything else to the real queue.
struct DroppingQueue {
    inner: Arc<dyn TaskQueue>,
    drops_left: Mutex<usize>,
    dropped: Arc<Mutex<Vec<Task>>>,
}

#[async_trait]
impl TaskQueue for DroppingQueue {
    async fn publish(&self, node_id: NodeId, task: &Task) -> agentry_broker::Result<()> {
        let drop_it = {
            let mut drops_left = self.drops_left.lock().unwrap_or_else(PoisonError::into_inner);
            let drop_it = *drops_left > 0;
            *drops_left = drops_left.saturating_sub(1);
            drop_it
        };
        if drop_it {
            self.dropped.lock().unwrap_or_else(PoisonError::into_inner).push(task.clone());
            return Ok(());
        }
        self.inner.publish(node_id, task).await
    }

    async fn subscribe(&self, node_id: NodeId) -> agentry_broker::Result<Box<dyn TaskSubscription>> {
        self.inner.subscribe(node_id).await
    }

    async fn backlog(&self, node_id: NodeId) -> agentry_broker::Result<u64> {
        self.inner.backlog(node_id).await
    }

    async fn outstanding(&self, node_id: NodeId) -> agentry_broker::Result<u64> {
        self.inner.outstanding(node_id).await
    }

    async fn retire(&self, node_id: NodeId) -> agentry_broker::Result<()> {
        self.inner.retire(node_id).await
    }
}

fn script() -> Vec<Reply> {
    vec![
        Reply::tool("echo", json!({ "text": "first" })),
        Reply::tool("echo", json!({ "text": "second" })),
        Reply::text("done"),
    ]
}

fn spec() -> pb::AgentSpec {
    pb::AgentSpec {
        model: "openai:scripted".into(),
        tools: vec!["echo".into()],
        system: "You are a test agent.".into(),
        max_iterations: 8,
        ..Default::default()
    }
}

/// Returns the agent's whole trace as `agentry trace --jsonl` prints it.
async fn trace_json(cluster: &Cluster, agent_id: &str) -> Vec<Value> {
    let request = pb::TraceRequest { agent_id: agent_id.to_owned(), ..Default::default() };
    let events = cluster.trace(request, RUN_TIMEOUT).await.expect("the agent's trace");
    events
        .iter()
        .map(|event| {
            let data: Value = serde_json::from_str(&event.data).expect("event data is JSON");
            json!({ "seq": event.seq, "type": event.r#type, "run_id": event.run_id, "data": data })
        })
        .collect()
}

async fn lost_tasks_are_placed_again_and_every_run_completes_once(backend: Backend) {
    let model = ScriptedModel::start(script(), Duration::ZERO).await.expect("the scripted model");
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let recorded = dropped.clone();
    let cluster = Cluster::start_with_hub_queue(backend, 2, 3, &model.base_url(), move |queue| {
        Arc::new(DroppingQueue { inner: queue, drops_left: Mutex::new(LOST), dropped: recorded })
    })
    .await
    .expect("the cluster");

    let inputs: Vec<String> = (0..AGENTS).map(|index| format!("agent {index}")).collect();
    let mut spawned = Vec::new();
    for input in &inputs {
        spawned.push(cluster.spawn(spec(), Some(input.clone())).await.expect("spawn"));
    }
    let mut final_runs = HashMap::new();
    for agent in &spawned {
        let run = cluster.wait_for_run_end(&agent.run_id, RUN_TIMEOUT).await.expect("the run ends");
        assert_eq!(run.status, pb::RunStatus::Completed as i32, "run {} failed: {}", agent.run_id, run.error);
        final_runs.insert(agent.run_id.clone(), run);
    }

    let lost = dropped.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(lost.len(), LOST, "the hub's first publishes were dropped: {lost:?}");
    let requests = model.requests_per_step();
    for (agent, input) in spawned.iter().zip(&inputs) {
        let events = trace_json(&cluster, &agent.agent_id).await;
        let summary = TraceSummary::of(&events);
        let checks = [
            check_seqs(&events),
            summary.check_completed_once(STEPS),
            summary.check_requests(&requests_for(&requests, input), STEPS),
        ];
        for check in checks {
            check.unwrap_or_else(|problem| panic!("{} ({input}): {problem}\n{events:#?}", agent.agent_id));
        }
        // No execution was interrupted, so no step was asked for twice, lost task or not.
        let asked = requests_for(&requests, input);
        assert!(asked.values().all(|count| *count == 1), "{input}: {asked:?}");
        assert_eq!(summary.run_started, 1, "{input}: the lost task never started the run");
    }

    for task in &lost {
        let run_id = task.run_id.to_string();
        let run = &final_runs[&run_id];
        assert!(run.epoch > task.epoch, "run {run_id} ended at epoch {}, its lost task had {}", run.epoch, task.epoch);
        let stored = cluster.store.get_run(task.run_id).await.expect("the run");
        assert_eq!(stored.epoch, run.epoch);
        // The placement that executed it came after the take-back: epoch + 2 at least.
        let events = trace_json(&cluster, &task.agent_id.to_string()).await;
        let started = events.iter().find(|event| event["type"] == "run_started").expect("run_started");
        assert!(started["data"]["epoch"].as_u64().expect("an epoch") >= task.epoch + 2, "{started}");
    }
    // The runs whose task arrived were placed once and never taken back (no false positive).
    let lost_ids: Vec<String> = lost.iter().map(|task| task.run_id.to_string()).collect();
    for (run_id, run) in final_runs.iter().filter(|(run_id, _)| !lost_ids.contains(run_id)) {
        assert_eq!(run.epoch, 1, "run {run_id} was placed more than once");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_tasks_are_placed_again_on_postgres_and_jetstream() {
    lost_tasks_are_placed_again_and_every_run_completes_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_tasks_are_placed_again_on_sqlite() {
    lost_tasks_are_placed_again_and_every_run_completes_once(Backend::Sqlite).await;
}
