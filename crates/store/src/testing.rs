//! Test support: a fresh PostgreSQL database per test, so tests run in parallel.

use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tracing::warn;
use uuid::Uuid;

use crate::error::Result;

/// Environment variable naming the server used by tests (any database on it).
pub const TEST_DATABASE_URL_VAR: &str = "AGENTRY_TEST_DATABASE_URL";

/// Server used when [`TEST_DATABASE_URL_VAR`] is not set.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database `agentry_test_<uuid>` created for one test and dropped (with its connections)
/// when this value is dropped.
#[derive(Debug)]
pub struct PgTestDatabase {
    name: String,
    server_url: String,
    url: String,
}

impl PgTestDatabase {
    /// Creates an empty database on the server at `AGENTRY_TEST_DATABASE_URL` (default
    /// [`DEFAULT_TEST_DATABASE_URL`]).
    pub async fn create() -> Result<Self> {
        let server_url = std::env::var(TEST_DATABASE_URL_VAR).unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
        let name = format!("agentry_test_{}", Uuid::now_v7().simple());
        let mut connection = PgConnection::connect(&server_url).await?;
        connection.execute(AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
        connection.close().await?;
        let url = with_database(&server_url, &name);
        Ok(Self { name, server_url, url })
    }

    /// Returns the URL of the database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        let server_url = std::mem::take(&mut self.server_url);
        // Drop may run inside a runtime, which must not be blocked on: drop the database from
        // a thread of its own with its own runtime, and wait for it so tests leave nothing.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                let drop_database = async {
                    let mut connection = PgConnection::connect(&server_url).await?;
                    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    connection.execute(AssertSqlSafe(statement)).await?;
                    connection.close().await
                };
                match tokio::time::timeout(Duration::from_secs(30), drop_database).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => warn!(%error, name, "could not drop test database"),
                    Err(_) => warn!(name, "timed out dropping test database"),
                }
            });
        });
        let _ = dropper.join();
    }
}

/// Returns `server_url` with its database path replaced by `database`.
fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced() {
        assert_eq!(with_database("postgres://u@h:1/test", "x"), "postgres://u@h:1/x");
        assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
        assert_eq!(with_database("postgres://u@h/test?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
    }
}
