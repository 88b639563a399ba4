//! Shared by the TLS tests: a tonic health server over `grpc_incoming` that records the SPIFFE
//! ID of each caller, clients, and raw handshakes that return the server's leaf certificate.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_tls::{ClientTls, ClientTlsFiles, ServerTls, SpiffeId, peer_spiffe_id};
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// What the server saw of each call: the SPIFFE ID of the caller's certificate, if any.
pub type Callers = Arc<Mutex<Vec<Option<SpiffeId>>>>;

/// A running health server; stopped on drop.
pub struct Server {
    pub address: SocketAddr,
    pub callers: Callers,
    stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Server {
    /// Returns `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.address.port())
    }
}

/// Serves tonic-health on 127.0.0.1:0 over `tls`.
pub async fn serve(tls: &ServerTls) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (_reporter, health) = tonic_health::server::health_reporter();
    let callers = Callers::default();
    let seen = callers.clone();
    let recorded = tonic::service::interceptor::InterceptedService::new(health, move |request: tonic::Request<()>| {
        let info = request.extensions().get::<TlsConnectInfo<TcpConnectInfo>>();
        assert!(info.is_some(), "tonic puts the TLS connect info in the extensions");
        let leaf = info.and_then(TlsConnectInfo::peer_certs).and_then(|certs| certs.first().cloned());
        seen.lock().expect("lock").push(leaf.as_ref().and_then(peer_spiffe_id));
        Ok(request)
    });
    let stop = CancellationToken::new();
    let incoming = tls.grpc_incoming(listener);
    let shutdown = stop.clone().cancelled_owned();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(recorded)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .expect("the server runs");
    });
    Server { address, callers, stop }
}

/// Returns the client settings of these files.
pub fn client(ca: &Path, identity: Option<(&Path, &Path)>) -> ClientTls {
    ClientTls::load(ClientTlsFiles {
        ca: Some(ca.to_owned()),
        cert: identity.map(|(cert, _)| cert.to_owned()),
        key: identity.map(|(_, key)| key.to_owned()),
    })
    .expect("client TLS")
}

/// Calls `Health/Check` at `url` with `tls` over a channel connected eagerly.
pub async fn check(url: &str, tls: Option<&ClientTls>) -> anyhow::Result<()> {
    let endpoint = Endpoint::from_shared(url.to_owned())?.connect_timeout(Duration::from_secs(5));
    let channel = agentry_tls::connect(endpoint, tls).await.map_err(|error| anyhow::anyhow!(chain(&error)))?;
    let mut client = HealthClient::new(channel);
    let request = tonic::Request::new(HealthCheckRequest { service: String::new() });
    let answer = tokio::time::timeout(Duration::from_secs(5), client.check(request))
        .await?
        .map_err(|status| anyhow::anyhow!(chain(&status)))?;
    anyhow::ensure!(answer.into_inner().status == 1, "not SERVING");
    Ok(())
}

/// Calls `Health/Check` over a lazy [`agentry_tls::channel`].
pub async fn check_lazy(url: &str, tls: Option<&ClientTls>) -> anyhow::Result<()> {
    let endpoint = Endpoint::from_shared(url.to_owned())?;
    let mut client = HealthClient::new(agentry_tls::channel(endpoint, tls)?);
    let request = tonic::Request::new(HealthCheckRequest { service: String::new() });
    tokio::time::timeout(Duration::from_secs(5), client.check(request))
        .await?
        .map_err(|status| anyhow::anyhow!(chain(&status)))?;
    Ok(())
}

/// Handshakes with the server at `address` as `localhost`, trusting the CAs in `ca_files`,
/// and returns the leaf certificate it presented.
pub async fn handshake_leaf(address: SocketAddr, ca_files: &[&Path]) -> anyhow::Result<CertificateDer<'static>> {
    let mut roots = RootCertStore::empty();
    for ca in ca_files {
        roots.add_parsable_certificates(agentry_tls::read_certificates(ca)?);
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(address).await?;
    let tls = connector.connect(ServerName::try_from("localhost")?, tcp).await?;
    let leaf = tls.get_ref().1.peer_certificates().and_then(|certs| certs.first()).cloned();
    leaf.ok_or_else(|| anyhow::anyhow!("no server certificate"))
}

/// Returns the first certificate of the PEM file `path`.
pub fn leaf_of(path: &Path) -> CertificateDer<'static> {
    agentry_tls::read_certificates(path).expect("certificate").remove(0)
}

/// Returns `error` and its sources, joined by `: `.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
