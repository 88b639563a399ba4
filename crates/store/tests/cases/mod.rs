//! The cases of the conformance suite, each a function of a fresh [`Harness`].

pub mod agents;
pub mod approvals;
pub mod audit;
pub mod commit;
pub mod cost;
pub mod events;
pub mod fork;
pub mod import;
pub mod lifecycle;
pub mod listing;
pub mod lost_tasks;
pub mod nodes;
pub mod runs;
pub mod scheduling;
pub mod teams;
pub mod tenants;
pub mod tree;

use std::collections::BTreeMap;

use serde_json::json;

use agentry_core::{
    Agent, AgentId, AgentSpec, EventDraft, Message, NodeId, NodeInfo, NodeState, Run, RunId, RunStatus,
};
use agentry_store::{CommitBatch, Error, NewAgent, NewRun, Store};

pub use crate::Harness;

/// Returns a valid spec.
pub fn spec() -> AgentSpec {
    AgentSpec {
        model: "openai:gpt-4o-mini".into(),
        tools: vec!["echo".into()],
        system: "be brief".into(),
        max_iterations: 8,
        node_selector: Default::default(),
        temperature: Some(0.25),
        tool_choice: None,
        mcp_servers: Default::default(),
        team: None,
    }
}

/// Returns an agent to create, with a fresh id and no idempotency key.
pub fn new_agent() -> NewAgent {
    NewAgent {
        id: AgentId::generate(),
        spec: spec(),
        labels: BTreeMap::from([("team".to_owned(), "search".to_owned())]),
        parent_id: None,
        idempotency_key: None,
        budget_id: None,
        budget_limits: None,
        tenant: agentry_core::DEFAULT_TENANT.to_owned(),
    }
}

/// Returns a run to create, with a fresh id.
pub fn new_run(input: &str) -> NewRun {
    NewRun { id: RunId::generate(), input: input.to_owned(), trace_parent: None }
}

/// Returns an event draft whose data identifies it.
pub fn event(kind: &str, data: serde_json::Value) -> EventDraft {
    EventDraft { kind: kind.to_owned(), data, ts_ms: 1_700_000_000_000, trace: None }
}

/// Returns an empty commit of `run` at `epoch`.
pub fn batch(run: &Run, epoch: u64) -> CommitBatch {
    CommitBatch {
        run_id: run.id,
        epoch,
        events: Vec::new(),
        messages: Vec::new(),
        status: None,
        error: None,
        commit_id: None,
        budget: None,
        delegations: Vec::new(),
        wake_parent: false,
    }
}

/// Returns a commit of `run` at `epoch` with `count` step events and one assistant message.
pub fn step_batch(run: &Run, epoch: u64, count: usize) -> CommitBatch {
    CommitBatch {
        events: (0..count).map(|index| event("step_start", json!({ "step": index }))).collect(),
        messages: vec![Message::assistant("thinking", Vec::new())],
        ..batch(run, epoch)
    }
}

/// Returns a ready node with a fresh id.
pub fn node(name: &str) -> NodeInfo {
    NodeInfo {
        id: NodeId::generate(),
        name: name.to_owned(),
        state: NodeState::Ready,
        slots: 4,
        running: 0,
        labels: BTreeMap::from([("zone".to_owned(), "a".to_owned())]),
        last_heartbeat_ms: 1_700_000_000_000,
    }
}

/// Creates an agent with one run and assigns the run to a fresh node: the run is at epoch 1.
pub async fn placed_run(store: &dyn Store) -> (Agent, Run) {
    let (agent, run) = store.create_agent(new_agent(), Some(new_run("hello"))).await.unwrap();
    let run = run.expect("first run is created");
    let placed = store.assign_run(run.id, NodeId::generate(), 0).await.unwrap();
    assert_eq!(placed.epoch, 1);
    (agent, placed)
}

/// Creates an agent with one run that a node started (`running`, epoch 1).
pub async fn running_run(store: &dyn Store) -> (Agent, Run) {
    let (agent, run) = placed_run(store).await;
    let started = CommitBatch { status: Some(RunStatus::Running), ..batch(&run, 1) };
    let outcome = store.commit(started).await.unwrap();
    (agent, outcome.run)
}

/// Asserts that `result` failed with [`Error::NotFound`] for `what` `id`.
#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T, Error>, what: &str, id: impl ToString) {
    match result {
        Err(Error::NotFound { what: found_what, id: found_id }) => {
            assert_eq!((found_what, found_id), (what, id.to_string()));
        }
        other => panic!("expected {what} not found, got {other:?}"),
    }
}

/// Asserts that `result` failed with [`Error::StaleEpoch`] for `run_id` with these epochs.
#[track_caller]
pub fn assert_stale<T: std::fmt::Debug>(result: Result<T, Error>, run_id: RunId, given: u64, current: u64) {
    match result {
        Err(Error::StaleEpoch { run_id: found_run, given: found_given, current: found_current }) => {
            assert_eq!((found_run, found_given, found_current), (run_id, given, current));
        }
        other => panic!("expected a stale epoch, got {other:?}"),
    }
}

/// Asserts that `result` failed with [`Error::Conflict`] whose message contains `needle`.
#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(result: Result<T, Error>, needle: &str) {
    match result {
        Err(Error::Conflict(message)) => {
            assert!(message.contains(needle), "conflict {message:?} does not mention {needle:?}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}
