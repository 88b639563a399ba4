//! The SQLite backend, for a single hub (development, small installations, tests).
//!
//! Concurrency: the pool holds exactly one connection, so statements and transactions run one
//! at a time and two writers can never contend for SQLite's single write lock. With several
//! connections a deferred transaction that reads first and then writes can fail with
//! `SQLITE_BUSY` (busy_timeout does not help when the lock upgrade would deadlock), which would
//! surface as spurious commit failures. SQLite serializes writers anyway, so one connection
//! costs little; it also keeps `sqlite::memory:` a single database.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Sqlite;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use tracing::info;

use crate::api::Leadership;
use crate::error::Result;
use crate::sql::group::Group;
use crate::sql::{SqlStore, forward_store};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Most commits written in one transaction (group commit; `sql/group.rs`).
const MAX_COMMIT_GROUP: usize = 64;

/// How long a statement waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller waits for the single connection before failing as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The store in a SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    inner: SqlStore<Sqlite>,
    /// Commits, written in groups by one writer (one transaction and one fsync per group).
    commits: Group<agentry_core::CommitBatch, Result<crate::CommitOutcome>>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if needed) the database file at `path` and
    /// applies the migrations. Starts the group-commit writer task on the current Tokio
    /// runtime: use the store on that runtime.
    pub async fn open(path: &Path) -> Result<Self> {
        create_parent_dir(path)?;
        Self::open_with(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a `sqlite:` URL: `sqlite://path/to/file.db`, `sqlite:file.db` or `sqlite::memory:`
    /// (one private in-memory database per store).
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            create_parent_dir(options.get_filename())?;
        }
        Self::open_with(options).await
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit acknowledged to a node survives a power loss.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // One connection that is never closed: see the module docs. Closing it would also
        // discard an in-memory database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        info!("sqlite store ready");
        let writer_store = Arc::new(SqlStore::new(pool.clone()));
        let commits = Group::start(1, MAX_COMMIT_GROUP, move |batches| {
            let store = Arc::clone(&writer_store);
            async move { store.commit_group(batches).await }
        });
        Ok(Self { inner: SqlStore::new(pool), commits })
    }

    /// Returns the pool (a single connection).
    pub fn pool(&self) -> &SqlitePool {
        self.inner.pool()
    }

    /// A SQLite database has one hub, which always leads.
    async fn write_agent(
        &self,
        agent: crate::NewAgent,
        first_run: Option<crate::NewRun>,
    ) -> Result<(agentry_core::Agent, Option<agentry_core::Run>)> {
        self.inner.create_agent(agent, first_run).await
    }

    async fn read_run_context(&self, run_id: agentry_core::RunId, epoch: u64) -> Result<crate::RunContext> {
        self.inner.load_run(run_id, epoch).await
    }

    async fn write_commit(&self, batch: agentry_core::CommitBatch) -> Result<crate::CommitOutcome> {
        self.commits.submit(batch).await.unwrap_or_else(|| {
            Err(crate::Error::Database(sqlx::Error::Protocol(
                "the store's commit writer stopped (its Tokio runtime shut down)".into(),
            )))
        })
    }

    async fn write_assignments(
        &self,
        assignments: &[(agentry_core::RunId, agentry_core::NodeId, u64)],
    ) -> Result<Vec<agentry_core::Run>> {
        self.inner.assign_runs(assignments).await
    }

    async fn acquire_leadership(&self) -> Result<Option<Box<dyn Leadership>>> {
        Ok(Some(Box::new(SoleLeader)))
    }
}

/// The leadership of the only hub of a SQLite database.
struct SoleLeader;

#[async_trait]
impl Leadership for SoleLeader {
    async fn still_leading(&mut self) -> bool {
        true
    }
}

fn create_parent_dir(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

forward_store!(SqliteStore);
