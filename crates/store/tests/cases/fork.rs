//! Forks: every point, the copied conversation and its runs, the input, the fork's agent row
//! and first event, refusals; and the seq each committed message records.

use std::collections::BTreeMap;

use serde_json::json;

use agentry_core::{Agent, AgentId, Message, NodeId, Role, Run, RunId, RunStatus, ToolCall};
use agentry_store::{CommitBatch, Error, ForkPlan, ForkPoint, Forked, Store, StoredMessage};

use super::{Harness, assert_conflict, assert_not_found, batch, event, new_run, running_run};

/// A source agent with two runs, its messages (index: seq) committed as
/// run 1: `0 user q1: 2, 1 answer(call a): 2, 2 result a: 3, 3 answer "first answer": 4`
/// (completed), run 2: `4 user q2: 6, 5 answer(calls b, c): 6, 6 result b: 7` (running).
struct Source {
    agent: Agent,
    first: Run,
    second: Run,
}

fn call(id: &str) -> ToolCall {
    ToolCall { id: id.into(), name: "echo".into(), arguments: json!({ "text": id }).to_string() }
}

fn step(run: &Run, events: usize, messages: Vec<Message>) -> CommitBatch {
    CommitBatch {
        events: (0..events).map(|index| event("step_start", json!({ "index": index }))).collect(),
        messages,
        ..batch(run, 1)
    }
}

async fn source(store: &dyn Store) -> Source {
    let (agent, first) = running_run(store).await;
    store.commit(step(&first, 2, vec![Message::user("q1"), Message::assistant("", vec![call("a")])])).await.unwrap();
    store.commit(step(&first, 1, vec![Message::tool_result("a", "echoed a")])).await.unwrap();
    let done = CommitBatch {
        status: Some(RunStatus::Completed),
        ..step(&first, 1, vec![Message::assistant("first answer", Vec::new())])
    };
    store.commit(done).await.unwrap();
    let second = store.create_run(agent.id, new_run("q2")).await.unwrap();
    let second = store.assign_run(second.id, NodeId::generate(), 0).await.unwrap();
    let started = CommitBatch { status: Some(RunStatus::Running), ..batch(&second, 1) };
    store.commit(started).await.unwrap();
    let answer = Message::assistant("", vec![call("b"), call("c")]);
    store.commit(step(&second, 2, vec![Message::user("q2"), answer])).await.unwrap();
    let outcome = store.commit(step(&second, 1, vec![Message::tool_result("b", "echoed b")])).await.unwrap();
    assert_eq!(outcome.last_seq, 7);
    Source { agent, first, second: outcome.run }
}

fn plan(source: &Source, point: ForkPoint, count: usize) -> ForkPlan {
    ForkPlan {
        agent_id: source.agent.id,
        point,
        forks: (0..count).map(|_| (AgentId::generate(), RunId::generate())).collect(),
        model: None,
        input: None,
        labels: BTreeMap::new(),
        trace_parent: None,
    }
}

/// Returns each message's (role, content, run) of `messages`.
fn outline(messages: &[StoredMessage]) -> Vec<(Role, String, RunId)> {
    messages
        .iter()
        .map(|stored| (stored.message.role, stored.message.content.clone(), stored.message.run_id.unwrap()))
        .collect()
}

/// Checks that `fork` holds the first `copied` messages of the source, those of `continued`
/// moved to the fork's run, and returns its messages.
async fn assert_copied(
    store: &dyn Store,
    source: &Source,
    fork: &(Agent, Run),
    copied: usize,
    continued: RunId,
) -> Vec<StoredMessage> {
    let original = store.list_messages(source.agent.id).await.unwrap();
    let copy = store.list_messages(fork.0.id).await.unwrap();
    let expected: Vec<(Role, String, RunId)> = outline(&original[..copied])
        .into_iter()
        .map(|(role, content, run_id)| (role, content, if run_id == continued { fork.1.id } else { run_id }))
        .collect();
    assert_eq!(outline(&copy[..copied]), expected);
    assert_eq!(copy.iter().map(|stored| stored.index).collect::<Vec<_>>(), (0..copy.len() as u64).collect::<Vec<_>>());
    assert!(copy.iter().all(|stored| stored.seq == Some(1)), "copies are written by the fork's seq 1: {copy:?}");
    assert_eq!(copy[..copied].iter().map(|stored| &stored.message.tool_calls).collect::<Vec<_>>(), {
        original[..copied].iter().map(|stored| &stored.message.tool_calls).collect::<Vec<_>>()
    });
    copy
}

pub async fn messages_record_the_seq_of_their_commit(harness: Harness) {
    let store = harness.store;
    let source = source(store.as_ref()).await;
    let messages = store.list_messages(source.agent.id).await.unwrap();
    let seqs: Vec<Option<u64>> = messages.iter().map(|stored| stored.seq).collect();
    assert_eq!(seqs, [2, 2, 3, 4, 6, 6, 7].map(Some));
    assert_eq!(messages[3].message.run_id, Some(source.first.id));
    assert_eq!(messages[4].message.run_id, Some(source.second.id));
    let loaded = store.load_run(source.second.id, 1).await.unwrap().messages;
    assert_eq!(loaded, messages, "LoadRun reads the same messages, seqs included");
    let (idle, _) = store.create_agent(super::new_agent(), None).await.unwrap();
    assert!(store.list_messages(idle.id).await.unwrap().is_empty());
    let unknown = AgentId::generate();
    assert_not_found(store.list_messages(unknown).await, "agent", unknown);
}

pub async fn fork_at_each_point_copies_the_prefix_and_continues_its_run(harness: Harness) {
    let store = harness.store;
    let source = source(store.as_ref()).await;
    let (first, second) = (source.first.id, source.second.id);
    // (point, messages copied, run continued, step of that run, seq branched at)
    let cases = [
        (ForkPoint::End, 7, second, 1, 7),
        (ForkPoint::Seq(3), 3, first, 1, 3),
        (ForkPoint::Seq(5), 4, first, 2, 5),
        (ForkPoint::MessageIndex(5), 5, second, 0, 6),
        (ForkPoint::Step { run_id: first, step: 1 }, 3, first, 1, 3),
        (ForkPoint::Step { run_id: second, step: 1 }, 7, second, 1, 7),
    ];
    for (point, copied, continued, step, at_seq) in cases {
        let Forked { forks, message_count, at_seq: forked_at } =
            store.fork_agent(plan(&source, point.clone(), 1)).await.unwrap();
        assert_eq!((message_count, forked_at), (copied as u64, at_seq), "{point:?}");
        let fork = &forks[0];
        let messages = assert_copied(store.as_ref(), &source, fork, copied, continued).await;
        assert_eq!(messages.len(), copied, "{point:?}: no input, nothing appended");
        let continued_run = store.get_run(continued).await.unwrap();
        assert_eq!(fork.1.input, continued_run.input, "{point:?}: the continued run's input");
        let events = store.events_after(fork.0.id, None, 0, 10).await.unwrap();
        assert_eq!(events.len(), 1, "{point:?}: {events:?}");
        let expected = json!({
            "agent_id": source.agent.id.to_string(),
            "seq": at_seq,
            "message_count": copied,
            "run_id": continued.to_string(),
            "step": step,
        });
        assert_eq!((events[0].seq, events[0].kind.as_str(), &events[0].data), (1, "forked_from", &expected));
        // The loop continues the fork's run from the copied state.
        let context = store.load_run(fork.1.id, 0).await.unwrap();
        assert_eq!(context.messages, messages);
        assert_eq!(context.agent.id, fork.0.id);
    }
    let unchanged = store.list_messages(source.agent.id).await.unwrap();
    assert_eq!(unchanged.len(), 7, "the source keeps its conversation");
    assert!(unchanged.iter().all(|stored| [Some(first), Some(second)].contains(&stored.message.run_id)));
    assert_eq!(store.get_agent(source.agent.id).await.unwrap().agent.last_seq, 7, "the source's trace is untouched");
}

pub async fn forks_are_new_agents_with_a_queued_run(harness: Harness) {
    let store = harness.store;
    let source = source(store.as_ref()).await;
    let mut three = plan(&source, ForkPoint::Seq(3), 3);
    three.model = Some("openai:gpt-4o".into());
    three.labels = BTreeMap::from([("branch".to_owned(), "b".to_owned()), ("team".to_owned(), "forks".to_owned())]);
    let forked = store.fork_agent(three.clone()).await.unwrap();
    assert_eq!(forked.forks.len(), 3);
    for ((agent, run), (agent_id, run_id)) in forked.forks.iter().zip(&three.forks) {
        assert_eq!((agent.id, run.id, run.agent_id), (*agent_id, *run_id, *agent_id));
        let stored = store.get_agent(agent.id).await.unwrap();
        assert_eq!(&stored.agent, agent);
        assert_eq!(agent.forked_from, Some((source.agent.id, 3)));
        assert_eq!(agent.last_seq, 1);
        assert_eq!(agent.spec.model, "openai:gpt-4o");
        assert_eq!(agent.spec.tools, source.agent.spec.tools);
        assert_eq!((agent.parent_id, &agent.budget_id), (source.agent.parent_id, &source.agent.budget_id));
        let labels: Vec<(&str, &str)> =
            agent.labels.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        assert_eq!(labels, [("branch", "b"), ("team", "forks")], "the source's labels, the plan's win");
        assert_eq!((run.status, run.epoch, run.node_id), (RunStatus::Queued, 0, None));
        assert_eq!(stored.latest_run.as_ref(), Some(run));
    }
    let placeable: Vec<RunId> = store.placeable_runs(100).await.unwrap().into_iter().map(|run| run.run.id).collect();
    for (_, run) in &forked.forks {
        assert!(placeable.contains(&run.id), "fork run {} is placeable: {placeable:?}", run.id);
    }
    let source_agent = store.get_agent(source.agent.id).await.unwrap().agent;
    assert_eq!(source_agent.forked_from, None);
    // A fork of a fork: its copies were written at its seq 1.
    let second = plan(&Source { agent: forked.forks[0].0.clone(), ..source }, ForkPoint::Seq(1), 1);
    let again = store.fork_agent(second).await.unwrap();
    assert_eq!((again.message_count, again.at_seq), (3, 1));
}

pub async fn fork_with_input_appends_it_after_a_valid_prefix(harness: Harness) {
    let store = harness.store;
    let source = source(store.as_ref()).await;
    let mut at_end = plan(&source, ForkPoint::End, 2);
    at_end.input = Some("try another way".into());
    let forked = store.fork_agent(at_end).await.unwrap();
    // Run 2's answer calls b and c and only b has a result: both are dropped.
    assert_eq!((forked.message_count, forked.at_seq), (5, 7));
    for fork in &forked.forks {
        let messages = assert_copied(store.as_ref(), &source, fork, 5, RunId::generate()).await;
        assert_eq!(messages.len(), 6);
        let input = &messages[5];
        assert_eq!(
            (input.index, input.message.role, input.message.content.as_str()),
            (5, Role::User, "try another way")
        );
        assert_eq!((input.message.run_id, input.seq), (Some(fork.1.id), Some(1)));
        assert_eq!(fork.1.input, "try another way");
        let context = store.load_run(fork.1.id, 0).await.unwrap();
        let own: Vec<&StoredMessage> =
            context.messages.iter().filter(|stored| stored.message.run_id == Some(fork.1.id)).collect();
        assert_eq!(own.len(), 1, "the fork's run starts with its input only");
        let events = store.events_after(fork.0.id, None, 0, 10).await.unwrap();
        assert_eq!(events[0].data["run_id"], "", "no source run is continued");
        assert_eq!(events[0].data["message_count"], 5);
    }
    // After an answered step the input follows the tool result.
    let mut after_step = plan(&source, ForkPoint::Step { run_id: source.first.id, step: 1 }, 1);
    after_step.input = Some("now say it differently".into());
    let forked = store.fork_agent(after_step).await.unwrap();
    let messages = store.list_messages(forked.forks[0].0.id).await.unwrap();
    let roles: Vec<Role> = messages.iter().map(|stored| stored.message.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool, Role::User]);
    // With an input, an empty prefix is a fresh start.
    let mut from_scratch = plan(&source, ForkPoint::MessageIndex(0), 1);
    from_scratch.input = Some("start over".into());
    let forked = store.fork_agent(from_scratch).await.unwrap();
    assert_eq!(forked.message_count, 0);
    assert_eq!(store.list_messages(forked.forks[0].0.id).await.unwrap().len(), 1);
}

pub async fn fork_refuses_points_outside_the_conversation(harness: Harness) {
    let store = harness.store;
    let source = source(store.as_ref()).await;
    let refused = |point: ForkPoint| store.fork_agent(plan(&source, point, 1));
    assert_conflict(refused(ForkPoint::Seq(8)).await, "seq 8 is beyond it");
    assert_conflict(refused(ForkPoint::MessageIndex(8)).await, "message index 8 is beyond them");
    assert_conflict(refused(ForkPoint::MessageIndex(0)).await, "give an input");
    let missing_step = ForkPoint::Step { run_id: source.second.id, step: 2 };
    assert_conflict(refused(missing_step).await, "has 1 steps: step 2 is not one of them");
    let unknown_run = RunId::generate();
    assert_not_found(refused(ForkPoint::Step { run_id: unknown_run, step: 1 }).await, "run", unknown_run);
    let (other, other_run) = running_run(store.as_ref()).await;
    let foreign = refused(ForkPoint::Step { run_id: other_run.id, step: 1 }).await;
    assert_conflict(foreign, &format!("belongs to agent {}", other.id));
    let unknown = AgentId::generate();
    let mut missing = plan(&source, ForkPoint::End, 1);
    missing.agent_id = unknown;
    assert_not_found(store.fork_agent(missing).await, "agent", unknown);
    let none = plan(&source, ForkPoint::End, 0);
    assert!(matches!(store.fork_agent(none).await, Err(Error::Conflict(_))));
    // Nothing was written by the refusals.
    let agents = store.list_agents(&agentry_store::AgentQuery::newest(100)).await.unwrap();
    assert_eq!(agents.len(), 2, "the source and the other agent only: {agents:?}");
}
