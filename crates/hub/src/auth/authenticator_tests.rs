//! Tests of [`super::Authenticator`] over an auth file in a temporary directory.

use std::path::Path;

use tonic::Code;

use super::*;
use crate::auth::tokens::token_sha256_hex;
use crate::auth::{AuthMethod, Role};

fn token_entry(name: &str, token: &str, role: &str, tenant: &str) -> String {
    format!(
        "[[token]]\nname = \"{name}\"\nsha256 = \"{}\"\nrole = \"{role}\"\ntenant = \"{tenant}\"\n",
        token_sha256_hex(token)
    )
}

fn config(auth_file: &Path) -> HubConfig {
    HubConfig {
        auth_file: Some(auth_file.to_owned()),
        tenant_max_agents: 5,
        tenant_max_active_runs: 2,
        ..HubConfig::default()
    }
}

#[tokio::test]
async fn bearer_tokens_of_the_file_authenticate_and_others_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, token_entry("ci-bot", "s3cret", "client", "acme")).expect("write");
    let auth = Authenticator::from_config(&config(&path)).await.expect("authenticator");
    assert!(auth.enabled());
    let principal = auth.authenticate(Some("Bearer s3cret")).expect("known token");
    assert_eq!(
        principal,
        Principal {
            actor: "ci-bot".into(),
            role: Role::Client,
            tenant: Some("acme".into()),
            method: AuthMethod::Token
        }
    );
    assert_eq!(auth.authenticate(Some("bearer  s3cret ")).expect("scheme is case-insensitive").actor, "ci-bot");
    let cases = [
        (None, "this hub requires a token"),
        (Some("Basic czNjcmV0"), "is not `Bearer <token>`"),
        (Some("Bearer "), "is not `Bearer <token>`"),
        (Some("Bearer wrong"), "not one of the tokens of hub.auth-file"),
    ];
    for (header, reason) in cases {
        let refused = auth.authenticate(header).expect_err(reason);
        assert_eq!(refused.code(), Code::Unauthenticated, "{header:?}");
        assert!(refused.message().contains(reason), "{header:?}: {}", refused.message());
    }
}

#[tokio::test]
async fn without_an_auth_file_or_issuer_everyone_is_the_anonymous_admin() {
    let auth = Authenticator::from_config(&HubConfig::default()).await.expect("authenticator");
    assert!(!auth.enabled());
    assert_eq!(auth.authenticate(None).expect("anonymous"), Principal::anonymous());
    assert_eq!(auth.authenticate(Some("Bearer whatever")).expect("anonymous"), Principal::anonymous());
    assert!(!Authenticator::disabled().enabled());
    let limiter = auth.stream_limiter();
    let permits: Vec<_> = (0..100).map(|_| limiter.acquire(&Principal::anonymous())).collect();
    assert!(permits.iter().all(Result::is_ok), "no stream limit without authentication");
}

#[tokio::test]
async fn tenant_policies_are_the_files_over_the_hubs_defaults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("auth.toml");
    let text = format!(
        "{}[tenants.acme]\nmax-agents = 100\nnode-selector = {{ pool = \"acme\" }}\n",
        token_entry("a", "t", "client", "acme")
    );
    std::fs::write(&path, text).expect("write");
    let auth = Authenticator::from_config(&config(&path)).await.expect("authenticator");
    let acme = auth.tenant_policy("acme");
    assert_eq!((acme.max_agents, acme.max_active_runs), (100, 2), "max-active-runs falls back to the hub's");
    assert_eq!(acme.node_selector, BTreeMap::from([("pool".to_owned(), "acme".to_owned())]));
    assert_eq!(
        auth.tenant_policy("other"),
        TenantPolicy { max_agents: 5, max_active_runs: 2, ..TenantPolicy::default() }
    );
    assert_eq!(Authenticator::disabled().tenant_policy("acme"), TenantPolicy::default());
}

#[tokio::test]
async fn a_broken_auth_file_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, "[[token]]\nname = \"a\"\n").expect("write");
    let error = Authenticator::from_config(&config(&path)).await.err().expect("refused").to_string();
    assert!(error.contains(&path.display().to_string()) && error.contains("missing field `sha256`"), "{error}");
}

#[tokio::test]
async fn a_changed_auth_file_is_reloaded_and_a_broken_one_keeps_the_old_tokens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, token_entry("old", "old-token", "viewer", "acme")).expect("write");
    let auth = Authenticator::from_config(&config(&path)).await.expect("authenticator");
    let stop = CancellationToken::new();
    let reloader = auth.spawn_reloader(Duration::from_millis(20), stop.clone());

    std::fs::write(&path, token_entry("new", "new-token", "client", "acme")).expect("rotate");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while auth.authenticate(Some("Bearer new-token")).is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the rotated token was not loaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(auth.authenticate(Some("Bearer old-token")).is_err(), "the removed token no longer works");

    std::fs::write(&path, "this is not toml [").expect("break");
    let broken = auth.reload().await.expect_err("reload refuses the broken file").to_string();
    assert!(broken.contains("invalid auth file"), "{broken}");
    assert_eq!(auth.authenticate(Some("Bearer new-token")).expect("kept").actor, "new");
    stop.cancel();
    reloader.await.expect("the reloader stops");
}
