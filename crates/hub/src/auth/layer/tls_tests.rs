//! Node identity over real mutual-TLS connections: certificates of `agentry certs dev`
//! ([`agentry_tls::dev`]); the server side of each handshake gives the `TlsConnectInfo` tonic
//! puts into every request of the connection.

use futures::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;
use tonic::transport::server::{Connected, TcpConnectInfo, TlsConnectInfo};

use super::*;

/// Returns the connection info of a TLS connection to a hub trusting `ca` for client
/// certificates, made with the client certificate `cert` and key `key`.
async fn connection(certs: &agentry_tls::dev::DevCerts, cert: &Path, key: &Path) -> TlsConnectInfo<TcpConnectInfo> {
    agentry_tls::install_default_provider();
    let files = agentry_tls::ServerTlsFiles {
        cert: certs.hub_cert.clone(),
        key: certs.hub_key.clone(),
        client_ca: Some(certs.ca.clone()),
    };
    let server = agentry_tls::ServerTls::load(files).expect("server TLS");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let mut incoming = Box::pin(server.grpc_incoming(listener));
    let client = agentry_tls::ClientTls::load(agentry_tls::ClientTlsFiles {
        ca: Some(certs.ca.clone()),
        cert: Some(cert.to_owned()),
        key: Some(key.to_owned()),
    })
    .expect("client TLS");
    let mut config = client.client_config();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(address).await.expect("connect");
    let server_name = ServerName::try_from("localhost").expect("server name");
    let (connected, accepted) = tokio::join!(connector.connect(server_name, tcp), incoming.next());
    let _client = connected.expect("client handshake");
    accepted.expect("a connection").expect("server handshake").connect_info()
}

fn with_tls(path: &str, token: Option<&str>, info: &TlsConnectInfo<TcpConnectInfo>) -> http::Request<()> {
    let mut request = request(path, token);
    request.extensions_mut().insert(info.clone());
    request
}

#[tokio::test]
async fn a_node_certificate_admits_its_node_to_node_service_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = agentry_tls::dev::generate(&dir.path().join("certs"), &[], &["n1".into()], &["cli".into()])
        .expect("dev certificates");
    let (_, node_cert, node_key) = certs.nodes[0].clone();
    let node = connection(&certs, &node_cert, &node_key).await;
    let auth = authenticator(dir.path(), 0, 1).await;
    let mut harness = Harness::<tonic::body::Body>::new(auth, Protocol::Grpc, true);

    let joined = harness.call(with_tls("/agentry.v1.NodeService/Join", None, &node)).await;
    assert_eq!(grpc_code(&joined), Code::Ok);
    assert_eq!(harness.last_seen().and_then(|seen| seen.peer), Some(NodePeer { name: "n1".into() }));
    let records = harness.records();
    assert_eq!((records[0].actor.as_str(), records[0].action.as_str()), ("node:n1", "Join"));
    assert!(records[0].source.starts_with("127.0.0.1:"), "{}", records[0].source);

    let refused = harness.call(with_tls(SPAWN, None, &node)).await;
    let outcome = audit::context::grpc_outcome(&refused);
    assert_eq!((outcome.code, outcome.message.as_str()), (Code::PermissionDenied, "nodes may call NodeService only"));
    let with_token = harness.call(with_tls(SPAWN, Some("client-token"), &node)).await;
    assert_eq!(grpc_code(&with_token), Code::Ok, "a token on the connection authenticates as usual");

    // Routine node calls are audited only when the handler refuses them as another node's.
    harness.records();
    let heartbeat = "/agentry.v1.NodeService/Heartbeat";
    assert_eq!(grpc_code(&harness.call(with_tls(heartbeat, None, &node)).await), Code::Ok);
    let mut posing = with_tls(heartbeat, None, &node);
    posing.headers_mut().insert("x-answer", http::HeaderValue::from_static("7"));
    assert_eq!(grpc_code(&harness.call(posing).await), Code::PermissionDenied);
    let records = harness.records();
    let summary: Vec<_> = records.iter().map(|record| (record.action.as_str(), record.outcome.as_str())).collect();
    assert_eq!(summary, [("Heartbeat", "PERMISSION_DENIED")]);
}

#[tokio::test]
async fn a_client_certificate_is_no_node_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certs =
        agentry_tls::dev::generate(&dir.path().join("certs"), &[], &[], &["cli".into()]).expect("dev certificates");
    let (_, client_cert, client_key) = certs.clients[0].clone();
    let client = connection(&certs, &client_cert, &client_key).await;
    let mut harness = Harness::<tonic::body::Body>::new(authenticator(dir.path(), 0, 1).await, Protocol::Grpc, true);
    let refused = harness.call(with_tls("/agentry.v1.NodeService/Heartbeat", None, &client)).await;
    let outcome = audit::context::grpc_outcome(&refused);
    assert_eq!(outcome.code, Code::PermissionDenied);
    assert!(outcome.message.starts_with("the client certificate names spiffe://agentry/client/cli, not a node"));
    assert!(harness.last_seen().is_none());
}
