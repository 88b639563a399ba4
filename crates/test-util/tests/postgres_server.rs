//! [`PostgresServer`]: a private server that can be crashed and restarted on the same port
//! without losing committed data.

use sqlx::{Connection, PgConnection, Row};

use agentry_test_util::PostgresServer;

async fn count_rows(url: &str) -> i64 {
    let mut connection = PgConnection::connect(url).await.expect("connecting");
    let row = sqlx::query("SELECT count(*) FROM facts").fetch_one(&mut connection).await.expect("counting");
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_rows_survive_a_crash_and_a_stop() {
    let mut server = tokio::task::block_in_place(PostgresServer::start).expect("starting PostgreSQL");
    let url = server.create_database("harness").expect("creating a database");
    assert_eq!(url, format!("postgres://postgres@127.0.0.1:{}/harness", server.port()));
    let mut connection = PgConnection::connect(&url).await.expect("connecting");
    sqlx::query("CREATE TABLE facts (id int)").execute(&mut connection).await.expect("creating a table");
    sqlx::query("INSERT INTO facts VALUES (1), (2)").execute(&mut connection).await.expect("inserting");

    tokio::task::block_in_place(|| server.kill());
    assert!(!server.is_running());
    assert!(sqlx::query("SELECT 1").execute(&mut connection).await.is_err(), "the session died with the server");
    tokio::task::block_in_place(|| server.restart()).expect("restarting after a crash");
    assert_eq!(count_rows(&url).await, 2);

    tokio::task::block_in_place(|| server.stop()).expect("stopping");
    assert!(PgConnection::connect(&url).await.is_err(), "a stopped server refuses connections");
    tokio::task::block_in_place(|| server.restart()).expect("starting after a stop");
    assert_eq!(count_rows(&url).await, 2);
}
