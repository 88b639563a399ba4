//! Migration `11_security` in the database itself: the audit log refuses to be rewritten (UPDATE,
//! DELETE and, on PostgreSQL, TRUNCATE fail, whoever asks), and the migration reverts cleanly.

use sqlx::migrate::Migrator;

use agentry_core::DEFAULT_TENANT;
use agentry_store::testing::PgTestDatabase;
use agentry_store::{AuditQuery, AuditRecord, NewAgent, PgStore, SqliteStore, Store};

static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The migration before `11_security`.
const BEFORE_SECURITY: i64 = 10;

fn record(action: &str) -> AuditRecord {
    AuditRecord {
        id: 0,
        at_ms: 1_700_000_000_000,
        actor: "ann".into(),
        role: "viewer".into(),
        tenant: "acme".into(),
        action: action.into(),
        target: "agent/x".into(),
        outcome: "PERMISSION_DENIED".into(),
        detail: "role viewer may not call Spawn".into(),
        source: "10.0.0.7:41000".into(),
    }
}

/// Asserts that the database refused `statement` as a change of the append-only log.
#[track_caller]
fn assert_refused(statement: &str, result: Result<impl std::fmt::Debug, sqlx::Error>) {
    match result {
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains("append-only"), "{statement}: refused for another reason: {message}");
        }
        Ok(done) => panic!("{statement} was applied to the audit log: {done:?}"),
    }
}

/// Asserts that the log still holds exactly `record`, unchanged.
async fn assert_untouched(store: &dyn Store, expected: &AuditRecord) {
    let listed = store.list_audit(&AuditQuery::newest(10)).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(AuditRecord { id: 0, ..listed[0].clone() }, *expected);
}

#[tokio::test]
async fn postgres_audit_log_refuses_updates_and_deletes() {
    let database = PgTestDatabase::create().await.unwrap();
    let store = PgStore::connect(database.url()).await.unwrap();
    store.append_audit(&[record("Spawn")]).await.unwrap();
    for statement in [
        "UPDATE audit_log SET outcome = 'OK'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE actor = 'ann'",
        "TRUNCATE audit_log",
        "INSERT INTO audit_log SELECT * FROM audit_log ON CONFLICT (id) DO UPDATE SET outcome = 'OK'",
    ] {
        assert_refused(statement, sqlx::query(statement).execute(store.pool()).await);
    }
    assert_untouched(&store, &record("Spawn")).await;
}

#[tokio::test]
async fn sqlite_audit_log_refuses_updates_and_deletes() {
    let directory = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&directory.path().join("agentry.db")).await.unwrap();
    store.append_audit(&[record("Spawn")]).await.unwrap();
    for statement in [
        "UPDATE audit_log SET outcome = 'OK'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE actor = 'ann'",
        "REPLACE INTO audit_log SELECT * FROM audit_log",
        "INSERT OR REPLACE INTO audit_log SELECT * FROM audit_log",
        "INSERT INTO audit_log SELECT * FROM audit_log WHERE true ON CONFLICT (id) DO UPDATE SET outcome = 'OK'",
        "UPDATE OR REPLACE audit_log SET id = id + 1",
    ] {
        assert_refused(statement, sqlx::query(statement).execute(store.pool()).await);
    }
    assert_untouched(&store, &record("Spawn")).await;
}

/// Returns an agent to create in `tenant`.
fn agent(tenant: &str) -> NewAgent {
    NewAgent {
        id: agentry_core::AgentId::generate(),
        spec: agentry_core::AgentSpec {
            model: "openai:test".into(),
            tools: Vec::new(),
            system: String::new(),
            max_iterations: 4,
            node_selector: Default::default(),
            temperature: None,
            tool_choice: None,
            mcp_servers: Default::default(),
            team: None,
        },
        labels: Default::default(),
        parent_id: None,
        idempotency_key: None,
        budget_id: None,
        budget_limits: None,
        tenant: tenant.into(),
    }
}

/// Reverting `11_security` keeps the agents (their tenant dropped) and drops the log; applying
/// it again puts the agents in the default tenant.
async fn assert_reverts_cleanly(store: &dyn Store, revert: impl AsyncFnOnce(), reapply: impl AsyncFnOnce()) {
    let (created, _) = store.create_agent(agent("acme"), None).await.unwrap();
    store.append_audit(&[record("Spawn")]).await.unwrap();
    revert().await;
    reapply().await;
    let agent = store.get_agent(created.id).await.unwrap().agent;
    assert_eq!((agent.id, agent.tenant.as_str()), (created.id, DEFAULT_TENANT));
    assert!(store.list_audit(&AuditQuery::newest(10)).await.unwrap().is_empty());
    store.append_audit(&[record("Spawn")]).await.unwrap();
    assert_untouched(store, &record("Spawn")).await;
}

#[tokio::test]
async fn postgres_security_migration_reverts_cleanly() {
    let database = PgTestDatabase::create().await.unwrap();
    let store = PgStore::connect(database.url()).await.unwrap();
    let pool = store.pool().clone();
    let revert = async || POSTGRES_MIGRATOR.undo(&pool, BEFORE_SECURITY).await.expect("11_security.down.sql");
    let reapply = async || POSTGRES_MIGRATOR.run(&pool).await.expect("11_security.up.sql");
    assert_reverts_cleanly(&store, revert, reapply).await;
}

#[tokio::test]
async fn sqlite_security_migration_reverts_cleanly() {
    let directory = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&directory.path().join("agentry.db")).await.unwrap();
    let pool = store.pool().clone();
    let revert = async || SQLITE_MIGRATOR.undo(&pool, BEFORE_SECURITY).await.expect("11_security.down.sql");
    let reapply = async || SQLITE_MIGRATOR.run(&pool).await.expect("11_security.up.sql");
    assert_reverts_cleanly(&store, revert, reapply).await;
}
