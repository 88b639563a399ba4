//! Agent listings: filtered by the latest run's status (dead-lettered included), searched by
//! id, run id, model and labels, and paged with a keyset cursor.

use std::collections::BTreeMap;

use serde_json::json;

use agentry_core::event::kind;
use agentry_core::{AgentId, Run, RunStatus};
use agentry_store::{AgentQuery, AgentSummary, CommitBatch, NewAgent, RunControl, Store};

use super::{Harness, batch, event, new_agent, new_run, placed_run, running_run, spec};

/// Returns the ids of `listed`, in order.
fn ids(listed: &[AgentSummary]) -> Vec<AgentId> {
    listed.iter().map(|summary| summary.agent.id).collect()
}

/// Lists with `query` (limit 100 unless set) and returns the ids.
async fn listed(store: &dyn Store, query: AgentQuery) -> Vec<AgentId> {
    let limit = if query.limit == 0 { 100 } else { query.limit };
    ids(&store.list_agents(&AgentQuery { limit, ..query }).await.unwrap())
}

/// Lists the agents whose latest run has one of `statuses`, or is dead-lettered when
/// `dead_lettered`.
async fn with_status(store: &dyn Store, statuses: &[RunStatus], dead_lettered: bool) -> Vec<AgentId> {
    listed(store, AgentQuery { statuses: statuses.to_vec(), dead_lettered, ..AgentQuery::default() }).await
}

/// Lists the agents that `text` finds.
async fn search(store: &dyn Store, text: &str) -> Vec<AgentId> {
    listed(store, AgentQuery { text: Some(text.to_owned()), ..AgentQuery::default() }).await
}

/// Ends the running `run` (epoch 1) with `status`, `error` and `events`.
async fn end(
    store: &dyn Store,
    run: &Run,
    status: RunStatus,
    error: Option<&str>,
    events: Vec<agentry_core::EventDraft>,
) {
    let ended = CommitBatch { status: Some(status), error: error.map(str::to_owned), events, ..batch(run, 1) };
    store.commit(ended).await.unwrap();
}

/// Dead-letters the placed or running `run` (epoch 1) as a node does: `failed`, the reason as
/// its error and in a `run_failed` event marked `dead_letter`.
async fn dead_letter(store: &dyn Store, run: &Run) {
    let reason = "dead-lettered after 3 failed deliveries; last failure: the node crashed";
    let failed = event(kind::RUN_FAILED, json!({ "error": reason, "dead_letter": true, "deliveries": 3 }));
    end(store, run, RunStatus::Failed, Some(reason), vec![failed]).await;
}

pub async fn list_agents_filters_by_latest_run_status(harness: Harness) {
    let store = harness.store.as_ref();
    let idle = store.create_agent(new_agent(), None).await.unwrap().0.id;
    let queued = store.create_agent(new_agent(), Some(new_run("q"))).await.unwrap().0.id;
    let (running, _) = running_run(store).await;
    let (completed, run) = running_run(store).await;
    end(store, &run, RunStatus::Completed, None, Vec::new()).await;
    let (failed, run) = running_run(store).await;
    let failure = event(kind::RUN_FAILED, json!({ "error": "the model refused" }));
    end(store, &run, RunStatus::Failed, Some("the model refused"), vec![failure]).await;
    let (dead, run) = placed_run(store).await;
    dead_letter(store, &run).await;
    // Reads like a dead letter, but no node gave up on it: no marked `run_failed` event.
    let (lookalike, run) = running_run(store).await;
    end(store, &run, RunStatus::Failed, Some("dead-lettered by hand"), Vec::new()).await;
    // Dead-lettered before, queued again since: its latest run is what counts.
    let (retried, run) = placed_run(store).await;
    dead_letter(store, &run).await;
    store.create_run(retried.id, new_run("again")).await.unwrap();
    let (paused, run) = running_run(store).await;
    store.control_run(run.id, RunControl::Pause { reason: "look".into() }).await.unwrap();
    let (cancelled, run) = running_run(store).await;
    store.control_run(run.id, RunControl::Cancel { reason: "enough".into() }).await.unwrap();
    let (waiting, run) = running_run(store).await;
    let parked = CommitBatch { status: Some(RunStatus::WaitingApproval), ..batch(&run, 1) };
    store.commit(parked).await.unwrap();

    assert_eq!(listed(store, AgentQuery::default()).await.len(), 11, "no filter: every agent, idle included");
    assert_eq!(with_status(store, &[RunStatus::Queued], false).await, vec![retried.id, queued]);
    assert_eq!(with_status(store, &[RunStatus::Running], false).await, vec![running.id]);
    assert_eq!(
        with_status(store, &[RunStatus::Failed], false).await,
        vec![lookalike.id, dead.id, failed.id],
        "dead letters are failed runs"
    );
    assert_eq!(
        with_status(store, &[RunStatus::Completed, RunStatus::Paused, RunStatus::WaitingApproval], false).await,
        vec![waiting.id, paused.id, completed.id]
    );
    assert_eq!(with_status(store, &[RunStatus::Cancelled], false).await, vec![cancelled.id]);
    assert_eq!(with_status(store, &[], true).await, vec![dead.id], "only the marked latest run");
    assert_eq!(
        with_status(store, &[RunStatus::Completed, RunStatus::Running], true).await,
        vec![dead.id, completed.id, running.id],
        "either matches"
    );
    assert!(!with_status(store, &[RunStatus::Queued], false).await.contains(&idle), "no run, no status");
}

/// Creates an agent with `model` and `labels` and a first run; returns it and the run.
async fn labelled(store: &dyn Store, model: &str, labels: &[(&str, &str)]) -> (AgentId, Run) {
    let labels: BTreeMap<String, String> =
        labels.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect();
    let wanted =
        NewAgent { spec: agentry_core::AgentSpec { model: model.to_owned(), ..spec() }, labels, ..new_agent() };
    let (agent, run) = store.create_agent(wanted, Some(new_run("hi"))).await.unwrap();
    (agent.id, run.expect("first run"))
}

pub async fn list_agents_searches_ids_models_and_labels(harness: Harness) {
    let store = harness.store.as_ref();
    let (gpt, first_run) = labelled(store, "openai:gpt-4o-mini", &[("team", "search")]).await;
    let gpt_latest = store.create_run(gpt, new_run("second")).await.unwrap();
    let (claude, claude_run) =
        labelled(store, "anthropic:claude-sonnet", &[("team", "Billing"), ("env", "prod")]).await;
    let (half, _) = labelled(store, "local:llama", &[("note", "50% off"), ("path", "c:\\tmp")]).await;
    let (five_hundred, _) = labelled(store, "local:llama", &[("note", "500 off"), ("path", "c:/tmp")]).await;
    let (underscore, _) = labelled(store, "local:qwen", &[("slot", "a_b")]).await;
    let (any_char, _) = labelled(store, "local:qwen", &[("slot", "axb")]).await;

    // Ids: a prefix of the agent's or of its latest run's, in any case; not an older run's.
    let gpt_text = gpt.to_string();
    assert_eq!(search(store, &gpt_text[..30]).await, vec![gpt]);
    assert_eq!(search(store, &gpt_text[..30].to_uppercase()).await, vec![gpt]);
    assert_eq!(search(store, &gpt_latest.id.to_string()[..30]).await, vec![gpt]);
    assert_eq!(search(store, &claude_run.id.to_string()).await, vec![claude]);
    assert!(search(store, &first_run.id.to_string()).await.is_empty(), "an older run is not searched");
    assert!(search(store, &gpt_text[1..30]).await.is_empty(), "ids match by prefix only");

    // Models and label values: contained, in any case.
    assert_eq!(search(store, "CLAUDE").await, vec![claude]);
    assert_eq!(search(store, "llama").await, vec![five_hundred, half]);
    assert_eq!(search(store, "bill").await, vec![claude]);
    assert_eq!(search(store, "off").await, vec![five_hundred, half]);

    // `key=value`: exactly that label.
    assert_eq!(search(store, "team=search").await, vec![gpt]);
    assert_eq!(search(store, "env=prod").await, vec![claude]);
    assert!(search(store, "env=pro").await.is_empty(), "the value is matched whole");
    assert!(search(store, "team=billing").await.is_empty(), "the value is matched as it is");

    // LIKE's wildcards and escape character match themselves.
    assert_eq!(search(store, "50%").await, vec![half]);
    assert_eq!(search(store, "a_b").await, vec![underscore]);
    assert_eq!(search(store, "c:\\t").await, vec![half]);
    assert_eq!(search(store, "%").await, vec![half]);
    assert_eq!(search(store, "_").await, vec![underscore], "`_` is no wildcard: not {any_char}");
    assert!(search(store, "nothing has this").await.is_empty());

    // A search combines with a status filter.
    store.assign_run(claude_run.id, agentry_core::NodeId::generate(), 0).await.unwrap();
    store.commit(CommitBatch { status: Some(RunStatus::Running), ..batch(&claude_run, 1) }).await.unwrap();
    let running_team =
        AgentQuery { statuses: vec![RunStatus::Running], text: Some("team".to_owned()), ..AgentQuery::default() };
    assert!(listed(store, running_team).await.is_empty(), "`team` is a key, not a value");
    let running_anthropic =
        AgentQuery { statuses: vec![RunStatus::Running], text: Some("anthropic".to_owned()), ..AgentQuery::default() };
    assert_eq!(listed(store, running_anthropic).await, vec![claude]);
    let queued_anthropic =
        AgentQuery { statuses: vec![RunStatus::Queued], text: Some("anthropic".to_owned()), ..AgentQuery::default() };
    assert!(listed(store, queued_anthropic).await.is_empty());
}

/// Reads every page of `query` (`limit` agents each), following the last id of each full page.
async fn every_page(store: &dyn Store, query: AgentQuery) -> Vec<Vec<AgentId>> {
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = ids(&store.list_agents(&AgentQuery { before, ..query.clone() }).await.unwrap());
        let full = page.len() == query.limit as usize;
        before = page.last().copied();
        if !page.is_empty() {
            pages.push(page);
        }
        if !full {
            return pages;
        }
    }
}

pub async fn list_agents_pages_newest_first_without_gaps(harness: Harness) {
    let store = harness.store.as_ref();
    let mut created = Vec::new();
    let mut gold = Vec::new();
    for index in 0..8 {
        let tier = if index % 2 == 0 { "gold" } else { "silver" };
        let wanted = NewAgent { labels: BTreeMap::from([("tier".to_owned(), tier.to_owned())]), ..new_agent() };
        let agent = store.create_agent(wanted, Some(new_run("hi"))).await.unwrap().0;
        created.push(agent.id);
        if tier == "gold" {
            gold.push(agent.id);
        }
    }
    created.reverse();
    gold.reverse();

    let pages = every_page(store, AgentQuery::newest(3)).await;
    let lengths: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(lengths, [3, 3, 2]);
    assert_eq!(pages.concat(), created, "newest first, no duplicates, no gaps");

    // The cursor is a position, not an agent of the listing: filters page the same way.
    let gold_pages =
        every_page(store, AgentQuery { text: Some("tier=gold".to_owned()), ..AgentQuery::newest(3) }).await;
    assert_eq!(gold_pages, vec![gold[..3].to_vec(), gold[3..].to_vec()]);
    let queued_gold = AgentQuery {
        statuses: vec![RunStatus::Queued],
        text: Some("gold".to_owned()),
        before: Some(gold[1]),
        ..AgentQuery::newest(10)
    };
    assert_eq!(listed(store, queued_gold).await, gold[2..].to_vec());
    let after_the_oldest = AgentQuery { before: created.last().copied(), ..AgentQuery::newest(10) };
    assert!(listed(store, after_the_oldest).await.is_empty());
}
