//! gRPC over `grpc_incoming`: who gets through the handshake, and what the server learns of
//! the caller's certificate.

mod common;

use agentry_tls::dev::{self, DevCerts};
use agentry_tls::{ServerTls, ServerTlsFiles, SpiffeId};

fn certs(dir: &std::path::Path) -> DevCerts {
    dev::generate(dir, &[], &["n1".to_owned()], &["ci".to_owned()]).expect("dev certificates")
}

fn server_tls(certs: &DevCerts, mutual: bool) -> ServerTls {
    ServerTls::load(ServerTlsFiles {
        cert: certs.hub_cert.clone(),
        key: certs.hub_key.clone(),
        client_ca: mutual.then(|| certs.ca.clone()),
    })
    .expect("server TLS")
}

#[tokio::test]
async fn a_client_trusting_the_ca_gets_through_and_others_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = certs(dir.path());
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = certs_of_another_ca(other_dir.path());
    let server = common::serve(&server_tls(&certs, false)).await;

    let trusting = common::client(&certs.ca, None);
    common::check(&server.url(), Some(&trusting)).await.expect("a client trusting the CA is served");
    common::check_lazy(&server.url(), Some(&trusting)).await.expect("a lazy channel too");
    let by_name = server.url().replace("127.0.0.1", "localhost");
    common::check(&by_name, Some(&trusting)).await.expect("a DNS name in the certificate is served");

    let plaintext = server.url().replace("https://", "http://");
    assert!(common::check(&plaintext, None).await.is_err(), "a plaintext client is not served");

    let wrong_ca = common::client(&other.ca, None);
    let error = common::check(&server.url(), Some(&wrong_ca)).await.expect_err("a client trusting another CA fails");
    assert!(error.to_string().to_lowercase().contains("certificate"), "{error}");
    assert_eq!(server.callers.lock().expect("lock").len(), 3, "only the trusting client's calls arrived");
}

#[tokio::test]
async fn with_a_client_ca_the_server_sees_the_callers_spiffe_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = certs(dir.path());
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = certs_of_another_ca(other_dir.path());
    let server = common::serve(&server_tls(&certs, true)).await;

    let (_, node_cert, node_key) = &certs.nodes[0];
    let node = common::client(&certs.ca, Some((node_cert, node_key)));
    assert!(node.has_client_certificate());
    common::check(&server.url(), Some(&node)).await.expect("a node with its certificate is served");
    let (_, client_cert, client_key) = &certs.clients[0];
    let cli = common::client(&certs.ca, Some((client_cert, client_key)));
    common::check(&server.url(), Some(&cli)).await.expect("a client with its certificate is served");
    let anonymous = common::client(&certs.ca, None);
    common::check(&server.url(), Some(&anonymous)).await.expect("a certificate is optional at the handshake");
    assert_eq!(
        *server.callers.lock().expect("lock"),
        vec![Some(SpiffeId::node("n1")), Some(SpiffeId::client("ci")), None]
    );

    let (_, foreign_cert, foreign_key) = &other.nodes[0];
    let foreign = common::client(&certs.ca, Some((foreign_cert, foreign_key)));
    let error = common::check(&server.url(), Some(&foreign)).await.expect_err("a foreign client certificate fails");
    assert!(error.to_string().contains("alert"), "refused at the handshake: {error}");
    assert_eq!(server.callers.lock().expect("lock").len(), 3, "the foreign caller never got a call in");
}

#[tokio::test]
async fn https_without_client_settings_uses_the_system_roots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = certs(dir.path());
    let server = common::serve(&server_tls(&certs, false)).await;
    // The dev CA is in no system store: the handshake fails, with a reason.
    let error = common::check(&server.url(), None).await.expect_err("an unknown CA fails");
    assert!(error.to_string().to_lowercase().contains("certificate"), "{error}");
    assert!(server.callers.lock().expect("lock").is_empty());
}

fn certs_of_another_ca(dir: &std::path::Path) -> DevCerts {
    dev::generate(dir, &[], &["n1".to_owned()], &[]).expect("dev certificates of another CA")
}
