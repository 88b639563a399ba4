//! Choosing the backend by URL, and TLS to PostgreSQL.

use agentry_store::testing::PgTestDatabase;
use agentry_store::{Error, PgStore, Store, connect};

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

/// Returns `url` with its `sslmode` and `sslrootcert` parameters replaced by `tls_parameters`.
fn with_tls(url: &str, tls_parameters: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut parameters: Vec<&str> = query
        .split('&')
        .filter(|parameter| !parameter.is_empty())
        .filter(|parameter| !parameter.starts_with("sslmode=") && !parameter.starts_with("sslrootcert="))
        .collect();
    parameters.push(tls_parameters);
    format!("{base}?{}", parameters.join("&"))
}

/// The client speaks TLS (rustls, compiled in through sqlx's `tls-rustls-ring-webpki`):
/// `sslmode=require` encrypts the session when the server offers TLS, and fails naming TLS when
/// it does not — a build without TLS would fail either way, saying it was built without it.
#[tokio::test]
async fn postgres_sslmode_require_speaks_tls() {
    let database = PgTestDatabase::create().await.unwrap();
    let plain = PgStore::connect(database.url()).await.unwrap();
    let server_ssl: String = sqlx::query_scalar("SHOW ssl").fetch_one(plain.pool()).await.unwrap();
    let required = PgStore::connect(&with_tls(database.url(), "sslmode=require")).await;
    if server_ssl == "on" {
        let store = required.unwrap_or_else(|error| panic!("sslmode=require against a TLS server: {error}"));
        let encrypted: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(encrypted, "the session is not encrypted");
        let agents = store.list_agents(&agentry_store::AgentQuery::newest(1)).await.unwrap();
        assert!(agents.is_empty(), "the store works over TLS");
    } else {
        let message = required.expect_err("sslmode=require against a server without TLS connected").to_string();
        assert!(message.contains("server does not support TLS"), "{message}");
    }
}

/// `sslmode=verify-full` checks the server's certificate against `sslrootcert` (besides the
/// public roots): a root that did not sign it refuses the server — its certificate if it
/// offers TLS, else its lack of TLS.
#[tokio::test]
async fn postgres_verify_full_refuses_a_server_its_root_did_not_sign() {
    let directory = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "an unrelated CA");
    let root = directory.path().join("root.pem");
    std::fs::write(&root, params.self_signed(&key).unwrap().pem()).unwrap();

    let database = PgTestDatabase::create().await.unwrap();
    let url = with_tls(database.url(), &format!("sslmode=verify-full&sslrootcert={}", root.display()));
    let message = PgStore::connect(&url).await.expect_err("a server the root did not sign was trusted").to_string();
    assert!(
        message.contains("invalid peer certificate") || message.contains("server does not support TLS"),
        "{message}"
    );
    assert!(!message.contains("without TLS support"), "{message}");
}

#[test]
fn tls_parameters_replace_the_urls() {
    assert_eq!(with_tls("postgres://u@h/db", "sslmode=require"), "postgres://u@h/db?sslmode=require");
    assert_eq!(
        with_tls("postgres://u@h/db?sslmode=disable&application_name=x", "sslmode=verify-full&sslrootcert=/ca.pem"),
        "postgres://u@h/db?application_name=x&sslmode=verify-full&sslrootcert=/ca.pem"
    );
}
