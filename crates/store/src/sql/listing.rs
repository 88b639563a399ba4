//! Agent listings ([`crate::Store::list_agents`]): a page of agents with their latest runs,
//! newest first, filtered by tenant, by the latest run's status and by a search, with a keyset
//! cursor.
//!
//! JSON access differs between the databases, so each has its own statement
//! (`queries/postgres/list_agents.sql`, `queries/sqlite/list_agents.sql`), chosen by
//! [`ListQuery`]; their parameters (made by [`ListParams::of`]) and rows are the same.

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Postgres, Sqlite, Type, query_as};

use super::SqlStore;
use super::rows::AgentSummaryRow;
use crate::api::{AgentQuery, AgentSummary};
use crate::error::Result;

/// A database's agent listing statement. Parameters: see [`ListParams`]. Rows: the
/// `agent_summaries` view.
pub(crate) trait ListQuery {
    /// The statement.
    const LIST_AGENTS: &'static str;
}

impl ListQuery for Postgres {
    const LIST_AGENTS: &'static str = include_str!("../../queries/postgres/list_agents.sql");
}

impl ListQuery for Sqlite {
    const LIST_AGENTS: &'static str = include_str!("../../queries/sqlite/list_agents.sql");
}

/// The parameters of `list_agents.sql`, in order (`$1` to `$8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListParams {
    /// `$1`: most rows.
    limit: i64,
    /// `$2`: status names, comma-separated; `None`: no status filter.
    statuses: Option<String>,
    /// `$3`: 1 to keep dead-lettered latest runs, else 0.
    dead_lettered: i64,
    /// `$4`: the search, LIKE-escaped.
    pattern: Option<String>,
    /// `$5`: with a `key=value` search, the key.
    label_key: Option<String>,
    /// `$6`: with a `key=value` search, the value.
    label_value: Option<String>,
    /// `$7`: the keyset cursor.
    before: Option<String>,
    /// `$8`: the tenant.
    tenant: Option<String>,
}

impl ListParams {
    /// Returns the parameters of `query`.
    pub(crate) fn of(query: &AgentQuery) -> Self {
        let statuses = (!query.statuses.is_empty())
            .then(|| query.statuses.iter().map(|status| status.as_str()).collect::<Vec<_>>().join(","));
        let text = query.text.as_deref().filter(|text| !text.is_empty());
        let label = text.and_then(|text| text.split_once('=')).filter(|(key, _)| !key.is_empty());
        Self {
            limit: i64::from(query.limit),
            statuses,
            dead_lettered: i64::from(query.dead_lettered),
            pattern: text.map(like_escape),
            label_key: label.map(|(key, _)| key.to_owned()),
            label_value: label.map(|(_, value)| value.to_owned()),
            before: query.before.map(|id| id.to_string()),
            tenant: query.tenant.clone(),
        }
    }
}

/// Returns `text` as a LIKE pattern that matches it literally: `\`, `%` and `_` escaped with
/// `\` (the statements' `ESCAPE` character).
pub(crate) fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

impl<DB> SqlStore<DB>
where
    DB: Database + ListQuery,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> AgentSummaryRow: FromRow<'r, DB::Row>,
{
    pub(crate) async fn list_agents(&self, query: &AgentQuery) -> Result<Vec<AgentSummary>> {
        let params = ListParams::of(query);
        let rows: Vec<AgentSummaryRow> = query_as(DB::LIST_AGENTS)
            .bind(params.limit)
            .bind(params.statuses)
            .bind(params.dead_lettered)
            .bind(params.pattern)
            .bind(params.label_key)
            .bind(params.label_value)
            .bind(params.before)
            .bind(params.tenant)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(super::summary).collect()
    }
}

#[cfg(test)]
mod tests {
    use agentry_core::{AgentId, RunStatus};

    use super::*;

    #[test]
    fn wildcards_are_escaped() {
        assert_eq!(like_escape("50%_off\\now"), "50\\%\\_off\\\\now");
        assert_eq!(like_escape("plain"), "plain");
    }

    #[test]
    fn queries_become_parameters() {
        let before = AgentId::generate();
        let query = AgentQuery {
            limit: 5,
            statuses: vec![RunStatus::Queued, RunStatus::WaitingApproval],
            dead_lettered: true,
            text: Some("team=a_b".to_owned()),
            before: Some(before),
            tenant: Some("acme".to_owned()),
        };
        let params = ListParams::of(&query);
        assert_eq!(params.limit, 5);
        assert_eq!(params.statuses.as_deref(), Some("queued,waiting_approval"));
        assert_eq!(params.dead_lettered, 1);
        assert_eq!(params.pattern.as_deref(), Some("team=a\\_b"));
        assert_eq!((params.label_key.as_deref(), params.label_value.as_deref()), (Some("team"), Some("a_b")));
        assert_eq!(params.before, Some(before.to_string()));
        assert_eq!(params.tenant.as_deref(), Some("acme"));

        let plain = ListParams::of(&AgentQuery { text: Some("=x".to_owned()), ..AgentQuery::newest(1) });
        assert_eq!((plain.statuses, plain.dead_lettered, plain.label_key), (None, 0, None));
        assert_eq!(ListParams::of(&AgentQuery { text: Some(String::new()), ..AgentQuery::newest(1) }).pattern, None);
    }
}
