//! The PostgreSQL backend, for clusters: several hubs may share one database.

use std::time::Duration;

use sqlx::Postgres;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tracing::info;

use crate::error::Result;
use crate::sql::{SqlStore, forward_store};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per hub: commits are short transactions, so a few connections keep the
/// scheduler, the gRPC handlers and the reaper from waiting on each other.
const MAX_CONNECTIONS: u32 = 16;

/// How long a query waits for a free connection before failing as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The store in a PostgreSQL database.
#[derive(Debug)]
pub struct PgStore {
    inner: SqlStore<Postgres>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/database`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool =
            PgPoolOptions::new().max_connections(MAX_CONNECTIONS).acquire_timeout(ACQUIRE_TIMEOUT).connect(url).await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool and applies the migrations.
    pub async fn from_pool(pool: PgPool) -> Result<Self> {
        MIGRATOR.run(&pool).await?;
        info!("postgres store ready");
        Ok(Self { inner: SqlStore::new(pool) })
    }

    /// Returns the pool, e.g. for advisory locks.
    pub fn pool(&self) -> &PgPool {
        self.inner.pool()
    }
}

forward_store!(PgStore);
