//! Delegation: a commit that delegates starts its sub-agents (agents from the team's roles,
//! queued first runs, under the parent's budget) and parks its run in `waiting_children`, which
//! holds no node; the last sub-agent to end queues the parent again, exactly once, however they
//! end (commit, operator cancel, the reaper's safety net); the parent's `load_run` reads back
//! how each ended.

use std::collections::BTreeMap;

use serde_json::json;
use tokio::task::JoinSet;

use agentry_core::budget::BudgetLimits;
use agentry_core::team::{Delegation, PARALLEL_AGENTS_TOOL, Team, TeamRole};
use agentry_core::{AgentId, AgentSpec, Message, NodeId, Run, RunId, RunStatus, ToolCall, TraceParent};
use agentry_store::{AgentQuery, CommitBatch, CommitOutcome, NewRun, ReleaseScope, RunControl, Store};

use super::{Harness, assert_conflict, assert_not_found, batch, event, new_agent, spec};

const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Returns the spec of role `role`: distinct per role, so a child's spec names its role.
fn role_spec(role: &str) -> AgentSpec {
    AgentSpec { system: format!("you are the {role}"), tools: vec!["read_file".into()], ..spec() }
}

/// Returns a spec with a team of `coder` and `reviewer`.
fn team_spec() -> AgentSpec {
    let roles = ["coder", "reviewer"]
        .into_iter()
        .map(|role| (role.to_owned(), TeamRole { description: format!("the {role}"), spec: role_spec(role) }))
        .collect();
    AgentSpec { team: Some(Team { roles, max_parallel: 4 }), ..spec() }
}

/// Creates an agent with a team and a budget of its own, and starts its run (running at epoch 1
/// on a fresh node, traced).
async fn team_run(store: &dyn Store) -> Run {
    let agent = agentry_store::NewAgent {
        spec: team_spec(),
        budget_id: Some(format!("budget-{}", AgentId::generate())),
        budget_limits: Some(BudgetLimits { max_tokens: Some(10_000), max_cost_usd: None }),
        ..new_agent()
    };
    let first = NewRun { trace_parent: TraceParent::parse(TRACE), ..super::new_run("build it") };
    let (_, run) = store.create_agent(agent, Some(first)).await.unwrap();
    let placed = store.assign_run(run.unwrap().id, NodeId::generate(), 0).await.unwrap();
    let started = CommitBatch { status: Some(RunStatus::Running), ..batch(&placed, 1) };
    store.commit(started).await.unwrap().run
}

/// Returns a delegation of call `call` to `role` with fresh ids.
fn delegation(call: &str, position: u32, role: &str) -> Delegation {
    Delegation {
        tool_call_id: call.to_owned(),
        position,
        role: role.to_owned(),
        input: format!("task {position} for the {role}"),
        child_agent_id: AgentId::generate(),
        child_run_id: RunId::generate(),
        outcome: None,
    }
}

/// Returns the commit of `run` that delegates `delegations` (call `call-1`, `parallel_agents`).
fn delegating(run: &Run, delegations: Vec<Delegation>) -> CommitBatch {
    let call = ToolCall { id: "call-1".into(), name: PARALLEL_AGENTS_TOOL.into(), arguments: "{}".into() };
    CommitBatch {
        events: vec![
            event("step_start", json!({ "step": 1 })),
            event("tool_start", json!({ "tool_call_id": "call-1", "name": PARALLEL_AGENTS_TOOL })),
        ],
        messages: vec![Message::assistant("delegating", vec![call])],
        status: Some(RunStatus::WaitingChildren),
        commit_id: Some("delegate-1".into()),
        delegations,
        ..batch(run, run.epoch)
    }
}

/// Creates a team run and delegates to a coder and a reviewer; returns the parked run and the
/// delegations.
async fn parked_parent(store: &dyn Store) -> (Run, Vec<Delegation>) {
    let run = team_run(store).await;
    let delegations = vec![delegation("call-1", 0, "coder"), delegation("call-1", 1, "reviewer")];
    let outcome = store.commit(delegating(&run, delegations.clone())).await.unwrap();
    (outcome.run, delegations)
}

/// Starts a sub-agent's run on a fresh node (running at epoch 1).
async fn start_child(store: &dyn Store, child: &Delegation) -> Run {
    let placed = store.assign_run(child.child_run_id, NodeId::generate(), 0).await.unwrap();
    let started = CommitBatch { status: Some(RunStatus::Running), ..batch(&placed, 1) };
    store.commit(started).await.unwrap().run
}

/// Ends a started sub-agent's run with `status`, its answer as the last assistant message, and
/// `wake_parent` set (as a node does).
fn ending(child: &Run, status: RunStatus, answer: &str) -> CommitBatch {
    CommitBatch {
        messages: vec![Message::assistant("working on it", Vec::new()), Message::assistant(answer, Vec::new())],
        status: Some(status),
        error: (status == RunStatus::Failed).then(|| "model unavailable".to_owned()),
        commit_id: Some(format!("end-{}", child.id)),
        wake_parent: true,
        ..batch(child, child.epoch)
    }
}

async fn agent_count(store: &dyn Store) -> usize {
    store.list_agents(&AgentQuery::newest(100)).await.unwrap().len()
}

pub async fn delegation_starts_children_and_parks_the_parent(harness: Harness) {
    let store = harness.store;
    let run = team_run(store.as_ref()).await;
    let parent = store.get_agent(run.agent_id).await.unwrap().agent;
    let delegations = vec![delegation("call-1", 0, "coder"), delegation("call-1", 1, "reviewer")];
    let outcome = store.commit(delegating(&run, delegations.clone())).await.unwrap();
    assert_eq!((outcome.run.status, outcome.run.node_id), (RunStatus::WaitingChildren, None));
    assert_eq!(outcome.last_seq, 2);
    assert!(outcome.woke_parent.is_none());

    for child in &delegations {
        let summary = store.get_agent(child.child_agent_id).await.unwrap();
        assert_eq!(summary.agent.parent_id, Some(parent.id));
        assert_eq!(summary.agent.spec, role_spec(&child.role), "the spec of the team's role");
        assert_eq!(summary.agent.labels, BTreeMap::from([("agentry.role".to_owned(), child.role.clone())]));
        assert_eq!(summary.agent.budget_id, parent.budget_id, "draws from the parent's budget");
        let child_run = store.get_run(child.child_run_id).await.unwrap();
        assert_eq!(
            (child_run.agent_id, child_run.status, child_run.node_id),
            (child.child_agent_id, RunStatus::Queued, None)
        );
        assert_eq!(child_run.input, child.input);
        assert_eq!(child_run.trace_parent, TraceParent::parse(TRACE), "under the parent run's trace");
        assert_eq!(summary.latest_run.map(|latest| latest.id), Some(child.child_run_id));
    }
    let budget = store.get_budget(parent.budget_id.as_deref().unwrap()).await.unwrap();
    assert_eq!(budget.limits.max_tokens, Some(10_000), "the children add no budget of their own");

    // The parked parent holds no node, is not placeable and is not taken back with a node.
    let mut placeable: Vec<RunId> =
        store.placeable_runs(10).await.unwrap().into_iter().map(|placeable| placeable.run.id).collect();
    placeable.sort();
    let mut children: Vec<RunId> = delegations.iter().map(|child| child.child_run_id).collect();
    children.sort();
    assert_eq!(placeable, children, "the children are placeable, the parent is not");
    assert!(store.node_loads().await.unwrap().is_empty(), "a waiting parent holds no slot");
    let counts = store.run_counts().await.unwrap();
    let waiting = counts.iter().find(|count| count.status == RunStatus::WaitingChildren).expect("counted");
    assert_eq!((waiting.placed, waiting.count), (false, 1));
    assert!(store.revoked_runs(run.node_id.unwrap(), &[(run.id, 1)]).await.unwrap().contains(&run.id));
    assert!(
        store.release_node_runs(run.node_id.unwrap(), ReleaseScope::All, "lease expired").await.unwrap().is_empty()
    );
    assert_eq!(store.get_run(run.id).await.unwrap().status, RunStatus::WaitingChildren);
    assert_eq!(store.active_runs(run.agent_id).await.unwrap().len(), 1, "it has not ended");

    // A retry of the commit (same id) is answered as applied and starts nobody twice.
    let retried = store.commit(delegating(&run, delegations)).await.unwrap();
    assert!(retried.replayed);
    assert_eq!(retried.last_seq, 2);
    assert_eq!(agent_count(store.as_ref()).await, 3);
}

pub async fn delegation_to_an_unknown_role_writes_nothing(harness: Harness) {
    let store = harness.store;
    let run = team_run(store.as_ref()).await;
    let unknown = vec![delegation("call-1", 0, "coder"), delegation("call-1", 1, "tester")];
    let coder = unknown[0].child_agent_id;
    assert_conflict(store.commit(delegating(&run, unknown)).await, "\"tester\"");
    assert_not_found(store.get_agent(coder).await, "agent", coder);
    assert_eq!(store.get_run(run.id).await.unwrap().status, RunStatus::Running);
    assert!(store.events_after(run.agent_id, None, 0, 10).await.unwrap().is_empty());
    assert!(store.load_run(run.id, 1).await.unwrap().messages.is_empty());
    assert_eq!(agent_count(store.as_ref()).await, 1);

    // An agent without a team delegates to nobody.
    let (_, plain) = super::running_run(store.as_ref()).await;
    assert_conflict(store.commit(delegating(&plain, vec![delegation("call-1", 0, "coder")])).await, "has no team");

    // The refusal left the run able to delegate properly.
    let outcome = store.commit(delegating(&run, vec![delegation("call-1", 0, "coder")])).await.unwrap();
    assert_eq!(outcome.run.status, RunStatus::WaitingChildren);
}

pub async fn last_child_to_end_wakes_the_parent(harness: Harness) {
    let store = harness.store;
    let (parent, children) = parked_parent(store.as_ref()).await;
    let coder = start_child(store.as_ref(), &children[0]).await;
    let reviewer = start_child(store.as_ref(), &children[1]).await;

    let first = store.commit(ending(&coder, RunStatus::Completed, "the code")).await.unwrap();
    assert!(first.woke_parent.is_none(), "the reviewer is still at work");
    assert_eq!(store.get_run(parent.id).await.unwrap().status, RunStatus::WaitingChildren);
    // Messages carry the seq of their commit: here none has events, so the agent's last seq.
    let coder_messages = store.load_run(coder.id, 1).await.unwrap().messages;
    assert_eq!(coder_messages.iter().map(|stored| stored.seq).collect::<Vec<_>>(), vec![Some(0), Some(0)]);

    let last = store.commit(ending(&reviewer, RunStatus::Failed, "")).await.unwrap();
    let woken = last.woke_parent.expect("the last child wakes the parent");
    assert_eq!((woken.id, woken.status, woken.node_id, woken.epoch), (parent.id, RunStatus::Queued, None, 1));
    assert_eq!(store.get_run(parent.id).await.unwrap(), woken);
    assert_eq!(store.placeable_runs(10).await.unwrap()[0].run.id, parent.id);
    let replayed = store.commit(ending(&reviewer, RunStatus::Failed, "")).await.unwrap();
    assert!(replayed.replayed && replayed.woke_parent.is_none());

    let assigned = store.assign_run(parent.id, NodeId::generate(), 1).await.unwrap();
    let context = store.load_run(parent.id, assigned.epoch).await.unwrap();
    assert_eq!(context.delegations.len(), 2);
    let [coded, reviewed] = [&context.delegations[0], &context.delegations[1]];
    assert_eq!((coded.role.as_str(), coded.position, coded.input.as_str()), ("coder", 0, "task 0 for the coder"));
    assert_eq!((coded.child_agent_id, coded.child_run_id), (children[0].child_agent_id, children[0].child_run_id));
    let coded = coded.outcome.clone().unwrap();
    assert_eq!((coded.status, coded.answer.as_deref(), coded.error), (RunStatus::Completed, Some("the code"), None));
    assert_eq!((reviewed.tool_call_id.as_str(), reviewed.position), ("call-1", 1));
    let reviewed = reviewed.outcome.clone().unwrap();
    assert_eq!((reviewed.status, reviewed.answer), (RunStatus::Failed, None), "no answer unless completed");
    assert_eq!(reviewed.error.as_deref(), Some("model unavailable"));
    // The delegating commit's message carries its commit's last seq (2 events: seq 2).
    assert_eq!(context.messages.iter().map(|stored| stored.seq).collect::<Vec<_>>(), vec![Some(2)]);
    // A run without delegation calls reads none.
    assert!(store.load_run(coder.id, 1).await.unwrap().delegations.is_empty());
}

pub async fn children_ending_together_wake_the_parent_once(harness: Harness) {
    const PARENTS: usize = 8;
    const CHILDREN: u32 = 4;
    let store = harness.store;
    let mut ending_children = Vec::new();
    let mut parents = Vec::new();
    for _ in 0..PARENTS {
        let run = team_run(store.as_ref()).await;
        let children: Vec<Delegation> = (0..CHILDREN).map(|position| delegation("call-1", position, "coder")).collect();
        store.commit(delegating(&run, children.clone())).await.unwrap();
        for child in &children {
            ending_children.push(start_child(store.as_ref(), child).await);
        }
        parents.push(run.id);
    }

    // Every child of every parent ends at once: each parent must be woken by exactly one. (On
    // PostgreSQL, without the parent's row lock, siblings miss each other's ending and no one
    // wakes the parent: this failed 4 runs out of 4.)
    let mut tasks = JoinSet::new();
    for child in ending_children {
        let store = store.clone();
        tasks.spawn(async move { store.commit(ending(&child, RunStatus::Completed, "done")).await });
    }
    let mut woken: Vec<RunId> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let outcome: CommitOutcome = joined.unwrap().unwrap();
        woken.extend(outcome.woke_parent.map(|parent| parent.id));
    }
    woken.sort();
    parents.sort();
    assert_eq!(woken, parents, "each parent woken once, by its last child");
    for parent in parents {
        assert_eq!(store.get_run(parent).await.unwrap().status, RunStatus::Queued);
    }
    assert!(store.wake_waiting_parents().await.unwrap().is_empty());
}

pub async fn cancelling_the_last_child_wakes_the_parent(harness: Harness) {
    let store = harness.store;
    let (parent, children) = parked_parent(store.as_ref()).await;
    let coder = start_child(store.as_ref(), &children[0]).await;
    assert!(store.commit(ending(&coder, RunStatus::Completed, "the code")).await.unwrap().woke_parent.is_none());

    // The reviewer never started: an operator cancels it.
    let cancel = RunControl::Cancel { reason: "not needed".into() };
    let cancelled = store.control_run(children[1].child_run_id, cancel).await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    let parent_now = store.get_run(parent.id).await.unwrap();
    assert_eq!((parent_now.status, parent_now.node_id), (RunStatus::Queued, None));
    let context = store.load_run(parent.id, parent_now.epoch).await.unwrap();
    let statuses: Vec<_> = context.delegations.iter().map(|child| child.outcome.clone().unwrap().status).collect();
    assert_eq!(statuses, vec![RunStatus::Completed, RunStatus::Cancelled]);
    assert_eq!(context.delegations[1].outcome.clone().unwrap().error.as_deref(), Some("not needed"));

    // Cancelling a run nobody delegated to wakes nothing and works as before.
    let (_, plain) = super::running_run(store.as_ref()).await;
    let plain = store.control_run(plain.id, RunControl::Cancel { reason: "stop".into() }).await.unwrap();
    assert_eq!(plain.status, RunStatus::Cancelled);
}

pub async fn wake_waiting_parents_is_the_safety_net(harness: Harness) {
    let store = harness.store;
    let (ended, ended_children) = parked_parent(store.as_ref()).await;
    let (busy, busy_children) = parked_parent(store.as_ref()).await;
    assert!(store.wake_waiting_parents().await.unwrap().is_empty(), "every child is queued");

    // Endings without `wake_parent` (e.g. a node that predates it) wake nobody...
    for child in ended_children.iter().chain(&busy_children[..1]) {
        let started = start_child(store.as_ref(), child).await;
        let silent = CommitBatch { wake_parent: false, ..ending(&started, RunStatus::Completed, "done") };
        assert!(store.commit(silent).await.unwrap().woke_parent.is_none());
    }
    assert_eq!(store.get_run(ended.id).await.unwrap().status, RunStatus::WaitingChildren);

    // ...the safety net does, only for the parent whose children all ended, once.
    let woken = store.wake_waiting_parents().await.unwrap();
    assert_eq!(
        woken.iter().map(|run| (run.id, run.status, run.node_id)).collect::<Vec<_>>(),
        vec![(ended.id, RunStatus::Queued, None)]
    );
    assert!(store.wake_waiting_parents().await.unwrap().is_empty());
    assert_eq!(store.get_run(busy.id).await.unwrap().status, RunStatus::WaitingChildren);
}
