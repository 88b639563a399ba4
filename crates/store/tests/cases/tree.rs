//! Delegation trees: an agent and its sub-agents depth first, children oldest first, each with
//! its latest run and its model use.

use serde_json::json;

use agentry_core::event::kind;
use agentry_core::{AgentId, EventDraft, NodeId, Run, RunStatus};
use agentry_store::{CommitBatch, CostGrouping, NewAgent, RunControl, Store, TreeEntry};

use super::{Harness, assert_not_found, batch, event, new_agent, new_run};

/// Creates a sub-agent of `parent` (`None`: a root) with one queued run; returns its id and run.
async fn agent(store: &dyn Store, parent: Option<AgentId>) -> (AgentId, Run) {
    let (created, run) =
        store.create_agent(NewAgent { parent_id: parent, ..new_agent() }, Some(new_run("task"))).await.unwrap();
    (created.id, run.expect("first run"))
}

/// Places `run` on a node and commits `run_started` with `events` (epoch 1, `running`).
async fn start(store: &dyn Store, run: &Run, events: Vec<EventDraft>) -> Run {
    let placed = store.assign_run(run.id, NodeId::generate(), 0).await.unwrap();
    let started = CommitBatch { status: Some(RunStatus::Running), events, ..batch(&placed, 1) };
    store.commit(started).await.unwrap().run
}

/// Returns the `usage` event of one model call.
fn usage(input: u64, output: u64, cost_usd: f64) -> EventDraft {
    let data = json!({
        "step": 0, "model": "gpt", "prompt_tokens": input, "completion_tokens": output,
        "total_tokens": input + output, "cost_usd": cost_usd, "latency_ms": 3,
    });
    EventDraft { kind: kind::USAGE.to_owned(), data, ts_ms: 1_700_000_000_000, trace: None }
}

/// Returns (id, depth) of each entry, in order.
fn shape(tree: &[TreeEntry]) -> Vec<(AgentId, u32)> {
    tree.iter().map(|entry| (entry.summary.agent.id, entry.depth)).collect()
}

pub async fn agent_tree_walks_depth_first_children_oldest_first(harness: Harness) {
    let store = harness.store.as_ref();
    // root ─ a ─ a1 ─ a1x
    //      │   └ a2
    //      └ b ─ b1
    // Created interleaved, so that creation order differs from the walk's order.
    let (root, _) = agent(store, None).await;
    let (a, _) = agent(store, Some(root)).await;
    let (b, _) = agent(store, Some(root)).await;
    let (b1, _) = agent(store, Some(b)).await;
    let (a1, _) = agent(store, Some(a)).await;
    let (a2, _) = agent(store, Some(a)).await;
    let (a1x, _) = agent(store, Some(a1)).await;
    // Another tree, and an agent of no tree: neither appears.
    let (other, _) = agent(store, None).await;
    agent(store, Some(other)).await;
    store.create_agent(new_agent(), None).await.unwrap();

    let tree = store.agent_tree(root).await.unwrap();
    assert_eq!(shape(&tree), vec![(root, 0), (a, 1), (a1, 2), (a1x, 3), (a2, 2), (b, 1), (b1, 2)]);
    let parents: Vec<Option<AgentId>> = tree.iter().map(|entry| entry.summary.agent.parent_id).collect();
    assert_eq!(parents, vec![None, Some(root), Some(a), Some(a1), Some(a), Some(root), Some(b)]);

    // A subtree: its root is at depth 0, though it has a parent.
    let subtree = store.agent_tree(a).await.unwrap();
    assert_eq!(shape(&subtree), vec![(a, 0), (a1, 1), (a1x, 2), (a2, 1)]);
    // A leaf, and an agent without a run.
    assert_eq!(shape(&store.agent_tree(b1).await.unwrap()), vec![(b1, 0)]);
    let lone = store.create_agent(new_agent(), None).await.unwrap().0.id;
    let lone_tree = store.agent_tree(lone).await.unwrap();
    assert_eq!(shape(&lone_tree), vec![(lone, 0)]);
    assert!(lone_tree[0].summary.latest_run.is_none());
    assert_eq!((lone_tree[0].calls, lone_tree[0].total_tokens, lone_tree[0].cost_usd), (0, 0, 0.0));

    let unknown = AgentId::generate();
    assert_not_found(store.agent_tree(unknown).await, "agent", unknown);
}

pub async fn agent_tree_carries_latest_runs_and_model_use(harness: Harness) {
    let store = harness.store.as_ref();
    let (root, root_run) = agent(store, None).await;
    let root_run = start(store, &root_run, vec![usage(100, 10, 0.5), usage(200, 20, 1.0)]).await;
    // The root waits for its sub-agents.
    store.commit(CommitBatch { status: Some(RunStatus::WaitingChildren), ..batch(&root_run, 1) }).await.unwrap();

    // Completed, with a call naming neither total_tokens nor cost_usd, and a non-usage event.
    let (done, done_run) = agent(store, Some(root)).await;
    let unnamed = EventDraft {
        kind: kind::USAGE.to_owned(),
        data: json!({ "step": 1, "prompt_tokens": 3, "completion_tokens": 4 }),
        ts_ms: 1_700_000_000_000,
        trace: None,
    };
    let not_a_call = event(kind::STEP_START, json!({ "step": 0, "prompt_tokens": 999, "cost_usd": 9.0 }));
    let done_run = start(store, &done_run, vec![usage(50, 5, 0.25), unnamed, not_a_call]).await;
    store.commit(CommitBatch { status: Some(RunStatus::Completed), ..batch(&done_run, 1) }).await.unwrap();

    // Still queued, no calls.
    let (waiting, waiting_run) = agent(store, Some(root)).await;

    // A failed first run and a running second one: the latest is shown, the calls of both count.
    let (retried, first_run) = agent(store, Some(root)).await;
    let first_run = start(store, &first_run, vec![usage(10, 1, 0.125)]).await;
    let failed = CommitBatch { status: Some(RunStatus::Failed), error: Some("boom".into()), ..batch(&first_run, 1) };
    store.commit(failed).await.unwrap();
    let second_run = store.create_run(retried, new_run("again")).await.unwrap();
    let second_run = start(store, &second_run, vec![usage(20, 2, 0.0625)]).await;

    // A cancelled grandchild.
    let (cancelled, cancelled_run) = agent(store, Some(done)).await;
    store.control_run(cancelled_run.id, RunControl::Cancel { reason: "enough".into() }).await.unwrap();

    let tree = store.agent_tree(root).await.unwrap();
    assert_eq!(shape(&tree), vec![(root, 0), (done, 1), (cancelled, 2), (waiting, 1), (retried, 1)]);
    let latest: Vec<(Option<_>, Option<RunStatus>)> = tree
        .iter()
        .map(|entry| {
            let run = entry.summary.latest_run.as_ref();
            (run.map(|run| run.id), run.map(|run| run.status))
        })
        .collect();
    assert_eq!(
        latest,
        vec![
            (Some(root_run.id), Some(RunStatus::WaitingChildren)),
            (Some(done_run.id), Some(RunStatus::Completed)),
            (Some(cancelled_run.id), Some(RunStatus::Cancelled)),
            (Some(waiting_run.id), Some(RunStatus::Queued)),
            (Some(second_run.id), Some(RunStatus::Running)),
        ]
    );
    let model_use: Vec<(u64, u64, f64)> =
        tree.iter().map(|entry| (entry.calls, entry.total_tokens, entry.cost_usd)).collect();
    assert_eq!(model_use, vec![(2, 330, 1.5), (2, 62, 0.25), (0, 0, 0.0), (0, 0, 0.0), (2, 33, 0.1875)]);

    // The tree's sums are the cost report's row of its root.
    let report = store.cost_report(CostGrouping::Agent, None, None, None).await.unwrap();
    assert_eq!(report.len(), 1);
    let calls: u64 = tree.iter().map(|entry| entry.calls).sum();
    let tokens: u64 = tree.iter().map(|entry| entry.total_tokens).sum();
    let cost: f64 = tree.iter().map(|entry| entry.cost_usd).sum();
    assert_eq!(
        (report[0].key.clone(), report[0].calls, report[0].total_tokens, report[0].cost_usd),
        (root.to_string(), calls, tokens, cost)
    );
}
