//! What the web console asks of `AgentHub` over gRPC, against an in-process hub (SQLite in
//! memory, in-process broker, loopback TCP, no node: runs stay queued unless a test moves them
//! through the store): `ListAgents` filtered, searched and paged by token; `GetCost` split into
//! time buckets; `GetAgent` with its budget. Bad input is INVALID_ARGUMENT naming the field.

mod common;

use serde_json::json;
use tonic::Code;

use common::TestHub;

use agentry_core::budget::{BudgetOp, Spend};
use agentry_core::clock::now_ms;
use agentry_core::event::kind;
use agentry_core::{CommitBatch, EventDraft, NodeId, RunId, RunStatus, StepCommit};
use agentry_proto::convert::timestamp;
use agentry_proto::v1 as pb;
use agentry_store::Store;

impl TestHub {
    /// Spawns an agent of `model` with `labels`, a first input and at most `max_tokens`;
    /// returns its id and its run's.
    async fn spawn(
        &self,
        model: &str,
        labels: &[(&str, &str)],
        max_tokens: Option<u64>,
        parent: &str,
    ) -> (String, String) {
        let request = pb::SpawnRequest {
            spec: Some(pb::AgentSpec { model: model.to_owned(), ..Default::default() }),
            input: Some("hello".to_owned()),
            labels: labels.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
            parent_id: parent.to_owned(),
            max_tokens,
            ..Default::default()
        };
        let spawned = self.client.clone().spawn(request).await.expect("spawned").into_inner();
        (spawned.agent_id, spawned.run_id)
    }

    /// Places `run_id` on a node that exists only in the store (at epoch 1, once) and commits
    /// `step` there, as that node would.
    async fn commit(&self, run_id: &str, step: StepCommit) {
        let run_id: RunId = run_id.parse().expect("a run id");
        if self.store.get_run(run_id).await.expect("the run").epoch == 0 {
            self.store.assign_run(run_id, NodeId::generate(), 0).await.expect("placed");
        }
        self.store.commit(CommitBatch::of_step(run_id, 1, None, step)).await.expect("committed");
    }

    async fn list(&self, request: pb::ListAgentsRequest) -> Result<pb::ListAgentsResponse, tonic::Status> {
        self.client.clone().list_agents(request).await.map(tonic::Response::into_inner)
    }

    async fn agent(&self, agent_id: &str) -> pb::Agent {
        let request = pb::GetAgentRequest { agent_id: agent_id.to_owned() };
        self.client.clone().get_agent(request).await.expect("the agent").into_inner().agent.expect("an agent")
    }

    async fn cost(&self, request: pb::GetCostRequest) -> Result<Vec<pb::CostRow>, tonic::Status> {
        self.client.clone().get_cost(request).await.map(|response| response.into_inner().rows)
    }
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, tonic::Status>, needle: &str) {
    match result {
        Err(status) => {
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(status.message().contains(needle), "{:?} does not mention {needle:?}", status.message());
        }
        Ok(answer) => panic!("expected INVALID_ARGUMENT, got {answer:?}"),
    }
}

fn ids(response: &pb::ListAgentsResponse) -> Vec<String> {
    response.agents.iter().map(|agent| agent.agent_id.clone()).collect()
}

#[tokio::test]
async fn list_agents_filters_searches_and_pages_by_token() {
    let hub = TestHub::start().await;
    let mut created = Vec::new();
    for index in 0..5 {
        let tier = if index % 2 == 0 { "gold" } else { "silver" };
        created.push(hub.spawn("openai:gpt-4o-mini", &[("tier", tier)], None, "").await);
    }
    let (failed, failed_run) = hub.spawn("anthropic:claude-sonnet", &[("tier", "gold")], None, "").await;
    let reason = "dead-lettered after 3 failed deliveries; last failure: the node crashed";
    let dead_letter = EventDraft::now(kind::RUN_FAILED, json!({ "error": reason, "dead_letter": true }));
    let step = StepCommit {
        events: vec![dead_letter],
        status: Some(RunStatus::Failed),
        error: Some(reason.to_owned()),
        ..StepCommit::default()
    };
    hub.commit(&failed_run, step).await;
    let mut newest_first: Vec<String> = created.iter().map(|(agent_id, _)| agent_id.clone()).collect();
    newest_first.reverse();

    // Pages of two: tokens until the last page, which has none; nothing twice, nothing missed.
    let mut pages = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListAgentsRequest {
            limit: 2,
            statuses: vec![pb::RunStatus::Queued as i32],
            page_token: page_token.clone(),
            ..Default::default()
        };
        let page = hub.list(request).await.expect("a page");
        pages.push(ids(&page));
        page_token = page.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(pages.concat(), newest_first);
    // A page that ends exactly at the last agent has no token: one more was asked to know.
    let exact = hub.list(pb::ListAgentsRequest { limit: 6, ..Default::default() }).await.expect("all");
    assert_eq!((exact.agents.len(), exact.next_page_token.as_str()), (6, ""));
    assert!(exact.agents.iter().all(|agent| agent.budget.is_none()), "listings carry no budget");

    // Filters: a search and a status combine, and the dead-lettered agent is found alone.
    let gold = pb::ListAgentsRequest { query: " tier=gold ".into(), ..Default::default() };
    let gold_ids = [&failed, &newest_first[0], &newest_first[2], &newest_first[4]].map(String::clone);
    assert_eq!(ids(&hub.list(gold).await.expect("gold")), gold_ids);
    let dead = pb::ListAgentsRequest { dead_lettered: true, ..Default::default() };
    assert_eq!(ids(&hub.list(dead).await.expect("dead letters")), vec![failed.clone()]);
    let failed_or_claude = pb::ListAgentsRequest {
        statuses: vec![pb::RunStatus::Failed as i32, pb::RunStatus::Completed as i32],
        query: "CLAUDE".into(),
        ..Default::default()
    };
    assert_eq!(ids(&hub.list(failed_or_claude).await.expect("failed claude")), [failed]);

    // Bad input names its field.
    assert_invalid(hub.list(pb::ListAgentsRequest { query: "q".repeat(257), ..Default::default() }).await, "query");
    let unspecified = pb::ListAgentsRequest { statuses: vec![pb::RunStatus::Unspecified as i32], ..Default::default() };
    assert_invalid(hub.list(unspecified).await, "statuses");
    assert_invalid(hub.list(pb::ListAgentsRequest { statuses: vec![42], ..Default::default() }).await, "statuses");
    let forged = pb::ListAgentsRequest { page_token: "page-2".into(), ..Default::default() };
    assert_invalid(hub.list(forged).await, "page_token");
    hub.stop().await;
}

/// 2023-11-14T00:00:00Z.
const DAY_0: i64 = 1_699_920_000_000;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// Returns the `usage` event of a model call of `model` with `tokens` prompt tokens at `ts_ms`.
fn usage(model: &str, tokens: u64, cost_usd: f64, ts_ms: i64) -> EventDraft {
    let data =
        json!({ "step": 1, "model": model, "prompt_tokens": tokens, "completion_tokens": 0, "cost_usd": cost_usd });
    EventDraft { ts_ms, ..EventDraft::now(kind::USAGE, data) }
}

/// Returns a row's (key, bucket start, calls, input tokens).
fn cell(row: &pb::CostRow) -> (String, Option<agentry_proto::Timestamp>, u64, u64) {
    (row.key.clone(), row.bucket_start, row.calls, row.input_tokens)
}

#[tokio::test]
async fn get_cost_splits_groups_into_time_buckets() {
    let hub = TestHub::start().await;
    let (_, run) = hub.spawn("openai:gpt-4o-mini", &[], None, "").await;
    let recent = now_ms() - 60_000;
    let events = vec![
        usage("gpt", 1, 0.5, DAY_0 + 5),
        usage("gpt", 2, 0.5, DAY_0 + HOUR),
        usage("claude", 4, 1.0, DAY_0 + DAY),
        usage("gpt", 8, 0.5, DAY_0 + 2 * DAY + 1),
        usage("claude", 16, 1.0, recent),
    ];
    hub.commit(&run, StepCommit { events, ..StepCommit::default() }).await;
    let model = pb::CostGrouping::Model as i32;

    // Daily buckets over all time (some 20 000 days since 1970): by model, then day.
    let daily = hub.cost(pb::GetCostRequest { by: model, bucket_ms: DAY as u64, ..Default::default() }).await;
    let cells: Vec<_> = daily.expect("daily").iter().map(cell).collect();
    let recent_day = recent - recent % DAY;
    let expected = [
        ("claude", DAY_0 + DAY, 1, 4),
        ("claude", recent_day, 1, 16),
        ("gpt", DAY_0, 2, 3),
        ("gpt", DAY_0 + 2 * DAY, 1, 8),
    ]
    .map(|(key, start, calls, tokens)| (key.to_owned(), Some(timestamp(start)), calls, tokens));
    assert_eq!(cells, expected);

    // A window and hourly buckets: the recent call, in its hour.
    let window = pb::GetCostRequest { by: model, window_ms: Some(DAY as u64), bucket_ms: HOUR as u64 };
    let cells: Vec<_> = hub.cost(window).await.expect("hourly").iter().map(cell).collect();
    assert_eq!(cells, [("claude".to_owned(), Some(timestamp(recent - recent % HOUR)), 1, 16)]);
    // No bucket: no bucket start, costliest first as before.
    let whole = hub.cost(pb::GetCostRequest { by: model, ..Default::default() }).await.expect("whole");
    let cells: Vec<_> = whole.iter().map(cell).collect();
    assert_eq!(cells, [("claude".to_owned(), None, 2, 20), ("gpt".to_owned(), None, 3, 11)]);

    // Too short a bucket, too many of them.
    let short = pb::GetCostRequest { by: model, bucket_ms: 999, ..Default::default() };
    assert_invalid(hub.cost(short).await, "bucket_ms");
    let hourly_forever = pb::GetCostRequest { by: model, bucket_ms: HOUR as u64, ..Default::default() };
    assert_invalid(hub.cost(hourly_forever).await, "choose a larger bucket or a shorter window");
    let seconds_of_a_week = pb::GetCostRequest { by: model, window_ms: Some(7 * DAY as u64), bucket_ms: 1000 };
    assert_invalid(hub.cost(seconds_of_a_week).await, "bucket_ms");
    hub.stop().await;
}

#[tokio::test]
async fn get_agent_shows_the_budget_its_calls_draw_from() {
    let hub = TestHub::start().await;
    let (budgeted, run) = hub.spawn("openai:gpt-4o-mini", &[], Some(1000), "").await;
    let fresh = hub.agent(&budgeted).await.budget.expect("a budget");
    assert_eq!(
        (fresh.max_tokens, fresh.max_cost_usd, fresh.used_tokens, fresh.reserved_tokens),
        (Some(1000), None, 0, 0)
    );
    assert!(!fresh.budget_id.is_empty());

    let settle = BudgetOp { settle: Some((1, Spend { tokens: 120, cost_usd: 0.25 })), reserve: None };
    hub.commit(&run, StepCommit { budget: Some(settle), ..StepCommit::default() }).await;
    let used = hub.agent(&budgeted).await.budget.expect("a budget");
    assert_eq!((used.budget_id.as_str(), used.used_tokens, used.used_cost_usd), (fresh.budget_id.as_str(), 120, 0.25));

    // A sub-agent without limits of its own draws from its parent's budget.
    let (child, _) = hub.spawn("openai:gpt-4o-mini", &[], None, &budgeted).await;
    assert_eq!(hub.agent(&child).await.budget, Some(used));
    let (unbudgeted, _) = hub.spawn("openai:gpt-4o-mini", &[], None, "").await;
    assert_eq!(hub.agent(&unbudgeted).await.budget, None);
    let listed = hub.list(pb::ListAgentsRequest::default()).await.expect("agents");
    assert!(listed.agents.iter().all(|agent| agent.budget.is_none()), "only GetAgent reads budgets");
    hub.stop().await;
}
