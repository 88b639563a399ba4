//! HTTPS with axum over `http_listener`, answered to reqwest.

use std::time::Duration;

use agentry_tls::{ServerTls, ServerTlsFiles, TlsPeerAddr, dev};
use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn axum_serves_https_to_a_client_trusting_the_ca() {
    agentry_tls::install_default_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dev::generate(dir.path(), &[], &[], &[]).expect("dev certificates");
    let tls =
        ServerTls::load(ServerTlsFiles { cert: certs.hub_cert.clone(), key: certs.hub_key.clone(), client_ca: None })
            .expect("server TLS");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let tls_listener = tls.http_listener(listener);
    assert_eq!(axum::serve::Listener::local_addr(&tls_listener).expect("address").port(), port);
    let stop = CancellationToken::new();
    let router = Router::new().route("/hello", get(|| async { "hello over TLS" })).route(
        "/peer",
        get(|ConnectInfo(TlsPeerAddr(peer)): ConnectInfo<TlsPeerAddr>| async move { peer.ip().to_string() }),
    );
    let service = router.into_make_service_with_connect_info::<TlsPeerAddr>();
    let shutdown = stop.clone().cancelled_owned();
    let server = tokio::spawn(async move { axum::serve(tls_listener, service).with_graceful_shutdown(shutdown).await });

    let ca = reqwest::Certificate::from_pem(&std::fs::read(&certs.ca).expect("ca")).expect("a PEM CA");
    let client =
        reqwest::Client::builder().add_root_certificate(ca).timeout(Duration::from_secs(5)).build().expect("client");
    for host in ["localhost", "127.0.0.1"] {
        let response = client.get(format!("https://{host}:{port}/hello")).send().await.expect("served over HTTPS");
        assert_eq!(response.version(), reqwest::Version::HTTP_11);
        assert_eq!(response.text().await.expect("body"), "hello over TLS");
    }
    let peer = client.get(format!("https://localhost:{port}/peer")).send().await.expect("served");
    assert_eq!(peer.text().await.expect("body"), "127.0.0.1", "handlers see the caller's address");
    let plaintext = client.get(format!("http://127.0.0.1:{port}/hello")).send().await;
    assert!(plaintext.is_err(), "plaintext is not served: {plaintext:?}");

    stop.cancel();
    server.await.expect("joined").expect("the server ends cleanly");
}
