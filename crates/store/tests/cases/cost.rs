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
/// - root (tenant `acme`): `gpt` 100/10 $0.5 on day 1, `claude` 200/20 $1 on day 2;
///   - child (tenant `acme`, inherited; label `tenant=other`, which counts for nothing):
///     `gpt` 50/5 $0.25 on day 2;
///     - grandchild (tenant `acme`): `local` 10/1 $0 on day 2;
/// - other root (the default tenant): `gpt` 1000/100 $0.125 and a call naming no model, without
///   `total_tokens` nor `cost_usd`, 3/4, both on day 1; plus a non-usage event.
async fn two_trees(store: &dyn Store) -> (AgentId, AgentId) {
    let acme = |agent: NewAgent| NewAgent { tenant: "acme".to_owned(), ..agent };
    let root_agent = acme(new_agent());
    let root_id = root_agent.id;
    let root = placed(store, root_agent).await;
    commit(store, &root, vec![usage("gpt", 100, 10, 0.5, DAY_1), usage("claude", 200, 20, 1.0, DAY_2)]).await;

    let child_agent = acme(NewAgent {
        parent_id: Some(root_id),
        labels: BTreeMap::from([("tenant".to_owned(), "other".to_owned())]),
        ..new_agent()
    });
    let child_id = child_agent.id;
    let child = placed(store, child_agent).await;
    commit(store, &child, vec![usage("gpt", 50, 5, 0.25, DAY_2)]).await;
    let grandchild = placed(store, acme(NewAgent { parent_id: Some(child_id), ..new_agent() })).await;
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
        bucket_start_ms: None,
    }
}

pub async fn cost_rolls_sub_agents_up_to_their_root(harness: Harness) {
    let store = harness.store.as_ref();
    assert!(store.cost_report(CostGrouping::Agent, None, None, None).await.unwrap().is_empty(), "no calls, no rows");
    let (root, other) = two_trees(store).await;

    let by_agent = store.cost_report(CostGrouping::Agent, None, None, None).await.unwrap();
    assert_eq!(by_agent, vec![row(root, 4, 360, 36, 1.75), row(other, 2, 1003, 104, 0.125)]);
    // The tenant column counts, not the `tenant` label.
    let by_tenant = store.cost_report(CostGrouping::Tenant, None, None, None).await.unwrap();
    assert_eq!(by_tenant, vec![row("acme", 4, 360, 36, 1.75), row("default", 2, 1003, 104, 0.125)]);
}

pub async fn cost_counts_only_the_tenant_asked_for(harness: Harness) {
    let store = harness.store.as_ref();
    let (root, other) = two_trees(store).await;

    let acme = store.cost_report(CostGrouping::Agent, None, None, Some("acme")).await.unwrap();
    assert_eq!(acme, vec![row(root, 4, 360, 36, 1.75)]);
    let acme_tenant = store.cost_report(CostGrouping::Tenant, None, None, Some("acme")).await.unwrap();
    assert_eq!(acme_tenant, vec![row("acme", 4, 360, 36, 1.75)]);
    let default_models = store.cost_report(CostGrouping::Model, None, None, Some("default")).await.unwrap();
    assert_eq!(default_models, vec![row("gpt", 1, 1000, 100, 0.125), row("-", 1, 3, 4, 0.0)]);
    let default_agents = store.cost_report(CostGrouping::Agent, Some(DAY_1), None, Some("default")).await.unwrap();
    assert_eq!(default_agents, vec![row(other, 2, 1003, 104, 0.125)]);
    // With the window: acme's calls of day 2 only.
    let acme_recent = store.cost_report(CostGrouping::Day, Some(DAY_2), None, Some("acme")).await.unwrap();
    assert_eq!(acme_recent, vec![row("2023-11-15", 3, 260, 26, 1.25)]);
    // Tenants are matched exactly; an unknown one has no calls.
    assert!(store.cost_report(CostGrouping::Agent, None, None, Some("ACME")).await.unwrap().is_empty());
    assert!(store.cost_report(CostGrouping::Day, None, Some(86_400_000), Some("nobody")).await.unwrap().is_empty());
}

pub async fn cost_groups_by_model_and_utc_day(harness: Harness) {
    let store = harness.store.as_ref();
    two_trees(store).await;

    let by_model = store.cost_report(CostGrouping::Model, None, None, None).await.unwrap();
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
    let by_day = store.cost_report(CostGrouping::Day, None, None, None).await.unwrap();
    assert_eq!(by_day, vec![row("2023-11-15", 3, 260, 26, 1.25), row("2023-11-14", 3, 1103, 114, 0.625)]);
}

pub async fn cost_since_counts_only_later_calls(harness: Harness) {
    let store = harness.store.as_ref();
    let (root, _) = two_trees(store).await;

    // Inclusive: the calls at exactly DAY_2 count.
    let recent = store.cost_report(CostGrouping::Agent, Some(DAY_2), None, None).await.unwrap();
    assert_eq!(recent, vec![row(root, 3, 260, 26, 1.25)]);
    let recent_models = store.cost_report(CostGrouping::Model, Some(DAY_2), None, None).await.unwrap();
    let keys: Vec<&str> = recent_models.iter().map(|row| row.key.as_str()).collect();
    assert_eq!(keys, ["claude", "gpt", "local"]);
    assert!(store.cost_report(CostGrouping::Day, Some(DAY_2 + 1), None, None).await.unwrap().is_empty());
    let everything = store.cost_report(CostGrouping::Day, Some(i64::MIN), None, None).await.unwrap();
    assert_eq!(everything, store.cost_report(CostGrouping::Day, None, None, None).await.unwrap());
}

/// The start of an hour: 2023-11-14T22:00:00Z.
const HOUR_0: i64 = 1_699_999_200_000;
/// An hour, in milliseconds.
const HOUR: i64 = 3_600_000;

/// Returns a bucketed row.
fn bucket_row(key: &str, bucket_start_ms: i64, calls: u64, input_tokens: u64, cost_usd: f64) -> CostRow {
    CostRow { bucket_start_ms: Some(bucket_start_ms), ..row(key, calls, input_tokens, 1, cost_usd) }
}

pub async fn cost_buckets_split_each_group_by_time(harness: Harness) {
    let store = harness.store.as_ref();
    let run = placed(store, new_agent()).await;
    commit(
        store,
        &run,
        vec![
            // Two calls of the first hour, its first and last millisecond, summed.
            usage("gpt", 100, 1, 0.5, HOUR_0),
            usage("gpt", 200, 1, 0.25, HOUR_0 + HOUR - 1),
            usage("claude", 10, 1, 1.0, HOUR_0 + HOUR),
            usage("claude", 20, 1, 2.0, HOUR_0 + 2 * HOUR + 5),
            usage("gpt", 300, 1, 0.125, HOUR_0 + 2 * HOUR + 59_000),
        ],
    )
    .await;

    // By key, then bucket: the cells of a heat-map, not the costliest first.
    let hourly = store.cost_report(CostGrouping::Model, None, Some(HOUR), None).await.unwrap();
    assert_eq!(
        hourly,
        vec![
            bucket_row("claude", HOUR_0 + HOUR, 1, 10, 1.0),
            bucket_row("claude", HOUR_0 + 2 * HOUR, 1, 20, 2.0),
            CostRow { output_tokens: 2, total_tokens: 302, ..bucket_row("gpt", HOUR_0, 2, 300, 0.75) },
            bucket_row("gpt", HOUR_0 + 2 * HOUR, 1, 300, 0.125),
        ]
    );
    // A window and buckets: only the later calls, split the same way.
    let recent = store.cost_report(CostGrouping::Model, Some(HOUR_0 + HOUR), Some(HOUR), None).await.unwrap();
    assert_eq!(recent, hourly[..2].iter().chain(&hourly[3..]).cloned().collect::<Vec<_>>());
    // Buckets longer than the span: one per group; any grouping splits.
    // (The calls cross midnight UTC; a week's bucket, from Thursday 2023-11-09, holds them all.)
    let weekly = store.cost_report(CostGrouping::Agent, None, Some(7 * 86_400_000), None).await.unwrap();
    assert_eq!(weekly.len(), 1);
    assert_eq!((weekly[0].bucket_start_ms, weekly[0].calls), (Some(1_699_488_000_000), 5));
    let by_day = store.cost_report(CostGrouping::Day, None, Some(86_400_000), None).await.unwrap();
    let cells: Vec<(&str, Option<i64>, u64)> =
        by_day.iter().map(|row| (row.key.as_str(), row.bucket_start_ms, row.calls)).collect();
    assert_eq!(cells, [("2023-11-14", Some(1_699_920_000_000), 3), ("2023-11-15", Some(1_700_006_400_000), 2)]);
    // Without buckets nothing changed: costliest first, no bucket.
    let whole = store.cost_report(CostGrouping::Model, None, None, None).await.unwrap();
    let keys: Vec<(&str, Option<i64>)> = whole.iter().map(|row| (row.key.as_str(), row.bucket_start_ms)).collect();
    assert_eq!(keys, [("claude", None), ("gpt", None)]);
    for refused in [0, -HOUR, i64::MAX] {
        let result = store.cost_report(CostGrouping::Model, None, Some(refused), None).await;
        assert!(matches!(result, Err(agentry_store::Error::Conflict(_))), "{refused}: {result:?}");
    }
}
