//! Delegation trees ([`crate::Store::agent_tree`]): an agent and its sub-agents (through
//! `agents.parent_id`), depth first, each with its latest run and its model use.
//!
//! JSON extraction differs between the databases, so each has its own statement
//! (`queries/postgres/agent_tree.sql`, `queries/sqlite/agent_tree.sql`), chosen by [`TreeQuery`];
//! their parameters and rows are the same. The model use is counted as the cost report
//! (`cost.sql`) counts it, so a root's tree sums to its row of `cost_report` by agent.

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Postgres, Sqlite, Type, query_as};

use super::SqlStore;
use super::rows::AgentSummaryRow;
use crate::api::TreeEntry;
use crate::error::{Error, Result};
use agentry_core::AgentId;

/// The most entries [`SqlStore::agent_tree`] returns (the first ones of the depth-first walk).
pub(crate) const MAX_TREE_ENTRIES: i64 = 10_000;

/// A database's delegation tree statement. Parameters: `$1` the root agent's id, `$2` the most
/// entries. Rows: [`TreeRow`], depth first.
pub(crate) trait TreeQuery {
    /// The statement.
    const AGENT_TREE: &'static str;
}

impl TreeQuery for Postgres {
    const AGENT_TREE: &'static str = include_str!("../../queries/postgres/agent_tree.sql");
}

impl TreeQuery for Sqlite {
    const AGENT_TREE: &'static str = include_str!("../../queries/sqlite/agent_tree.sql");
}

/// A row of `agent_tree.sql`: the agent with its latest run, its depth below the root and its
/// model use, as 64-bit integers and a double.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TreeRow {
    #[sqlx(flatten)]
    summary: AgentSummaryRow,
    depth: i64,
    calls: i64,
    total_tokens: i64,
    cost_usd: f64,
}

impl TryFrom<TreeRow> for TreeEntry {
    type Error = Error;

    fn try_from(row: TreeRow) -> Result<Self> {
        let agent_id = row.summary.agent.id.clone();
        let count = |column: &str, value: i64| {
            u64::try_from(value)
                .map_err(|_| Error::Corrupt(format!("agent tree {column} of agent {agent_id}: {value} is negative")))
        };
        let depth = u32::try_from(row.depth).map_err(|_| {
            Error::Corrupt(format!("agent tree depth of agent {agent_id}: {} is out of range", row.depth))
        })?;
        Ok(Self {
            depth,
            calls: count("calls", row.calls)?,
            total_tokens: count("total_tokens", row.total_tokens)?,
            cost_usd: row.cost_usd,
            summary: super::summary(row.summary)?,
        })
    }
}

impl<DB> SqlStore<DB>
where
    DB: Database + TreeQuery,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> TreeRow: FromRow<'r, DB::Row>,
{
    pub(crate) async fn agent_tree(&self, agent_id: AgentId) -> Result<Vec<TreeEntry>> {
        let rows: Vec<TreeRow> =
            query_as(DB::AGENT_TREE).bind(agent_id.to_string()).bind(MAX_TREE_ENTRIES).fetch_all(self.pool()).await?;
        if rows.is_empty() {
            return Err(super::not_found("agent", agent_id));
        }
        rows.into_iter().map(TreeEntry::try_from).collect()
    }
}
