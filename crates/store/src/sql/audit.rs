//! The audit log ([`crate::Store::append_audit`], [`crate::Store::list_audit`]) and a tenant's
//! holdings ([`crate::Store::tenant_usage`]).
//!
//! The log is append-only in the database itself (migration `11_security`: triggers refuse
//! every `UPDATE` and `DELETE` of `audit_log`), so neither a bug here nor a stolen database
//! credential of the hub can rewrite history without first changing the schema.

use sqlx::database::HasStatementCache;
use sqlx::{AssertSqlSafe, Database, Encode, Executor, FromRow, IntoArguments, Type, query, query_as};

use super::SqlStore;
use super::import::value_rows;
use super::rows::to_db_int;
use crate::error::{Error, Result};
use crate::security::{AuditQuery, AuditRecord, MAX_AUDIT_LIMIT, TenantUsage};

/// `queries/insert_audit.sql`: the statement up to `VALUES`; rows are appended.
const INSERT_AUDIT: &str = include_str!("../../queries/insert_audit.sql");
/// `queries/list_audit.sql`.
const LIST_AUDIT: &str = include_str!("../../queries/list_audit.sql");
/// `queries/tenant_usage.sql`.
const TENANT_USAGE: &str = include_str!("../../queries/tenant_usage.sql");

/// Columns of a row of `insert_audit.sql`.
const AUDIT_COLUMNS: usize = 9;
/// Records per `INSERT`: 9 parameters each stay far below both databases' limits on bound
/// parameters (SQLite 32766, PostgreSQL 65535).
const RECORDS_PER_STATEMENT: usize = 1000;

/// A row of `audit_log`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at_ms: i64,
    actor: String,
    role: String,
    tenant: String,
    action: String,
    target: String,
    outcome: String,
    detail: String,
    source: String,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = Error;

    fn try_from(row: AuditRow) -> Result<Self> {
        Ok(Self {
            id: u64::try_from(row.id).map_err(|_| Error::Corrupt(format!("audit_log.id: {} is negative", row.id)))?,
            at_ms: row.at_ms,
            actor: row.actor,
            role: row.role,
            tenant: row.tenant,
            action: row.action,
            target: row.target,
            outcome: row.outcome,
            detail: row.detail,
            source: row.source,
        })
    }
}

/// A row of `tenant_usage.sql`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TenantUsageRow {
    agents: i64,
    active_runs: i64,
}

impl<DB> SqlStore<DB>
where
    DB: Database + HasStatementCache,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> AuditRow: FromRow<'r, DB::Row>,
    for<'r> TenantUsageRow: FromRow<'r, DB::Row>,
{
    pub(crate) async fn append_audit(&self, records: &[AuditRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut transaction = self.pool().begin().await?;
        if DB::NAME == "PostgreSQL" {
            // The hub writes the audit log off the request path, in batches it may already lose
            // on a crash; not waiting for this commit's WAL flush keeps the batch's fsync out of
            // the way of the runs' commits (a database crash may lose the last fraction of a
            // second of records, never corrupt the log).
            query("SET LOCAL synchronous_commit = off").execute(&mut *transaction).await?;
        }
        for chunk in records.chunks(RECORDS_PER_STATEMENT) {
            let sql = format!("{INSERT_AUDIT}{}", value_rows(chunk.len(), AUDIT_COLUMNS, ""));
            // Its text varies with the row count: kept prepared, it would crowd the statement cache.
            let mut statement = query(AssertSqlSafe(sql)).persistent(false);
            for record in chunk {
                statement = statement
                    .bind(record.at_ms)
                    .bind(record.actor.clone())
                    .bind(record.role.clone())
                    .bind(record.tenant.clone())
                    .bind(record.action.clone())
                    .bind(record.target.clone())
                    .bind(record.outcome.clone())
                    .bind(record.detail.clone())
                    .bind(record.source.clone());
            }
            statement.execute(&mut *transaction).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    pub(crate) async fn list_audit(&self, audit_query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let limit = audit_query.limit.min(MAX_AUDIT_LIMIT);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<AuditRow> = query_as(LIST_AUDIT)
            .bind(i64::from(limit))
            .bind(audit_query.before_id.map_or(i64::MAX, to_db_int))
            .bind(audit_query.since_ms.unwrap_or(i64::MIN))
            .bind(audit_query.actor.clone())
            .bind(audit_query.tenant.clone())
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(AuditRecord::try_from).collect()
    }

    pub(crate) async fn tenant_usage(&self, tenant: &str) -> Result<TenantUsage> {
        let row: TenantUsageRow = query_as(TENANT_USAGE).bind(tenant.to_owned()).fetch_one(self.pool()).await?;
        let count = |column: &str, value: i64| {
            u64::try_from(value).map_err(|_| Error::Corrupt(format!("tenant usage {column}: {value} is negative")))
        };
        Ok(TenantUsage { agents: count("agents", row.agents)?, active_runs: count("active_runs", row.active_runs)? })
    }
}
