//! Choosing the backend by URL.

use agentry_store::testing::PgTestDatabase;
use agentry_store::{Error, connect};

use agentry_core::AgentId;

#[tokio::test]
async fn sqlite_memory_url_opens_a_migrated_store() {
    let store = connect("sqlite::memory:").await.unwrap();
    assert!(store.list_agents(&agentry_store::AgentQuery::newest(10)).await.unwrap().is_empty());
    let unknown = AgentId::generate();
    assert!(matches!(store.get_agent(unknown).await, Err(Error::NotFound { what: "agent", .. })));
}

#[tokio::test]
async fn sqlite_file_url_creates_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("nested").join("state.db");
    let store = connect(&format!("sqlite://{}", path.display())).await.unwrap();
    assert!(store.list_nodes().await.unwrap().is_empty());
    assert!(path.exists());
}

#[tokio::test]
async fn postgres_urls_open_a_migrated_store() {
    let database = PgTestDatabase::create().await.unwrap();
    let store = connect(database.url()).await.unwrap();
    assert!(store.list_agents(&agentry_store::AgentQuery::newest(10)).await.unwrap().is_empty());
    let alias = database.url().replacen("postgres://", "postgresql://", 1);
    let again = connect(&alias).await.unwrap();
    assert!(again.list_nodes().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_scheme_is_named() {
    let error = connect("mysql://root@localhost/agentry").await.err().expect("mysql is refused");
    let message = error.to_string();
    assert!(message.contains("\"mysql\""), "{message}");
    assert!(message.contains("postgres://") && message.contains("sqlite:"), "{message}");
}
