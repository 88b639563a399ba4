//! Budgets the cluster enforces, on both backends: ten concurrent runs of sub-agents draw from
//! their parent's token budget; reservations never over-commit it, the runs that hit it are
//! `paused` with `budget_exceeded`, nothing is lost or counted twice, and raising the budget on
//! resume lets every run complete.

use std::time::Duration;

use serde_json::{Value, json};

use agentry_core::AgentId;
use agentry_core::budget::DEFAULT_OUTPUT_ALLOWANCE;
use agentry_proto::v1 as pb;
use agentry_test_util::{Backend, Cluster, Observed, Reply, ScriptedModel, eventually};

const CHILDREN: usize = 10;
/// Less than ten children need (3 calls each, 66 tokens), more than one reservation.
const MAX_TOKENS: u64 = 700;
const TIMEOUT: Duration = Duration::from_secs(60);

fn spec() -> pb::AgentSpec {
    pb::AgentSpec { model: "openai:scripted".into(), tools: vec!["echo".into()], ..Default::default() }
}

/// Waits until every run of `run_ids` is completed or paused; returns their statuses.
async fn settled(cluster: &Cluster, run_ids: &[String]) -> Vec<pb::Run> {
    let client = cluster.client().await.unwrap();
    eventually("every run completed or paused", TIMEOUT, || {
        let mut client = client.clone();
        async move {
            let mut runs = Vec::new();
            for run_id in run_ids {
                let request = pb::GetRunRequest { run_id: run_id.clone() };
                match client.get_run(request).await {
                    Ok(response) => runs.push(response.into_inner().run.expect("a run")),
                    Err(status) => return Observed::Failed(status.into()),
                }
            }
            let done = [pb::RunStatus::Completed as i32, pb::RunStatus::Paused as i32];
            let waiting = runs.iter().filter(|run| !done.contains(&run.status)).count();
            if waiting == 0 { Observed::Ready(runs) } else { Observed::NotYet(format!("{waiting} still going")) }
        }
    })
    .await
    .unwrap()
}

/// Returns the events of `run_id`.
async fn events(cluster: &Cluster, run_id: &str) -> Vec<pb::TraceEvent> {
    let request = pb::TraceRequest { run_id: run_id.to_owned(), ..Default::default() };
    cluster.trace(request, TIMEOUT).await.unwrap()
}

fn data(event: &pb::TraceEvent) -> Value {
    serde_json::from_str(&event.data).unwrap()
}

async fn budget_of_concurrent_runs(backend: Backend) {
    let script =
        vec![Reply::tool("echo", json!({"text": "a"})), Reply::tool("echo", json!({"text": "b"})), Reply::text("done")];
    let model = ScriptedModel::start(script, Duration::ZERO).await.unwrap();
    let cluster = Cluster::start_with_slots(backend, 2, 5, &model.base_url()).await.unwrap();
    let mut client = cluster.client().await.unwrap();
    let parent = pb::SpawnRequest { spec: Some(spec()), max_tokens: Some(MAX_TOKENS), ..Default::default() };
    let parent = client.spawn(parent).await.unwrap().into_inner();
    let mut run_ids = Vec::new();
    for index in 0..CHILDREN {
        let child = pb::SpawnRequest {
            spec: Some(spec()),
            input: Some(format!("task {index}")),
            parent_id: parent.agent_id.clone(),
            ..Default::default()
        };
        run_ids.push(client.spawn(child).await.unwrap().into_inner().run_id);
    }
    let parent_id: AgentId = parent.agent_id.parse().unwrap();
    let budget_id = cluster.store.get_agent(parent_id).await.unwrap().agent.budget_id.expect("the parent's budget");

    let runs = settled(&cluster, &run_ids).await;
    let paused: Vec<&pb::Run> = runs.iter().filter(|run| run.status == pb::RunStatus::Paused as i32).collect();
    assert!(!paused.is_empty(), "{MAX_TOKENS} tokens cannot carry ten runs of 66");
    assert!(paused.len() < CHILDREN, "some runs fit the budget");
    let mut largest_reservation = 0;
    let mut settled_total = 0;
    for run in &runs {
        let events = events(&cluster, &run.run_id).await;
        settled_total += events
            .iter()
            .filter(|event| event.r#type == "usage")
            .map(|event| data(event)["total_tokens"].as_u64().unwrap())
            .sum::<u64>();
        if run.status == pb::RunStatus::Paused as i32 {
            let exceeded = events.iter().find(|event| event.r#type == "budget_exceeded").expect("budget_exceeded");
            let exceeded = data(exceeded);
            largest_reservation = largest_reservation.max(exceeded["needed_tokens"].as_u64().unwrap());
            assert!(exceeded["needed_tokens"].as_u64().unwrap() > DEFAULT_OUTPUT_ALLOWANCE);
            assert_eq!(events.last().unwrap().r#type, "run_paused", "paused right after");
            assert!(run.wait_reason.contains("budget exceeded"), "{}", run.wait_reason);
        }
    }
    let budget = cluster.store.get_budget(&budget_id).await.unwrap();
    assert_eq!(budget.used.tokens, settled_total, "every call counted once: the budget agrees with the usage events");
    assert!(budget.used.tokens <= MAX_TOKENS + largest_reservation, "{budget:?}");
    assert_eq!(budget.reserved.tokens, 0, "no reservation outlives its run's pause: {budget:?}");

    for (index, run) in paused.iter().enumerate() {
        let add_tokens = if index == 0 { 10_000 } else { 0 };
        let resume = pb::ResumeRunRequest { run_id: run.run_id.clone(), add_tokens, add_cost_usd: 0.0 };
        client.resume_run(resume).await.unwrap();
    }
    let runs = settled(&cluster, &run_ids).await;
    assert!(runs.iter().all(|run| run.status == pb::RunStatus::Completed as i32), "{runs:?}");
    let budget = cluster.store.get_budget(&budget_id).await.unwrap();
    assert_eq!(budget.limits.max_tokens, Some(MAX_TOKENS + 10_000));
    assert_eq!(
        (budget.used.tokens, budget.reserved.tokens),
        ((10 + 7 + 15 + 7 + 20 + 7) * CHILDREN as u64, 0),
        "{budget:?}"
    );
    for ((input, step), count) in model.requests_per_step() {
        assert_eq!(count, 1, "{input} asked the model twice for step {step}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_under_one_budget_on_postgres() {
    budget_of_concurrent_runs(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_under_one_budget_on_sqlite() {
    budget_of_concurrent_runs(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_a_run_without_a_budget_with_more_tokens_is_refused() {
    let model = ScriptedModel::start(vec![Reply::text("done")], Duration::ZERO).await.unwrap();
    let cluster = Cluster::start(Backend::Sqlite, 1, &model.base_url()).await.unwrap();
    let mut client = cluster.client().await.unwrap();
    let spawned = cluster.spawn(spec(), Some("hi".into())).await.unwrap();
    cluster.wait_for_run_end(&spawned.run_id, TIMEOUT).await.unwrap();
    let resume = pb::ResumeRunRequest { run_id: spawned.run_id.clone(), add_tokens: 5, add_cost_usd: 0.0 };
    let status = client.resume_run(resume).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("has no budget"), "{}", status.message());
    let bad = pb::SpawnRequest { spec: Some(spec()), max_cost_usd: Some(-1.0), ..Default::default() };
    let status = client.spawn(bad).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("max_cost_usd is -1"), "{}", status.message());
    cluster.shutdown().await;
}
