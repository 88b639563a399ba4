//! Creating, placing, fencing and loading runs.

use agentry_core::{Message, NodeId, Role, RunId, RunStatus};
use agentry_store::CommitBatch;

use super::{
    Harness, assert_conflict, assert_not_found, assert_stale, batch, new_agent, new_run, placed_run, running_run,
};

pub async fn create_run_appends_queued_run(harness: Harness) {
    let store = harness.store;
    let (agent, first) = store.create_agent(new_agent(), Some(new_run("one"))).await.unwrap();
    let wanted = new_run("two");
    let second = store.create_run(agent.id, wanted.clone()).await.unwrap();
    assert_eq!(second.id, wanted.id);
    assert_eq!((second.agent_id, second.status, second.epoch), (agent.id, RunStatus::Queued, 0));
    assert_eq!((second.node_id, second.input.as_str()), (None, "two"));
    assert_eq!(store.get_run(second.id).await.unwrap(), second);
    assert_eq!(store.get_run(first.unwrap().id).await.unwrap().input, "one");
}

pub async fn unknown_run_is_not_found(harness: Harness) {
    let store = harness.store;
    let unknown = RunId::generate();
    assert_not_found(store.get_run(unknown).await, "run", unknown);
    assert_not_found(store.assign_run(unknown, NodeId::generate(), 0).await, "run", unknown);
    assert_not_found(store.unassign_run(unknown, 0).await, "run", unknown);
    assert_not_found(store.load_run(unknown, 0).await, "run", unknown);
}

pub async fn placeable_runs_one_per_agent_in_order(harness: Harness) {
    let store = harness.store;
    let ids =
        |runs: Vec<agentry_store::PlaceableRun>| runs.into_iter().map(|placeable| placeable.run.id).collect::<Vec<_>>();
    let (first_agent, a1) = store.create_agent(new_agent(), Some(new_run("a1"))).await.unwrap();
    let a1 = a1.unwrap();
    let a2 = store.create_run(first_agent.id, new_run("a2")).await.unwrap();
    let (_, b1) = store.create_agent(new_agent(), Some(new_run("b1"))).await.unwrap();
    let b1 = b1.unwrap();

    // Oldest queued run of each agent, oldest first, at most `limit`.
    assert_eq!(ids(store.placeable_runs(10).await.unwrap()), vec![a1.id, b1.id]);
    assert_eq!(ids(store.placeable_runs(1).await.unwrap()), vec![a1.id]);

    // Placed (queued with a node): the agent has nothing placeable.
    let placed = store.assign_run(a1.id, NodeId::generate(), 0).await.unwrap();
    assert_eq!(ids(store.placeable_runs(10).await.unwrap()), vec![b1.id]);

    // Unassigned: placeable again, still before the agent's later run.
    store.unassign_run(a1.id, placed.epoch).await.unwrap();
    assert_eq!(ids(store.placeable_runs(10).await.unwrap()), vec![a1.id, b1.id]);

    // Running, then paused: still nothing for that agent.
    let placed = store.assign_run(a1.id, NodeId::generate(), placed.epoch).await.unwrap();
    let running = CommitBatch { status: Some(RunStatus::Running), ..batch(&placed, placed.epoch) };
    store.commit(running).await.unwrap();
    assert_eq!(ids(store.placeable_runs(10).await.unwrap()), vec![b1.id]);
    let paused = CommitBatch { status: Some(RunStatus::Paused), ..batch(&placed, placed.epoch) };
    store.commit(paused).await.unwrap();
    assert_eq!(ids(store.placeable_runs(10).await.unwrap()), vec![b1.id]);

    // Finished: the agent's next run comes up.
    let done = CommitBatch { status: Some(RunStatus::Completed), ..batch(&placed, placed.epoch) };
    store.commit(done).await.unwrap();
    assert_eq!(ids(store.placeable_runs(10).await.unwrap()), vec![a2.id, b1.id]);
}

pub async fn assign_run_bumps_epoch(harness: Harness) {
    let store = harness.store;
    let (_, run) = store.create_agent(new_agent(), Some(new_run("x"))).await.unwrap();
    let run = run.unwrap();
    let node = NodeId::generate();
    let assigned = store.assign_run(run.id, node, 0).await.unwrap();
    assert_eq!((assigned.epoch, assigned.node_id, assigned.status), (1, Some(node), RunStatus::Queued));
    assert!(assigned.updated_ms >= run.updated_ms);
    assert_eq!(store.get_run(run.id).await.unwrap(), assigned);

    // Re-placing a placed run moves it to the new node under a new epoch.
    let other = NodeId::generate();
    let moved = store.assign_run(run.id, other, 1).await.unwrap();
    assert_eq!((moved.epoch, moved.node_id), (2, Some(other)));
}

pub async fn assign_runs_applies_each_compare_and_set(harness: Harness) {
    let store = harness.store;
    let (_, first) = store.create_agent(new_agent(), Some(new_run("a"))).await.unwrap();
    let (_, second) = store.create_agent(new_agent(), Some(new_run("b"))).await.unwrap();
    let (first, second) = (first.unwrap(), second.unwrap());
    let (_, placed) = placed_run(store.as_ref()).await;
    let (_, running) = running_run(store.as_ref()).await;
    let (node, other) = (NodeId::generate(), NodeId::generate());
    let assigned = store
        .assign_runs(&[
            (first.id, node, 0),
            (placed.id, node, 0), // stale epoch: skipped
            (second.id, other, 0),
            (running.id, node, running.epoch), // not queued: skipped
            (RunId::generate(), node, 0),      // unknown: skipped
        ])
        .await
        .unwrap();
    let mut got: Vec<(RunId, u64, Option<NodeId>)> =
        assigned.iter().map(|run| (run.id, run.epoch, run.node_id)).collect();
    got.sort();
    let mut expected = vec![(first.id, 1, Some(node)), (second.id, 1, Some(other))];
    expected.sort();
    assert_eq!(got, expected);
    for run in &assigned {
        assert_eq!(&store.get_run(run.id).await.unwrap(), run);
    }
    assert_eq!(store.get_run(placed.id).await.unwrap(), placed);
    assert_eq!(store.get_run(running.id).await.unwrap(), running);
    assert!(store.assign_runs(&[]).await.unwrap().is_empty());
}

pub async fn assign_run_with_stale_epoch_is_rejected(harness: Harness) {
    let store = harness.store;
    let (_, placed) = placed_run(store.as_ref()).await;
    let result = store.assign_run(placed.id, NodeId::generate(), 0).await;
    assert_stale(result, placed.id, 0, 1);
    assert_eq!(store.get_run(placed.id).await.unwrap(), placed);
}

pub async fn assign_run_requires_queued(harness: Harness) {
    let store = harness.store;
    let (_, running) = running_run(store.as_ref()).await;
    let result = store.assign_run(running.id, NodeId::generate(), running.epoch).await;
    assert_conflict(result, "not queued");
    assert_eq!(store.get_run(running.id).await.unwrap(), running);

    let done = CommitBatch { status: Some(RunStatus::Completed), ..batch(&running, running.epoch) };
    store.commit(done).await.unwrap();
    let result = store.assign_run(running.id, NodeId::generate(), running.epoch).await;
    assert_conflict(result, "completed");
}

pub async fn unassign_run_only_at_epoch_and_queued(harness: Harness) {
    let store = harness.store;
    let (_, placed) = placed_run(store.as_ref()).await;

    // A stale epoch is a no-op.
    store.unassign_run(placed.id, 0).await.unwrap();
    assert_eq!(store.get_run(placed.id).await.unwrap().node_id, placed.node_id);

    // At the epoch: the node is cleared, the epoch kept.
    store.unassign_run(placed.id, 1).await.unwrap();
    let unassigned = store.get_run(placed.id).await.unwrap();
    assert_eq!((unassigned.node_id, unassigned.epoch, unassigned.status), (None, 1, RunStatus::Queued));

    // A started run keeps its node.
    let placed = store.assign_run(placed.id, NodeId::generate(), 1).await.unwrap();
    let started = CommitBatch { status: Some(RunStatus::Running), ..batch(&placed, 2) };
    store.commit(started).await.unwrap();
    store.unassign_run(placed.id, 2).await.unwrap();
    let running = store.get_run(placed.id).await.unwrap();
    assert_eq!((running.node_id, running.status), (placed.node_id, RunStatus::Running));
}

pub async fn load_run_returns_context(harness: Harness) {
    let store = harness.store;
    let (agent, first) = running_run(store.as_ref()).await;
    let foreign_run = RunId::generate();
    let mut stamped = Message::tool_result("call-1", "42");
    stamped.run_id = Some(foreign_run); // the store records the committing run instead
    let step = CommitBatch {
        messages: vec![Message::user("hello"), Message::assistant("", Vec::new()), stamped],
        status: Some(RunStatus::Completed),
        ..batch(&first, 1)
    };
    store.commit(step).await.unwrap();
    let second = store.create_run(agent.id, new_run("more")).await.unwrap();
    let second = store.assign_run(second.id, NodeId::generate(), 0).await.unwrap();
    let follow_up = CommitBatch { messages: vec![Message::user("more")], ..batch(&second, 1) };
    store.commit(follow_up).await.unwrap();

    let context = store.load_run(second.id, 1).await.unwrap();
    assert_eq!(context.run, store.get_run(second.id).await.unwrap());
    assert_eq!(context.agent, store.get_agent(agent.id).await.unwrap().agent);
    let positions: Vec<u64> = context.messages.iter().map(|stored| stored.index).collect();
    assert_eq!(positions, vec![0, 1, 2, 3]);
    let roles: Vec<Role> = context.messages.iter().map(|stored| stored.message.role).collect();
    assert_eq!(roles, vec![Role::User, Role::Assistant, Role::Tool, Role::User]);
    let runs: Vec<Option<RunId>> = context.messages.iter().map(|stored| stored.message.run_id).collect();
    assert_eq!(runs, vec![Some(first.id), Some(first.id), Some(first.id), Some(second.id)]);
    assert_eq!(context.messages[2].message.tool_call_id.as_deref(), Some("call-1"));
    assert_eq!(context.messages[2].message.content, "42");

    assert_stale(store.load_run(second.id, 0).await, second.id, 0, 1);
    assert_stale(store.load_run(second.id, 2).await, second.id, 2, 1);
}

pub async fn run_counts_count_runs_not_ended_by_status_and_placement(harness: Harness) {
    let store = harness.store;
    let count = |counts: &[agentry_store::RunCount], status: RunStatus, placed: bool| {
        counts.iter().find(|count| count.status == status && count.placed == placed).map_or(0, |count| count.count)
    };
    assert!(store.run_counts().await.unwrap().is_empty());
    let (agent, first) = store.create_agent(new_agent(), Some(new_run("one"))).await.unwrap();
    store.create_run(agent.id, new_run("two")).await.unwrap();
    let (_, other) = store.create_agent(new_agent(), Some(new_run("three"))).await.unwrap();
    let placed = store.assign_run(first.unwrap().id, NodeId::generate(), 0).await.unwrap();
    let running = CommitBatch { status: Some(RunStatus::Running), ..batch(&placed, placed.epoch) };
    store.commit(running).await.unwrap();
    let other = store.assign_run(other.unwrap().id, NodeId::generate(), 0).await.unwrap();
    let done = CommitBatch { status: Some(RunStatus::Completed), ..batch(&other, other.epoch) };
    store.commit(done).await.unwrap();

    let counts = store.run_counts().await.unwrap();
    assert_eq!(count(&counts, RunStatus::Running, true), 1, "{counts:?}");
    assert_eq!(count(&counts, RunStatus::Queued, false), 1, "{counts:?}");
    assert_eq!(counts.len(), 2, "ended runs are not counted: {counts:?}");
}

pub async fn trace_context_of_runs_and_events_is_kept(harness: Harness) {
    let store = harness.store;
    let parent = agentry_core::TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    let with_trace = |input: &str| agentry_store::NewRun { trace_parent: parent, ..new_run(input) };
    let (agent, first) = store.create_agent(new_agent(), Some(with_trace("one"))).await.unwrap();
    let first = first.unwrap();
    assert_eq!(first.trace_parent, parent, "as created");
    assert_eq!(store.get_run(first.id).await.unwrap().trace_parent, parent, "as read");
    let second = store.create_run(agent.id, with_trace("two")).await.unwrap();
    assert_eq!(store.get_run(second.id).await.unwrap().trace_parent, parent);
    let placed = store.assign_runs(&[(first.id, NodeId::generate(), 0)]).await.unwrap();
    assert_eq!(placed[0].trace_parent, parent, "assigned runs carry it to their task");

    let span = agentry_core::TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01");
    let mut traced = super::event("step_start", serde_json::json!({ "step": 1 }));
    traced.trace = span;
    let untraced = super::event("usage", serde_json::json!({ "step": 1 }));
    let commit = CommitBatch { events: vec![traced, untraced], ..batch(&placed[0], placed[0].epoch) };
    store.commit(commit).await.unwrap();
    let events = store.events_after(agent.id, None, 0, 10).await.unwrap();
    assert_eq!(events.iter().map(|event| event.trace).collect::<Vec<_>>(), vec![span, None]);
}
