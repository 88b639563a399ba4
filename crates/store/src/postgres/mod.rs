//! The PostgreSQL backend, for clusters: several hubs may share one database. The hot
//! operations have one-statement forms here (`statements.rs`); the rest is the shared SQL.

mod budgeted;
mod groups;
mod statements;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres};
use tracing::info;

use crate::api::Leadership;
use agentry_core::{Agent, CommitBatch, Run, RunStatus};

use crate::api::{CommitOutcome, NewAgent, NewRun};
use crate::error::{Error, Result};
use crate::sql::group::Group;
use crate::sql::{SqlStore, forward_store};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per hub: the group writers hold at most [`COMMIT_WRITERS`] each for commits and
/// Spawns; the rest serve reads, the placer and the reaper.
const MAX_CONNECTIONS: u32 = 16;

/// How long a query waits for a free connection before failing as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Writer tasks of the group commit: enough to keep a group in flight while the next forms,
/// few enough that each group is large under load (see docs/benchmarks-notes.md).
const COMMIT_WRITERS: usize = 4;
/// Most commits written in one statement.
const MAX_COMMIT_GROUP: usize = 64;
/// Writer tasks of the budgeted commits' groups (their transactions hold budget rows' locks:
/// few writers keep those waits short).
const BUDGET_COMMIT_WRITERS: usize = 2;

/// The store in a PostgreSQL database.
#[derive(Debug)]
pub struct PgStore {
    inner: SqlStore<Postgres>,
    /// Commits, written in groups (`group.rs`, `groups::commit_group`).
    commits: Group<CommitBatch, Result<CommitOutcome>>,
    /// Commits carrying a budget operation, written in groups of their own (`budgeted.rs`): one
    /// transaction per group, two statements per commit.
    budget_commits: Group<CommitBatch, Result<CommitOutcome>>,
    /// Spawns, written in groups (`groups::create_agent_group`).
    spawns: Group<groups::SpawnRequest, groups::Spawned>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database?parameters`) and applies
    /// the migrations.
    ///
    /// TLS (rustls with the ring provider) is chosen by the URL's parameters, as libpq's
    /// (<https://www.postgresql.org/docs/current/libpq-ssl.html>):
    /// - `sslmode=disable`: plaintext; `prefer` (the default): TLS when the server offers it,
    ///   its certificate unchecked; `require`: TLS or fail, the certificate unchecked (encrypts,
    ///   but does not stop an attacker in the middle);
    /// - `verify-ca`: TLS, the server's certificate must chain to a trusted root; `verify-full`:
    ///   besides, it must name the URL's host. Use one of these across any network you do not
    ///   control.
    /// - `sslrootcert=/path/ca.pem`: PEM certificates trusted as roots, besides the public
    ///   (Mozilla) roots; `sslcert=` and `sslkey=`: a client certificate and its key, for servers
    ///   that authenticate clients by certificate.
    ///
    /// Errors: [`crate::Error::Database`], naming TLS when the handshake fails or the server
    /// offers no TLS under `require` and above.
    pub async fn connect(url: &str) -> Result<Self> {
        // No ping before each acquire (sqlx's default): it doubled the round trips of every
        // statement. A connection that broke while idle fails its statement with an I/O error,
        // which callers already retry, and the pool drops it.
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect(url)
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool and applies the migrations. Starts the group-commit writer
    /// tasks on the current Tokio runtime: use the store on that runtime.
    pub async fn from_pool(pool: PgPool) -> Result<Self> {
        MIGRATOR.run(&pool).await?;
        let writer_store = Arc::new(SqlStore::new(pool.clone()));
        let commit_store = Arc::clone(&writer_store);
        let commits = Group::start(COMMIT_WRITERS, MAX_COMMIT_GROUP, move |batches| {
            let store = Arc::clone(&commit_store);
            async move { groups::commit_group(&store, batches).await }
        });
        let budget_store = Arc::clone(&writer_store);
        let budget_commits = Group::start(BUDGET_COMMIT_WRITERS, MAX_COMMIT_GROUP, move |batches| {
            let store = Arc::clone(&budget_store);
            async move { budgeted::commit_group(&store, batches).await }
        });
        let spawns = Group::start(COMMIT_WRITERS, MAX_COMMIT_GROUP, move |agents| {
            let store = Arc::clone(&writer_store);
            async move { groups::create_agent_group(&store, agents).await }
        });
        info!("postgres store ready");
        Ok(Self { inner: SqlStore::new(pool), commits, budget_commits, spawns })
    }

    /// Returns the pool, e.g. for advisory locks.
    pub fn pool(&self) -> &PgPool {
        self.inner.pool()
    }

    async fn write_agent(&self, agent: NewAgent, first_run: Option<NewRun>) -> Result<(Agent, Option<Run>)> {
        self.spawns.submit((agent, first_run)).await.unwrap_or_else(|| Err(writers_stopped()))
    }

    async fn read_run_context(&self, run_id: agentry_core::RunId, epoch: u64) -> Result<crate::RunContext> {
        statements::load_run(&self.inner, run_id, epoch).await
    }

    async fn write_commit(&self, batch: CommitBatch) -> Result<CommitOutcome> {
        if starts_or_ends_delegation(&batch) {
            // Rare (once per delegation and per sub-agent): the shared transactional path, which
            // reads the team, inserts the sub-agents and locks the parent; the one-statement
            // forms stay the plain commits' hot path.
            let run_id = batch.run_id;
            return self.inner.commit_group(vec![batch]).await.pop().unwrap_or_else(|| {
                Err(Error::Corrupt(format!("the commit of run {run_id} got no answer from its group")))
            });
        }
        if batch.budget.is_some() {
            return self.budget_commits.submit(batch).await.unwrap_or_else(|| Err(writers_stopped()));
        }
        self.commits.submit(batch).await.unwrap_or_else(|| Err(writers_stopped()))
    }

    async fn write_assignments(
        &self,
        assignments: &[(agentry_core::RunId, agentry_core::NodeId, u64)],
    ) -> Result<Vec<agentry_core::Run>> {
        statements::assign_runs(&self.inner, assignments).await
    }

    /// Takes the leader advisory lock ([`LEADER_LOCK_KEY`]) on a connection of its own, which
    /// then holds it for as long as it lives.
    async fn acquire_leadership(&self) -> Result<Option<Box<dyn Leadership>>> {
        let mut connection = self.pool().acquire().await?.detach();
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut connection)
            .await?;
        if locked {
            info!("leadership acquired");
            Ok(Some(Box::new(PgLeadership { connection })))
        } else {
            let _ = connection.close().await;
            Ok(None)
        }
    }
}

/// Returns whether `batch` starts sub-agents, parks its run for them, or may wake its parent:
/// such commits take the shared path (`crate::sql::commit`), never the one-statement forms.
fn starts_or_ends_delegation(batch: &CommitBatch) -> bool {
    !batch.delegations.is_empty() || batch.wake_parent || batch.status == Some(RunStatus::WaitingChildren)
}

/// The error of a write submitted after the group writers ended.
fn writers_stopped() -> Error {
    Error::Database(sqlx::Error::Protocol("the store's group writers stopped (their Tokio runtime shut down)".into()))
}

/// Key of the session-level advisory lock held by the leading hub: "agentry\0" as a big-endian
/// integer, chosen to stay clear of other applications sharing the database.
pub const LEADER_LOCK_KEY: i64 = 0x6167_656e_7472_7900;

/// Leadership held by an advisory lock on a dedicated session: it ends when the session does
/// (dropping closes the connection, and a database restart or network failure ends the session
/// and with it the lock).
struct PgLeadership {
    connection: PgConnection,
}

#[async_trait]
impl Leadership for PgLeadership {
    async fn still_leading(&mut self) -> bool {
        sqlx::query("SELECT 1").execute(&mut self.connection).await.is_ok()
    }
}

forward_store!(PgStore);
