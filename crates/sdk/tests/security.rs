//! The client's tokens and TLS against a stand-in hub ([`echo_hub::EchoHub`]): every call,
//! health checks and a followed trace's reconnections included, carries the bearer token; a
//! refusal is its own error; TLS works with the right CA and fails clearly with the wrong one
//! or with a plaintext/TLS mismatch. End-to-end tests against the real hub live in the hub's
//! and test-util's suites.

mod echo_hub;

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use agentry_sdk::proto::TraceRequest;
use agentry_sdk::tls::dev::generate;
use agentry_sdk::tls::{ClientTls, ClientTlsFiles, ServerTls, ServerTlsFiles};
use agentry_sdk::{Client, ClientError, ClientOptions, FollowOptions, Health};
use echo_hub::EchoHub;

const WHO_AM_I: &str = "/agentry.v1.AgentHub/WhoAmI";

#[tokio::test]
async fn every_call_carries_the_token_and_a_followed_trace_keeps_it() {
    let hub = EchoHub::default();
    let stop = CancellationToken::new();
    let url = hub.serve(None, stop.clone()).await;

    let client = Client::builder(url.clone()).token("t0k3n").connect().await.expect("connects");
    assert_eq!(client.who_am_i().await.expect("answered").actor, "Bearer t0k3n");
    assert_eq!(client.health("").await.expect("health"), Health::Serving);

    // The stand-in hub refuses the first Trace call as a restarting hub would: the stream
    // reopens it, with the same credentials.
    let options = FollowOptions { backoff_start: Duration::from_millis(10), ..FollowOptions::default() };
    let request = TraceRequest { run_id: "r1".into(), follow: true, ..TraceRequest::default() };
    let events: Vec<_> = client.follow_trace_with(request, options).collect().await;
    let kinds: Vec<_> = events.into_iter().map(|event| event.expect("an event").r#type).collect();
    assert_eq!(kinds, ["run_finished"]);

    let seen = hub.seen();
    let traces: Vec<_> = seen.iter().filter(|(path, _)| path.ends_with("/Trace")).collect();
    assert_eq!(traces.len(), 2, "refused once, then reopened: {seen:?}");
    let agent_hub_calls = seen.iter().filter(|(path, _)| path.starts_with("/agentry.v1.AgentHub/"));
    for (path, authorization) in agent_hub_calls {
        assert_eq!(authorization.as_deref(), Some("Bearer t0k3n"), "{path}");
    }
    let health = seen.iter().find(|(path, _)| path.starts_with("/grpc.health")).expect("the health call");
    assert_eq!(health.1.as_deref(), Some("Bearer t0k3n"));

    let anonymous = Client::connect(url).await.expect("connects");
    assert_eq!(anonymous.who_am_i().await.expect("answered").actor, "-", "no token: no header");
    stop.cancel();
}

#[tokio::test]
async fn a_refused_token_is_its_own_error_with_the_hubs_message() {
    let hub = EchoHub::requiring_token();
    let stop = CancellationToken::new();
    let url = hub.serve(None, stop.clone()).await;
    let client = Client::connect(url.clone()).await.expect("connects");
    let error = client.who_am_i().await.expect_err("no token");
    assert!(matches!(error, ClientError::Unauthenticated { .. }), "{error:?}");
    assert_eq!(error.code(), Some(tonic::Code::Unauthenticated));
    assert_eq!(error.to_string(), format!("unauthenticated: a bearer token is required (hub {url})"));
    assert!(!error.is_unreachable() && !error.is_unavailable());

    let with_token = client.with_token("ok").expect("a valid token");
    assert_eq!(with_token.who_am_i().await.expect("accepted").actor, "Bearer ok");
    let invalid = Client::connect_with(url, ClientOptions { token: Some("two words".into()), tls: None }).await;
    assert!(matches!(invalid, Err(ClientError::InvalidToken { .. })), "{invalid:?}");
    stop.cancel();
}

/// Writes a CA with a hub certificate to `dir` and returns the hub's TLS.
fn hub_tls(dir: &Path) -> (ServerTls, std::path::PathBuf) {
    let certs = generate(dir, &[], &[], &[]).expect("certificates");
    let files = ServerTlsFiles { cert: certs.hub_cert, key: certs.hub_key, client_ca: None };
    (ServerTls::load(files).expect("hub TLS"), certs.ca)
}

fn trusting(ca: &Path) -> ClientTls {
    ClientTls::load(ClientTlsFiles { ca: Some(ca.to_owned()), cert: None, key: None }).expect("client TLS")
}

#[tokio::test]
async fn tls_works_with_the_hubs_ca_and_fails_clearly_otherwise() {
    agentry_sdk::tls::install_default_provider();
    let directory = tempfile::tempdir().expect("tempdir");
    let (tls, ca) = hub_tls(&directory.path().join("hub"));
    let (_, other_ca) = hub_tls(&directory.path().join("other"));
    let hub = EchoHub::default();
    let stop = CancellationToken::new();
    let url = hub.serve(Some(&tls), stop.clone()).await;

    let client = Client::builder(url.clone()).token("over-tls").tls(trusting(&ca)).connect().await.expect("TLS");
    assert_eq!(client.who_am_i().await.expect("answered").actor, "Bearer over-tls");
    assert_eq!(client.health("").await.expect("health over TLS"), Health::Serving);

    let error = Client::builder(url.clone()).tls(trusting(&other_ca)).connect().await.expect_err("wrong CA");
    let ClientError::Tls { url: failed_url, reason } = &error else { panic!("a TLS error: {error:?}") };
    assert_eq!(failed_url, &url);
    // The other CA has the same name, so rustls checks its signature (and fails) rather than
    // finding no issuer: either way the reason says the CA is not the trusted one.
    assert!(reason.contains("CA this client trusts"), "{reason}");
    assert!(!error.is_unreachable() && !error.is_unavailable(), "a configuration error, not an outage");

    // A plaintext client of a TLS hub: the hub's answer is no HTTP/2.
    let plaintext_url = url.replacen("https://", "http://", 1);
    let outcome = match Client::connect(plaintext_url.clone()).await {
        Ok(client) => client.who_am_i().await.map(|_| ()),
        Err(error) => Err(error),
    };
    let error = outcome.expect_err("plaintext to a TLS hub");
    assert!(matches!(error, ClientError::Tls { .. } | ClientError::Unreachable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&plaintext_url), "{message}");
    assert!(message.contains("https://"), "says to use TLS: {message}");
    assert_eq!(hub.seen().iter().filter(|(path, _)| path == WHO_AM_I).count(), 1, "only the TLS call got through");
    stop.cancel();
}

#[tokio::test]
async fn a_tls_client_of_a_plaintext_hub_is_told_to_use_http() {
    agentry_sdk::tls::install_default_provider();
    let directory = tempfile::tempdir().expect("tempdir");
    let (_, ca) = hub_tls(directory.path());
    let hub = EchoHub::default();
    let stop = CancellationToken::new();
    let url = hub.serve(None, stop.clone()).await;
    let secure_url = url.replacen("http://", "https://", 1);
    let error = Client::builder(secure_url.clone()).tls(trusting(&ca)).connect().await.expect_err("no TLS there");
    assert!(matches!(error, ClientError::Tls { .. }), "{error:?}");
    assert!(error.to_string().contains(&secure_url) && error.to_string().contains("http://"), "{error}");
    stop.cancel();
}
