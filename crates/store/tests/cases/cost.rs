//! Cost reports: model calls (`usage` events) summed by root agent, model, UTC day and tenant.

use std::collections::BTreeMap;

use serde_json::json;

use agentry_core::event::kind;
use agentry_core::{AgentId, EventDraft, NodeId, Run};
use agentry_store::{CommitBatch, CostGrouping, CostRow, NewAgent, Store};

use super::{Harness, batch, event, new_agent, new_run};

/// 2023-11-14T22:13:20Z.
const DAY_1: i64 = 1_700_000_000_000;
/// 2023-11-15T22:13:20Z.
const DAY_2: i64 = DAY_1 + 86_400_000;

/// Creates `agent` with a run placed on a node (epoch 1).
async fn placed(store: &dyn Store, agent: NewAgent) -> Run {
    let (_, run) = store.create_agent(agent, Some(new_run("hello"))).await.unwrap();
    store.assign_run(run.expect("first run").id, NodeId::generate(), 0).await.unwrap()
}

/// Returns the `usage` event of one model call.
fn usage(model: &str, input: u64, output: u64, cost_usd: f64, ts_ms: i64) -> EventDraft {
    let data = json!({
        "step": 0, "model": model, "prompt_tokens": input, "completion_tokens": output,
        "total_tokens": input + output, "cost_usd": cost_usd, "latency_ms": 3,
    });
    EventDraft { kind: kind::USAGE.to_owned(), data, ts_ms, trace: None }
}

/// Commits `events` to `run`.
async fn commit(store: &dyn Store, run: &Run, events: Vec<EventDraft>) {
    store.commit(CommitBatch { events, ..batch(run, 1) }).await.unwrap();
}

/// Writes the calls of two agent trees; returns (root of the first, the second).
///
/// - root (label `tenant=acme`): `gpt` 100/10 $0.5 on day 1, `claude` 200/20 $1 on day 2;
///   - child (label `tenant=other`, ignored: the root's counts): `gpt` 50/5 $0.25 on day 2;
///     - grandchild: `local` 10/1 $0 on day 2;
/// - other root (no tenant): `gpt` 1000/100 $0.125 and a call naming no model, without
///   `total_tokens` nor `cost_usd`, 3/4, both on day 1; plus a non-usage event.
async fn two_trees(store: &dyn Store) -> (AgentId, AgentId) {
    let root_agent = NewAgent { labels: BTreeMap::from([("tenant".to_owned(), "acme".to_owned())]), ..new_agent() };
    let root_id = root_agent.id;
    let root = placed(store, root_agent).await;
    commit(store, &root, vec![usage("gpt", 100, 10, 0.5, DAY_1), usage("claude", 200, 20, 1.0, DAY_2)]).await;

    let child_agent = NewAgent {
        parent_id: Some(root_id),
        labels: BTreeMap::from([("tenant".to_owned(), "other".to_owned())]),
        ..new_agent()
    };
    let child_id = child_agent.id;
    let child = placed(store, child_agent).await;
    commit(store, &child, vec![usage("gpt", 50, 5, 0.25, DAY_2)]).await;
    let grandchild = placed(store, NewAgent { parent_id: Some(child_id), ..new_agent() }).await;
    commit(store, &grandchild, vec![usage("local", 10, 1, 0.0, DAY_2)]).await;

    let other_agent = new_agent();
    let other_id = other_agent.id;
    let other = placed(store, other_agent).await;
    let unnamed = EventDraft {
        kind: kind::USAGE.to_owned(),
        data: json!({ "step": 1, "prompt_tokens": 3, "completion_tokens": 4 }),
        ts_ms: DAY_1,
        trace: None,
    };
    let not_a_call = event(kind::STEP_START, json!({ "step": 0, "prompt_tokens": 999, "cost_usd": 9.0 }));
    commit(store, &other, vec![not_a_call, usage("gpt", 1000, 100, 0.125, DAY_1), unnamed]).await;
    // An agent without calls has no row.
    store.create_agent(new_agent(), None).await.unwrap();
    (root_id, other_id)
}

/// Returns a row.
fn row(key: impl ToString, calls: u64, input_tokens: u64, output_tokens: u64, cost_usd: f64) -> CostRow {
    CostRow {
        key: key.to_string(),
        calls,
        input_tokens,
        output_tokens,
        total_tokens: input_tokens + output_tokens,
        cost_usd,
    }
}

pub async fn cost_rolls_sub_agents_up_to_their_root(harness: Harness) {
    let store = harness.store.as_ref();
    assert!(store.cost_report(CostGrouping::Agent, None).await.unwrap().is_empty(), "no calls, no rows");
    let (root, other) = two_trees(store).await;

    let by_agent = store.cost_report(CostGrouping::Agent, None).await.unwrap();
    assert_eq!(by_agent, vec![row(root, 4, 360, 36, 1.75), row(other, 2, 1003, 104, 0.125)]);
    // The root's label counts, not the child's; no label: `-`.
    let by_tenant = store.cost_report(CostGrouping::Tenant, None).await.unwrap();
    assert_eq!(by_tenant, vec![row("acme", 4, 360, 36, 1.75), row("-", 2, 1003, 104, 0.125)]);
}

pub async fn cost_groups_by_model_and_utc_day(harness: Harness) {
    let store = harness.store.as_ref();
    two_trees(store).await;

    let by_model = store.cost_report(CostGrouping::Model, None).await.unwrap();
    assert_eq!(
        by_model,
        vec![
            row("claude", 1, 200, 20, 1.0),
            row("gpt", 3, 1150, 115, 0.875),
            // Equal costs: by key, bytewise. No model named: `-`.
            row("-", 1, 3, 4, 0.0),
            row("local", 1, 10, 1, 0.0),
        ]
    );
    let by_day = store.cost_report(CostGrouping::Day, None).await.unwrap();
    assert_eq!(by_day, vec![row("2023-11-15", 3, 260, 26, 1.25), row("2023-11-14", 3, 1103, 114, 0.625)]);
}

pub async fn cost_since_counts_only_later_calls(harness: Harness) {
    let store = harness.store.as_ref();
    let (root, _) = two_trees(store).await;

    // Inclusive: the calls at exactly DAY_2 count.
    let recent = store.cost_report(CostGrouping::Agent, Some(DAY_2)).await.unwrap();
    assert_eq!(recent, vec![row(root, 3, 260, 26, 1.25)]);
    let recent_models = store.cost_report(CostGrouping::Model, Some(DAY_2)).await.unwrap();
    let keys: Vec<&str> = recent_models.iter().map(|row| row.key.as_str()).collect();
    assert_eq!(keys, ["claude", "gpt", "local"]);
    assert!(store.cost_report(CostGrouping::Day, Some(DAY_2 + 1)).await.unwrap().is_empty());
    let everything = store.cost_report(CostGrouping::Day, Some(i64::MIN)).await.unwrap();
    assert_eq!(everything, store.cost_report(CostGrouping::Day, None).await.unwrap());
}
