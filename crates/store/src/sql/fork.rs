//! Forks ([`crate::Store::fork_agent`]) and conversation listings ([`crate::Store::list_messages`]).
//!
//! A fork is one transaction: the source agent and its conversation's outline (no content) are
//! read, the point becomes a prefix (`point.rs`), then each fork gets its agent row, its queued
//! run, its `forked_from` event (seq 1) and a copy of the prefix made inside the database
//! (`INSERT ... SELECT`), plus the user message of the input when there is one. Copied
//! messages get seq 1: the fork's first commit, the one that wrote them.

mod point;

use serde_json::json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type, query, query_as};
use tracing::{debug, instrument};

use agentry_core::clock::now_ms;
use agentry_core::event::kind;
use agentry_core::{Agent, AgentId, Run, RunId};

use super::queries::{INSERT_EVENT, SELECT_AGENT, SELECT_MESSAGES, SELECT_RUN};
use super::rows::{AgentRow, MessageRow, RunRow, json_text, to_db_int};
use super::{SqlStore, insert_run, not_found};
use crate::api::{ForkPlan, ForkPoint, Forked, NewRun, StoredMessage};
use crate::error::{Error, Result};

/// `queries/select_fork_messages.sql`.
const SELECT_FORK_MESSAGES: &str = include_str!("../../queries/select_fork_messages.sql");
/// `queries/insert_forked_agent.sql`.
const INSERT_FORKED_AGENT: &str = include_str!("../../queries/insert_forked_agent.sql");
/// `queries/copy_fork_messages.sql`.
const COPY_FORK_MESSAGES: &str = include_str!("../../queries/copy_fork_messages.sql");
/// `queries/insert_fork_input.sql`.
const INSERT_FORK_INPUT: &str = include_str!("../../queries/insert_fork_input.sql");

/// The seq of a fork's `forked_from` event, its first; also the seq of the messages it copies.
const FORKED_FROM_SEQ: i64 = 1;

impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'r> AgentRow: FromRow<'r, DB::Row>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
    for<'r> MessageRow: FromRow<'r, DB::Row>,
{
    #[instrument(level = "debug", skip_all, fields(agent_id = %plan.agent_id, forks = plan.forks.len()))]
    pub(crate) async fn fork_agent(&self, plan: ForkPlan) -> Result<Forked> {
        if plan.forks.is_empty() {
            return Err(Error::Conflict(format!("the fork of agent {} names no fork to make", plan.agent_id)));
        }
        let source_id = plan.agent_id.to_string();
        let mut transaction = self.pool().begin().await?;
        let source: Option<AgentRow> =
            query_as(SELECT_AGENT).bind(source_id.clone()).fetch_optional(&mut *transaction).await?;
        let source = Agent::try_from(source.ok_or_else(|| not_found("agent", plan.agent_id))?)?;
        if let Some(reason) = source.read_only_reason() {
            return Err(Error::Conflict(format!("{reason}: it has no conversation to fork")));
        }
        if let ForkPoint::Step { run_id, .. } = &plan.point {
            let run = select_run(&mut transaction, *run_id).await?;
            if run.agent_id != source.id {
                return Err(Error::Conflict(format!(
                    "run {run_id} belongs to agent {}, not to agent {}",
                    run.agent_id, source.id
                )));
            }
        }
        let rows: Vec<MessageRow> =
            query_as(SELECT_FORK_MESSAGES).bind(source_id.clone()).fetch_all(&mut *transaction).await?;
        let outline = rows.into_iter().map(StoredMessage::try_from).collect::<Result<Vec<_>>>()?;
        let cut = point::cut(source.id, source.last_seq, &outline, &plan.point, plan.input.is_some())?;
        let input = match (&plan.input, cut.continued_run) {
            (Some(input), _) => input.clone(),
            (None, Some(run_id)) => select_run(&mut transaction, run_id).await?.input,
            (None, None) => String::new(),
        };
        let mut spec = source.spec.clone();
        if let Some(model) = &plan.model {
            spec.model = model.clone();
        }
        let mut labels = source.labels.clone();
        labels.extend(plan.labels.clone());
        let spec = json_text("agent spec", serde_json::to_string(&spec))?;
        let labels = json_text("agent labels", serde_json::to_string(&labels))?;
        let forked_from = json!({
            "agent_id": source.id,
            "seq": cut.at_seq,
            "message_count": cut.copied,
            "run_id": cut.continued_run.map(|run_id| run_id.to_string()).unwrap_or_default(),
            "step": cut.step,
        });
        let forked_from = json_text("event data", serde_json::to_string(&forked_from))?;
        let message_count = cut.copied + u64::from(plan.input.is_some());
        let now = now_ms();
        let mut forks = Vec::with_capacity(plan.forks.len());
        for &(agent_id, run_id) in &plan.forks {
            let id = agent_id.to_string();
            let row: AgentRow = query_as(INSERT_FORKED_AGENT)
                .bind(id.clone())
                .bind(spec.clone())
                .bind(labels.clone())
                .bind(source.parent_id.map(|parent_id| parent_id.to_string()))
                .bind(now)
                .bind(to_db_int(message_count))
                .bind(source.budget_id.clone())
                .bind(source_id.clone())
                .bind(to_db_int(cut.at_seq))
                .bind(source.tenant.clone())
                .fetch_one(&mut *transaction)
                .await?;
            let agent = Agent::try_from(row)?;
            let new_run = NewRun { id: run_id, input: input.clone(), trace_parent: plan.trace_parent };
            let run = insert_run(&mut *transaction, agent_id, new_run, now)
                .await?
                .ok_or_else(|| not_found("agent", agent_id))?;
            query(INSERT_EVENT)
                .bind(id.clone())
                .bind(FORKED_FROM_SEQ)
                .bind(run_id.to_string())
                .bind(kind::FORKED_FROM.to_owned())
                .bind(forked_from.clone())
                .bind(now)
                .bind(plan.trace_parent.map(|trace| trace.to_string()))
                .execute(&mut *transaction)
                .await?;
            query(COPY_FORK_MESSAGES)
                .bind(id.clone())
                .bind(cut.continued_run.map(|run_id| run_id.to_string()))
                .bind(run_id.to_string())
                .bind(source_id.clone())
                .bind(to_db_int(cut.copied))
                .bind(FORKED_FROM_SEQ)
                .execute(&mut *transaction)
                .await?;
            if let Some(input) = &plan.input {
                query(INSERT_FORK_INPUT)
                    .bind(id)
                    .bind(to_db_int(cut.copied))
                    .bind(run_id.to_string())
                    .bind(input.clone())
                    .bind(FORKED_FROM_SEQ)
                    .execute(&mut *transaction)
                    .await?;
            }
            forks.push((agent, run));
        }
        transaction.commit().await?;
        debug!(copied = cut.copied, at_seq = cut.at_seq, "forked");
        Ok(Forked { forks, message_count: cut.copied, at_seq: cut.at_seq })
    }

    pub(crate) async fn list_messages(&self, agent_id: AgentId) -> Result<Vec<StoredMessage>> {
        let rows: Vec<MessageRow> = query_as(SELECT_MESSAGES).bind(agent_id.to_string()).fetch_all(self.pool()).await?;
        if rows.is_empty() {
            // No messages: tell an unknown agent apart from an idle one.
            let agent: Option<AgentRow> =
                query_as(SELECT_AGENT).bind(agent_id.to_string()).fetch_optional(self.pool()).await?;
            agent.ok_or_else(|| not_found("agent", agent_id))?;
        }
        rows.into_iter().map(StoredMessage::try_from).collect()
    }
}

/// Reads run `run_id` inside `transaction`; [`Error::NotFound`] when it does not exist.
async fn select_run<DB>(transaction: &mut sqlx::Transaction<'_, DB>, run_id: RunId) -> Result<Run>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> RunRow: FromRow<'r, DB::Row>,
{
    let row: Option<RunRow> = query_as(SELECT_RUN).bind(run_id.to_string()).fetch_optional(&mut **transaction).await?;
    Run::try_from(row.ok_or_else(|| not_found("run", run_id))?)
}
