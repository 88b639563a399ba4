//! Durable state of Agentry Cloud: agents, runs, their conversations and trace events, and
//! the nodes that execute them (DESIGN.md §4).
//!
//! Everything goes through the [`Store`] trait, implemented by [`PgStore`] (PostgreSQL, for
//! clusters) and [`SqliteStore`] (SQLite, for a single hub); [`connect`] picks one by URL.
//! Runs are fenced by epoch: [`Store::commit`] from a node that lost its run fails with
//! [`Error::StaleEpoch`] and writes nothing.
//!
//! Layout:
//! - `api.rs`: the trait and the records it reads and writes; `security.rs`: those of tenants
//!   and the audit log; `error.rs`: [`Error`].
//! - `sql/`: the store logic, written once for both databases (`queries/*.sql` hold the SQL,
//!   `sql/rows.rs` decodes rows); `postgres/` and `sqlite/` only open pools and migrate
//!   (`migrations/<db>/`).
//! - `testing.rs` (feature `test-util`): a throw-away PostgreSQL database per test.
//! - `tests/conformance.rs`: one suite run against both backends.

#![warn(missing_docs)]

mod api;
mod error;
mod postgres;
mod security;
mod sql;
mod sqlite;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

use std::sync::Arc;

pub use agentry_core::CommitBatch;
pub use api::{
    AgentQuery, AgentSummary, CommitOutcome, CostGrouping, CostRow, ForkPlan, ForkPoint, Forked, ImportedRun,
    Leadership, NewAgent, NewRun, PlaceableRun, ReleaseScope, RunContext, RunControl, RunCount, Store, StoredMessage,
    TraceImport, TreeEntry,
};
pub use error::{Error, Result};
pub use postgres::PgStore;
pub use security::{AuditQuery, AuditRecord, MAX_AUDIT_LIMIT, TenantUsage};
pub use sqlite::SqliteStore;

/// URL schemes [`connect`] accepts.
pub const URL_SCHEMES: &[&str] = &["postgres://", "postgresql://", "sqlite:"];

/// Opens the store at `url`, chosen by scheme (`postgres://`, `postgresql://` or `sqlite:`), and
/// applies its migrations. PostgreSQL URLs choose TLS with `sslmode` and `sslrootcert` (see
/// [`PgStore::connect`]), e.g.
/// `postgres://agentry@db:5432/agentry?sslmode=verify-full&sslrootcert=/etc/agentry/db-ca.pem`.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
    match scheme {
        "postgres" | "postgresql" => Ok(Arc::new(PgStore::connect(url).await?)),
        "sqlite" => Ok(Arc::new(SqliteStore::connect(url).await?)),
        _ => Err(Error::Database(sqlx::Error::Configuration(
            format!("unsupported database URL scheme {scheme:?}; expected one of {}", URL_SCHEMES.join(", ")).into(),
        ))),
    }
}
