//! Creating, reading and listing agents.

use agentry_core::clock::now_ms;
use agentry_core::{AgentId, RunId, RunStatus};
use agentry_store::{AgentQuery, NewAgent};

use super::{Harness, assert_not_found, new_agent, new_run, spec};

pub async fn create_agent_with_first_run(harness: Harness) {
    let store = harness.store;
    let parent = store.create_agent(new_agent(), None).await.unwrap().0;
    let before = now_ms();
    let wanted = NewAgent { parent_id: Some(parent.id), ..new_agent() };
    let first = new_run("summarize the news");

    let (agent, run) = store.create_agent(wanted.clone(), Some(first.clone())).await.unwrap();

    assert_eq!(agent.id, wanted.id);
    assert_eq!(agent.spec, spec());
    assert_eq!(agent.labels, wanted.labels);
    assert_eq!(agent.parent_id, Some(parent.id));
    assert_eq!(agent.last_seq, 0);
    assert!(agent.created_ms >= before && agent.created_ms <= now_ms(), "{}", agent.created_ms);
    let run = run.expect("first run");
    assert_eq!(run.id, first.id);
    assert_eq!(run.agent_id, agent.id);
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!((run.epoch, run.node_id, run.error.clone()), (0, None, None));
    assert_eq!(run.input, "summarize the news");
    assert_eq!(run.created_ms, run.updated_ms);

    let summary = store.get_agent(agent.id).await.unwrap();
    assert_eq!(summary.agent, agent);
    assert_eq!(summary.latest_run, Some(run.clone()));
    assert_eq!(store.get_run(run.id).await.unwrap(), run);
}

pub async fn create_agent_without_run(harness: Harness) {
    let store = harness.store;
    let (agent, run) = store.create_agent(new_agent(), None).await.unwrap();
    assert!(run.is_none());
    let summary = store.get_agent(agent.id).await.unwrap();
    assert_eq!(summary.agent, agent);
    assert_eq!(summary.latest_run, None);
    assert!(store.placeable_runs(10).await.unwrap().is_empty());
}

pub async fn create_agent_is_idempotent(harness: Harness) {
    let store = harness.store;
    let key = Some("request-42".to_owned());
    let first_request = NewAgent { idempotency_key: key.clone(), ..new_agent() };
    let (agent, run) = store.create_agent(first_request, Some(new_run("one"))).await.unwrap();
    let first_run = run.expect("first run");
    // A later run must not be mistaken for the first one.
    store.create_run(agent.id, new_run("two")).await.unwrap();

    let retry = NewAgent { idempotency_key: key, ..new_agent() };
    let retry_id = retry.id;
    let (again, again_run) = store.create_agent(retry, Some(new_run("one again"))).await.unwrap();

    assert_eq!(again, agent);
    assert_eq!(again_run, Some(first_run));
    assert_not_found(store.get_agent(retry_id).await, "agent", retry_id);
    assert_eq!(store.list_agents(&AgentQuery::newest(10)).await.unwrap().len(), 1);
}

pub async fn create_agent_is_idempotent_under_concurrency(harness: Harness) {
    let store = harness.store;
    let mut creates = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        creates.spawn(async move {
            let request = NewAgent { idempotency_key: Some("same-request".into()), ..new_agent() };
            let (agent, run) = store.create_agent(request, Some(new_run("once"))).await.unwrap();
            (agent.id, run.map(|run| run.id))
        });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = creates.join_next().await {
        outcomes.push(outcome.unwrap());
    }
    let listed = store.list_agents(&AgentQuery::newest(10)).await.unwrap();
    assert_eq!(listed.len(), 1, "exactly one agent is created");
    let created = (listed[0].agent.id, listed[0].latest_run.as_ref().map(|run| run.id));
    assert!(created.1.is_some());
    assert!(outcomes.iter().all(|outcome| *outcome == created), "{outcomes:?} vs {created:?}");
    assert_eq!(store.placeable_runs(10).await.unwrap().len(), 1);
}

pub async fn create_agent_without_key_always_creates(harness: Harness) {
    let store = harness.store;
    let first = store.create_agent(new_agent(), None).await.unwrap().0;
    let second = store.create_agent(new_agent(), None).await.unwrap().0;
    assert_ne!(first.id, second.id);
    let other_key = NewAgent { idempotency_key: Some("other".into()), ..new_agent() };
    let third = store.create_agent(other_key, None).await.unwrap().0;
    assert_eq!(store.list_agents(&AgentQuery::newest(10)).await.unwrap().len(), 3);
    assert_eq!(store.get_agent(third.id).await.unwrap().agent, third);
}

pub async fn get_agent_returns_latest_run(harness: Harness) {
    let store = harness.store;
    let (agent, _) = store.create_agent(new_agent(), Some(new_run("first"))).await.unwrap();
    store.create_run(agent.id, new_run("second")).await.unwrap();
    let third = store.create_run(agent.id, new_run("third")).await.unwrap();
    // Another agent's newer run is not this agent's latest.
    let (other, _) = store.create_agent(new_agent(), Some(new_run("other"))).await.unwrap();

    let summary = store.get_agent(agent.id).await.unwrap();
    assert_eq!(summary.latest_run, Some(third));
    assert_ne!(summary.agent.id, other.id);
}

pub async fn list_agents_newest_first_with_latest_runs(harness: Harness) {
    let store = harness.store;
    let (oldest, _) = store.create_agent(new_agent(), Some(new_run("a1"))).await.unwrap();
    let oldest_latest = store.create_run(oldest.id, new_run("a2")).await.unwrap();
    let (middle, _) = store.create_agent(new_agent(), None).await.unwrap();
    let (newest, newest_run) = store.create_agent(new_agent(), Some(new_run("c1"))).await.unwrap();

    let listed = store.list_agents(&AgentQuery::newest(10)).await.unwrap();
    let ids: Vec<AgentId> = listed.iter().map(|summary| summary.agent.id).collect();
    assert_eq!(ids, vec![newest.id, middle.id, oldest.id]);
    let latest: Vec<Option<RunId>> =
        listed.iter().map(|summary| summary.latest_run.as_ref().map(|run| run.id)).collect();
    assert_eq!(latest, vec![newest_run.map(|run| run.id), None, Some(oldest_latest.id)]);
    assert_eq!(listed[2].agent, store.get_agent(oldest.id).await.unwrap().agent);

    let first_two = store.list_agents(&AgentQuery::newest(2)).await.unwrap();
    let ids: Vec<AgentId> = first_two.iter().map(|summary| summary.agent.id).collect();
    assert_eq!(ids, vec![newest.id, middle.id]);
}

pub async fn unknown_agent_is_not_found(harness: Harness) {
    let store = harness.store;
    let unknown = AgentId::generate();
    assert_not_found(store.get_agent(unknown).await, "agent", unknown);
    assert_not_found(store.create_run(unknown, new_run("x")).await, "agent", unknown);
    assert_not_found(store.events_after(unknown, None, 0, 10).await, "agent", unknown);
    assert!(store.list_agents(&AgentQuery::newest(10)).await.unwrap().is_empty());
    assert!(store.placeable_runs(10).await.unwrap().is_empty());
}
