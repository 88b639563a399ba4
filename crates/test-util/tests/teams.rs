//! Delegation under a budget, on both backends: a lead with a token budget delegates four tasks
//! with `parallel_agents`; its sub-agents draw from the lead's budget, so the budget caps the sum
//! of their use: the ones whose next call does not fit are paused (`budget_exceeded`) and the
//! lead keeps waiting (`waiting_children`) for them. Raising the budget and resuming them lets
//! every sub-agent finish, and the last one to end wakes the lead, which answers with the four
//! results in order. No model step is requested twice and no sub-agent is started twice.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use agentry_core::AgentId;
use agentry_proto::v1 as pb;
use agentry_test_util::{Backend, Cluster, Observed, Reply, ScriptedModel, eventually};

const TASKS: usize = 4;
/// Enough for the lead's first call (its reservation: about 450 tokens) but not for four
/// sub-agents after it (3 calls of 66 tokens in all each, and a reservation of about 300 tokens
/// before each call), whether they run one after the other or at once.
const MAX_TOKENS: u64 = 500;
const TIMEOUT: Duration = Duration::from_secs(20);

/// The lead's spec: no tools of its own, a team of `worker`s (who call `echo`).
fn lead_spec() -> pb::AgentSpec {
    let worker = pb::AgentSpec { model: "openai:scripted".into(), tools: vec!["echo".into()], ..Default::default() };
    let role = pb::TeamRole { description: "does one job".into(), spec: Some(worker) };
    let team = pb::Team { roles: [("worker".to_owned(), role)].into(), max_parallel: 8 };
    pb::AgentSpec { model: "openai:scripted".into(), team: Some(team), ..Default::default() }
}

async fn model() -> ScriptedModel {
    let tasks: Vec<Value> =
        (0..TASKS).map(|index| json!({ "agent": "worker", "input": format!("job {index}") })).collect();
    let lead = vec![Reply::tool("parallel_agents", json!({ "tasks": tasks })), Reply::text("all jobs reported")];
    let model = ScriptedModel::start(lead, Duration::ZERO).await.unwrap();
    let worker = vec![
        Reply::tool("echo", json!({"text": "a"})),
        Reply::tool("echo", json!({"text": "b"})),
        Reply::text("job done"),
    ];
    model.script_for("job ", worker);
    model
}

/// Returns the events of `agent_id` (persisted, not followed).
async fn events(cluster: &Cluster, agent_id: &str) -> Vec<pb::TraceEvent> {
    let request = pb::TraceRequest { agent_id: agent_id.to_owned(), ..Default::default() };
    cluster.trace(request, TIMEOUT).await.unwrap()
}

fn data(event: &pb::TraceEvent) -> Value {
    serde_json::from_str(&event.data).unwrap()
}

/// Returns the latest runs of `agent_ids` once every one's status is `accepted` (`what` names
/// the wait).
async fn latest_runs_when(
    cluster: &Cluster,
    agent_ids: &[String],
    what: &str,
    accepted: impl Fn(i32) -> bool,
) -> Vec<pb::Run> {
    let client = cluster.client().await.unwrap();
    let accepted = &accepted;
    eventually(what, TIMEOUT, || {
        let mut client = client.clone();
        async move {
            let mut runs = Vec::new();
            for agent_id in agent_ids {
                let request = pb::GetAgentRequest { agent_id: agent_id.clone() };
                match client.get_agent(request).await {
                    Ok(response) => runs.push(response.into_inner().agent.and_then(|agent| agent.latest_run).unwrap()),
                    Err(status) => return Observed::Failed(status.into()),
                }
            }
            let other = runs.iter().filter(|run| !accepted(run.status)).count();
            if other == 0 { Observed::Ready(runs) } else { Observed::NotYet(format!("{other} not yet")) }
        }
    })
    .await
    .unwrap()
}

async fn a_lead_budget_caps_its_sub_agents(backend: Backend) {
    let model = model().await;
    let cluster = Cluster::start_with_slots(backend, 2, 4, &model.base_url()).await.unwrap();
    let mut client = cluster.client().await.unwrap();
    let spawn = pb::SpawnRequest {
        spec: Some(lead_spec()),
        input: Some("lead: do the four jobs".into()),
        max_tokens: Some(MAX_TOKENS),
        ..Default::default()
    };
    let lead = client.spawn(spawn).await.unwrap().into_inner();

    let children: Vec<String> = eventually("the lead delegating", TIMEOUT, || async {
        let started = events(&cluster, &lead.agent_id).await;
        let children: Vec<String> = started
            .iter()
            .filter(|event| event.r#type == "tool_start")
            .flat_map(|event| data(event)["children"].as_array().cloned().unwrap_or_default())
            .filter_map(|child| child["agent_id"].as_str().map(str::to_owned))
            .collect();
        if children.is_empty() {
            let seen: Vec<String> = started.iter().map(|event| format!("{} {}", event.r#type, event.data)).collect();
            Observed::NotYet(format!("no delegation yet: {seen:?}"))
        } else {
            Observed::Ready(children)
        }
    })
    .await
    .unwrap();
    assert_eq!(children.len(), TASKS);

    let done = [pb::RunStatus::Completed as i32, pb::RunStatus::Paused as i32];
    let runs =
        latest_runs_when(&cluster, &children, "every sub-agent completed or paused", |status| done.contains(&status))
            .await;
    let paused: Vec<&pb::Run> = runs.iter().filter(|run| run.status == pb::RunStatus::Paused as i32).collect();
    assert!(!paused.is_empty(), "{MAX_TOKENS} tokens cannot carry four sub-agents of 66");
    let lead_run = cluster.store.get_run(lead.run_id.parse().unwrap()).await.unwrap();
    assert_eq!(lead_run.status.as_str(), "waiting_children", "a paused sub-agent keeps its lead waiting");
    assert_eq!(lead_run.node_id, None, "a waiting lead holds no node");

    // The sub-agents drew from the lead's budget, which capped them.
    let lead_id: AgentId = lead.agent_id.parse().unwrap();
    let budget_id = cluster.store.get_agent(lead_id).await.unwrap().agent.budget_id.expect("the lead's budget");
    let mut used = 0;
    let mut largest_reservation = 0;
    for child in &children {
        let child_id: AgentId = child.parse().unwrap();
        let agent = cluster.store.get_agent(child_id).await.unwrap().agent;
        assert_eq!(agent.parent_id, Some(lead_id));
        assert_eq!(agent.budget_id.as_deref(), Some(budget_id.as_str()), "a sub-agent draws from its lead's budget");
        assert_eq!(agent.labels.get("agentry.role").map(String::as_str), Some("worker"));
        for event in events(&cluster, child).await {
            if event.r#type == "usage" {
                used += data(&event)["total_tokens"].as_u64().unwrap();
            }
            if event.r#type == "budget_exceeded" {
                largest_reservation = largest_reservation.max(data(&event)["needed_tokens"].as_u64().unwrap());
            }
        }
    }
    let lead_used: u64 = events(&cluster, &lead.agent_id)
        .await
        .iter()
        .filter(|event| event.r#type == "usage")
        .map(|event| data(event)["total_tokens"].as_u64().unwrap())
        .sum();
    let budget = cluster.store.get_budget(&budget_id).await.unwrap();
    assert_eq!(budget.used.tokens, used + lead_used, "the budget counts the whole tree: {budget:?}");
    assert!(budget.used.tokens <= MAX_TOKENS + largest_reservation, "the budget capped the tree: {budget:?}");

    // More budget: the paused sub-agents finish, the last one wakes the lead.
    for (index, run) in paused.iter().enumerate() {
        let add_tokens = if index == 0 { 10_000 } else { 0 };
        let resume = pb::ResumeRunRequest { run_id: run.run_id.clone(), add_tokens, add_cost_usd: 0.0 };
        client.resume_run(resume).await.unwrap();
    }
    cluster.wait_for_run_end(&lead.run_id, TIMEOUT).await.unwrap();
    let lead_run = cluster.store.get_run(lead.run_id.parse().unwrap()).await.unwrap();
    assert_eq!(lead_run.status.as_str(), "completed", "{lead_run:?}");
    let lead_events = events(&cluster, &lead.agent_id).await;
    let result = lead_events.iter().find(|event| event.r#type == "tool_end").expect("the delegation's result");
    let output = data(result)["output"].as_str().unwrap().to_owned();
    for (index, child) in children.iter().enumerate() {
        let heading = format!("## {}/{TASKS}: worker (agent {child})\njob done", index + 1);
        assert!(output.contains(&heading), "{heading:?} missing from {output}");
    }
    let mut per_step: BTreeMap<(String, usize), usize> = BTreeMap::new();
    for ((input, step), count) in model.requests_per_step() {
        *per_step.entry((input, step)).or_default() += count;
    }
    for ((input, step), count) in per_step {
        assert_eq!(count, 1, "{input} asked the model twice for step {step}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_budget_caps_its_sub_agents_on_postgres() {
    a_lead_budget_caps_its_sub_agents(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_budget_caps_its_sub_agents_on_sqlite() {
    a_lead_budget_caps_its_sub_agents(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_waiting_lead_cancels_its_sub_agents() {
    let model = model().await;
    let gate = tokio_util::sync::CancellationToken::new();
    model.hold_inputs("job ", gate.clone());
    let cluster = Cluster::start_with_slots(Backend::Sqlite, 2, 4, &model.base_url()).await.unwrap();
    let mut client = cluster.client().await.unwrap();
    let spawn =
        pb::SpawnRequest { spec: Some(lead_spec()), input: Some("lead: do the jobs".into()), ..Default::default() };
    let lead = client.spawn(spawn).await.unwrap().into_inner();
    let children: Vec<String> = eventually("the lead waiting for its sub-agents", TIMEOUT, || async {
        let run = cluster.store.get_run(lead.run_id.parse().unwrap()).await.unwrap();
        if run.status.as_str() != "waiting_children" {
            return Observed::NotYet(format!("lead {}", run.status));
        }
        let tree = cluster.store.agent_tree(lead.agent_id.parse().unwrap()).await.unwrap();
        Observed::Ready(tree.iter().skip(1).map(|entry| entry.summary.agent.id.to_string()).collect())
    })
    .await
    .unwrap();
    assert_eq!(children.len(), TASKS);

    let cancel = pb::CancelRunRequest { run_id: lead.run_id.clone(), reason: "changed my mind".into() };
    client.cancel_run(cancel).await.unwrap();
    gate.cancel();
    let cancelled = pb::RunStatus::Cancelled as i32;
    let runs = latest_runs_when(&cluster, &children, "every sub-agent cancelled", |status| status == cancelled).await;
    for run in &runs {
        assert_eq!(run.error, format!("its parent run {} was cancelled", lead.run_id), "{run:?}");
    }
    let lead_run = cluster.store.get_run(lead.run_id.parse().unwrap()).await.unwrap();
    assert_eq!(lead_run.status.as_str(), "cancelled");
    cluster.shutdown().await;
}
