//! Cost reports ([`crate::Store::cost_report`]): the model calls' `usage` events summed by the
//! database, grouped by root agent, model, UTC day or tenant.
//!
//! JSON extraction and date formatting differ between the databases, so each has its own
//! statement (`queries/postgres/cost.sql`, `queries/sqlite/cost.sql`), chosen by [`CostQuery`];
//! their parameters and rows are the same.

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Postgres, Sqlite, Type, query_as};

use super::SqlStore;
use crate::api::{CostGrouping, CostRow};
use crate::error::{Error, Result};

/// The longest time bucket: the statements' arithmetic (`ts_ms % b + b`) cannot overflow.
const MAX_BUCKET_MS: i64 = i64::MAX / 2;

/// A database's cost report statement. Parameters: `$1` the grouping
/// ([`CostGrouping::as_str`]), `$2` the earliest `ts_ms` counted, `$3` the length of a time
/// bucket in milliseconds (NULL: no buckets), `$4` the only tenant counted (NULL: every
/// tenant). Rows: [`CostReportRow`].
pub(crate) trait CostQuery {
    /// The statement.
    const COST_REPORT: &'static str;
}

impl CostQuery for Postgres {
    const COST_REPORT: &'static str = include_str!("../../queries/postgres/cost.sql");
}

impl CostQuery for Sqlite {
    const COST_REPORT: &'static str = include_str!("../../queries/sqlite/cost.sql");
}

/// A row of `cost.sql`: sums of one group (and time bucket), as 64-bit integers and a double.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CostReportRow {
    group_key: String,
    bucket_start: Option<i64>,
    calls: i64,
    input_tokens: i64,
    output_tokens: i64,
    total_tokens: i64,
    cost_usd: f64,
}

impl TryFrom<CostReportRow> for CostRow {
    type Error = Error;

    fn try_from(row: CostReportRow) -> Result<Self> {
        let count = |column: &str, value: i64| {
            u64::try_from(value).map_err(|_| Error::Corrupt(format!("cost report {column}: {value} is negative")))
        };
        Ok(Self {
            calls: count("calls", row.calls)?,
            input_tokens: count("input_tokens", row.input_tokens)?,
            output_tokens: count("output_tokens", row.output_tokens)?,
            total_tokens: count("total_tokens", row.total_tokens)?,
            cost_usd: row.cost_usd,
            key: row.group_key,
            bucket_start_ms: row.bucket_start,
        })
    }
}

impl<DB> SqlStore<DB>
where
    DB: Database + CostQuery,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'r> CostReportRow: FromRow<'r, DB::Row>,
{
    pub(crate) async fn cost_report(
        &self,
        by: CostGrouping,
        since_ms: Option<i64>,
        bucket_ms: Option<i64>,
        tenant: Option<&str>,
    ) -> Result<Vec<CostRow>> {
        if let Some(bucket_ms) = bucket_ms.filter(|bucket_ms| !(1..=MAX_BUCKET_MS).contains(bucket_ms)) {
            return Err(Error::Conflict(format!(
                "a cost bucket of {bucket_ms} ms: it must be from 1 to {MAX_BUCKET_MS} ms"
            )));
        }
        let rows: Vec<CostReportRow> = query_as(DB::COST_REPORT)
            .bind(by.as_str().to_owned())
            .bind(since_ms.unwrap_or(i64::MIN))
            .bind(bucket_ms)
            .bind(tenant.map(str::to_owned))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(CostRow::try_from).collect()
    }
}
