//! Shared parts of the fault tests (`chaos.rs`, `recovery.rs`, `partition.rs`): a five-step
//! script, the agents' inputs, and the durability checks run on every agent at the end.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use serde_json::{Value, json};

use agentry_test_util::trace_check::{TraceSummary, check_seqs, requests_for};
use agentry_test_util::{ProcessCluster, Reply, ScriptedModel};

/// Model steps of [`five_step_script`]: four tool calls, then the final answer.
pub const STEPS: usize = 5;

/// `agentry spawn` options of the fault tests' agents.
pub const SPAWN_ARGS: [&str; 6] = ["--model", "openai:scripted", "--tools", "echo", "--max-iterations", "10"];

/// How long a fault test may wait for its runs to complete.
pub const COMPLETION_DEADLINE: Duration = Duration::from_secs(60);

/// Returns the script: steps 0–3 call `echo`, step 4 answers.
pub fn five_step_script() -> Vec<Reply> {
    let mut script: Vec<Reply> =
        (0..STEPS - 1).map(|step| Reply::tool("echo", json!({ "text": format!("step {step}") }))).collect();
    script.push(Reply::text("all steps done"));
    script
}

/// Starts a model answering [`five_step_script`] after `base` plus a jitter of up to
/// `jitter`, fixed per (input, step) so runs interleave differently but reproducibly.
pub async fn jittered_model(base: Duration, jitter: Duration) -> ScriptedModel {
    let jitter_ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX).max(1);
    ScriptedModel::start_with_latency_fn(five_step_script(), move |input, step| {
        let mut hasher = DefaultHasher::new();
        (input, step).hash(&mut hasher);
        base + Duration::from_millis(hasher.finish() % jitter_ms)
    })
    .await
    .expect("starting the scripted model")
}

/// Returns `count` distinct inputs (`<prefix> <index>`).
pub fn inputs(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|index| format!("{prefix} {index}")).collect()
}

/// Returns the ids of `agents` (from `agentry ps`) whose latest run is on `node_id` and has
/// not ended.
pub fn unfinished_on(agents: &[Value], node_id: &str) -> BTreeSet<String> {
    agents
        .iter()
        .filter(|agent| agent["latest_run"]["node_id"] == node_id)
        .filter(|agent| {
            !["completed", "failed", "cancelled"].contains(&agent["latest_run"]["status"].as_str().unwrap_or(""))
        })
        .filter_map(|agent| agent["agent_id"].as_str().map(str::to_owned))
        .collect()
}

/// Returns how many of `agents` run on `node_id` with at least `min_seq` events committed.
pub fn running_on(agents: &[Value], node_id: &str, min_seq: u64) -> usize {
    agents
        .iter()
        .filter(|agent| agent["latest_run"]["node_id"] == node_id && agent["latest_run"]["status"] == "running")
        .filter(|agent| agent["last_seq"].as_u64().unwrap_or(0) >= min_seq)
        .count()
}

/// Reads every agent's trace and checks the durability contract on it: contiguous `seq`s,
/// exactly one `final` and one `run_finished`, each step committed once, and no committed
/// model answer requested again (see `agentry_test_util::trace_check`). Panics listing every
/// violation; returns the summaries, in the order of `agent_ids`.
pub async fn check_agents(
    cluster: &ProcessCluster,
    model: &ScriptedModel,
    agent_ids: &[String],
    inputs: &[String],
) -> Vec<TraceSummary> {
    let traces = cluster.traces(agent_ids).await.expect("reading the traces");
    let requests = model.requests_per_step();
    let mut problems = Vec::new();
    let mut summaries = Vec::new();
    for ((agent_id, input), events) in agent_ids.iter().zip(inputs).zip(&traces) {
        let summary = TraceSummary::of(events);
        let checks = [
            check_seqs(events),
            summary.check_completed_once(STEPS),
            summary.check_requests(&requests_for(&requests, input), STEPS),
        ];
        problems.extend(
            checks.into_iter().filter_map(Result::err).map(|problem| format!("{agent_id} ({input}): {problem}")),
        );
        summaries.push(summary);
    }
    let moved = summaries.iter().filter(|summary| !summary.run_moved.is_empty()).count();
    let resumed: usize = summaries.iter().map(|summary| summary.run_started.saturating_sub(1)).sum();
    let repeated: usize = inputs
        .iter()
        .map(|input| {
            requests_for(&requests, input).values().sum::<usize>()
                - STEPS.min(requests_for(&requests, input).values().sum())
        })
        .sum();
    eprintln!(
        "checked {} agents: {moved} moved, {resumed} resumed executions, {repeated} repeated model requests",
        agent_ids.len()
    );
    assert!(
        problems.is_empty(),
        "{} violations:\n{}\nlogs in {}",
        problems.len(),
        problems.join("\n"),
        cluster.logs_dir().display()
    );
    summaries
}

/// Asserts that every agent of `moved` has a `run_moved` event, and that every `run_moved`
/// event moved a run away from a node in `killed` (node ids) and the run then started elsewhere.
/// Other agents may have been moved too: the hub may place a run on a killed node before its
/// lease expires.
pub fn assert_moved_exactly(
    agent_ids: &[String],
    summaries: &[TraceSummary],
    moved: &BTreeSet<String>,
    killed: &BTreeSet<String>,
) {
    let mut problems = Vec::new();
    for (agent_id, summary) in agent_ids.iter().zip(summaries) {
        if moved.contains(agent_id) && summary.run_moved.is_empty() {
            problems.push(format!("{agent_id}: was on a killed node but has no run_moved event"));
        }
        for event in &summary.run_moved {
            let from = event["from_node_id"].as_str().unwrap_or_default();
            if !killed.contains(from) {
                problems.push(format!("{agent_id}: moved from {from}, which was not killed: {event}"));
            }
        }
        let last_from = summary.run_moved.last().and_then(|event| event["from_node_id"].as_str());
        if last_from.is_some() && summary.last_node_id.as_deref() == last_from {
            problems.push(format!("{agent_id}: started again on {last_from:?}, the node it was moved from"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
