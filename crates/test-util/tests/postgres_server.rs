//! [`PostgresServer`]: a private server that can be crashed and restarted on the same port
//! without losing committed data.

use sqlx::{Connection, PgConnection, Row};

use agentry_test_util::PostgresServer;

async fn count_rows(url: &str) -> i64 {
    let mut connection = PgConnection::connect(url).await.expect("connecting");
    let row = sqlx::query("SELECT count(*) FROM facts").fetch_one(&mut connection).await.expect("counting");
    row.get(0)
}

/// Runs `statement` on a new connection; it is committed when this returns.
async fn execute(url: &str, statement: &'static str) {
    let mut connection = PgConnection::connect(url).await.expect("connecting");
    sqlx::query(statement).execute(&mut connection).await.unwrap_or_else(|error| panic!("{statement}: {error}"));
    connection.close().await.expect("closing");
}

/// Asserts what PostgreSQL guarantees across a crash (kill -9) and a clean stop: while the server
/// is down a new connection is refused, and committed rows survive. (Whether an open session
/// notices the crash at once is not asserted: a backend outlives its postmaster until it next
/// checks.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_rows_survive_a_crash_and_a_stop() {
    let mut server = tokio::task::block_in_place(PostgresServer::start).expect("starting PostgreSQL");
    let url = server.create_database("harness").expect("creating a database");
    assert_eq!(url, format!("postgres://postgres@127.0.0.1:{}/harness", server.port()));
    execute(&url, "CREATE TABLE facts (id int)").await;
    execute(&url, "INSERT INTO facts VALUES (1), (2)").await;

    tokio::task::block_in_place(|| server.kill());
    assert!(!server.is_running());
    assert!(PgConnection::connect(&url).await.is_err(), "a crashed server refuses new connections");
    tokio::task::block_in_place(|| server.restart()).expect("restarting after a crash");
    assert_eq!(count_rows(&url).await, 2, "rows committed before the crash survive it");
    execute(&url, "INSERT INTO facts VALUES (3)").await;

    tokio::task::block_in_place(|| server.stop()).expect("stopping");
    assert!(!server.is_running());
    assert!(PgConnection::connect(&url).await.is_err(), "a stopped server refuses new connections");
    tokio::task::block_in_place(|| server.restart()).expect("starting after a stop");
    assert_eq!(count_rows(&url).await, 3, "rows committed before the stop survive it");
}
