//! The node reaches an `https://` hub over TLS with its certificate: the hub sees the node's
//! SPIFFE ID on `Join` and on the lease stream (its own connection, on its own thread); bad
//! TLS settings fail the start naming the key and the file.

use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::{Request, Response, Status, Streaming};

use agent_node::heartbeat::{LeaseSettings, hold_lease_on_own_thread};
use agent_node::hub_client::client_tls;
use agent_node::leases::Leases;
use agent_node::metrics::metrics_tls;
use agent_node::{HubClient, NodeConfig, NodeError};
use agentry_core::NodeId;
use agentry_proto::v1 as pb;
use agentry_proto::v1::node_service_server::{NodeService, NodeServiceServer};
use agentry_tls::{ServerTls, ServerTlsFiles, SpiffeId, dev};

/// Bound of every wait: generous, only hit when something is wrong.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A hub that reports the caller's SPIFFE ID of each call: `(rpc, id)`.
#[derive(Clone)]
struct RecordingHub {
    seen: mpsc::UnboundedSender<(&'static str, Option<SpiffeId>)>,
    node_id: NodeId,
}

impl RecordingHub {
    fn see<T>(&self, rpc: &'static str, request: &Request<T>) {
        let id = request.peer_certs().and_then(|certs| certs.first().and_then(agentry_tls::peer_spiffe_id));
        let _ = self.seen.send((rpc, id));
    }
}

type Answers = Pin<Box<dyn Stream<Item = Result<pb::LeaseResponse, Status>> + Send>>;

#[tonic::async_trait]
impl NodeService for RecordingHub {
    async fn join(&self, request: Request<pb::JoinRequest>) -> Result<Response<pb::JoinResponse>, Status> {
        self.see("join", &request);
        Ok(Response::new(pb::JoinResponse {
            node_id: self.node_id.to_string(),
            lease_ttl_ms: 2000,
            heartbeat_interval_ms: 100,
            subject: String::new(),
        }))
    }
    async fn heartbeat(&self, _: Request<pb::HeartbeatRequest>) -> Result<Response<pb::HeartbeatResponse>, Status> {
        Err(Status::unimplemented("heartbeat"))
    }
    async fn load_run(&self, _: Request<pb::LoadRunRequest>) -> Result<Response<pb::LoadRunResponse>, Status> {
        Err(Status::unimplemented("load_run"))
    }
    async fn commit(&self, _: Request<pb::CommitRequest>) -> Result<Response<pb::CommitResponse>, Status> {
        Err(Status::unimplemented("commit"))
    }
    async fn leave(&self, _: Request<pb::LeaveRequest>) -> Result<Response<pb::LeaveResponse>, Status> {
        Err(Status::unimplemented("leave"))
    }
    async fn publish_tokens(
        &self,
        _: Request<pb::PublishTokensRequest>,
    ) -> Result<Response<pb::PublishTokensResponse>, Status> {
        Err(Status::unimplemented("publish_tokens"))
    }

    type LeaseStream = Answers;

    async fn lease(&self, request: Request<Streaming<pb::LeaseRequest>>) -> Result<Response<Answers>, Status> {
        self.see("lease", &request);
        let (answers, answered) = mpsc::channel(1);
        let mut beats = request.into_inner();
        tokio::spawn(async move {
            while let Ok(Some(_beat)) = beats.message().await {
                if answers.send(Ok(pb::LeaseResponse::default())).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(answered))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_presents_its_certificate_on_join_and_on_its_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dev::generate(dir.path(), &[], &["n1".to_owned()], &[]).expect("dev certificates");
    let files =
        ServerTlsFiles { cert: certs.hub_cert.clone(), key: certs.hub_key.clone(), client_ca: Some(certs.ca.clone()) };
    let tls = ServerTls::load(files).expect("hub TLS");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("address"));
    let (seen, mut observed) = mpsc::unbounded_channel();
    let node_id = NodeId::generate();
    let hub = RecordingHub { seen, node_id };
    tokio::spawn(
        Server::builder().add_service(NodeServiceServer::new(hub)).serve_with_incoming(tls.grpc_incoming(listener)),
    );

    let (_, node_cert, node_key) = &certs.nodes[0];
    let config = NodeConfig {
        hub: url.clone(),
        name: "n1".to_owned(),
        tls_ca: Some(certs.ca.clone()),
        tls_cert: Some(node_cert.clone()),
        tls_key: Some(node_key.clone()),
        ..NodeConfig::default()
    };
    let hub_tls = client_tls(&config).expect("the node's TLS settings").expect("an https hub gets TLS");
    let client = HubClient::with_tls(&url, Some(&hub_tls)).expect("client");
    let membership = client.join("n1", 1, &Default::default(), Some(TIMEOUT)).await.expect("joined over TLS");
    assert_eq!(membership.node_id, node_id);
    let next = async |observed: &mut mpsc::UnboundedReceiver<_>| tokio::time::timeout(TIMEOUT, observed.recv()).await;
    assert_eq!(next(&mut observed).await.expect("in time"), Some(("join", Some(SpiffeId::node("n1")))));

    let settings = LeaseSettings {
        hub_url: url,
        tls: client.tls().cloned(),
        node_id,
        interval: membership.heartbeat_interval,
        lease_ttl: membership.lease_ttl,
    };
    let stop = CancellationToken::new();
    let lease =
        tokio::spawn(hold_lease_on_own_thread(settings, Leases::default(), stop.clone(), CancellationToken::new()));
    assert_eq!(next(&mut observed).await.expect("in time"), Some(("lease", Some(SpiffeId::node("n1")))));
    stop.cancel();
    tokio::time::timeout(TIMEOUT, lease).await.expect("the lease ends").expect("joined");
}

#[test]
fn unusable_tls_files_fail_the_start_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dev::generate(dir.path(), &[], &["n1".to_owned()], &[]).expect("dev certificates");
    let missing = dir.path().join("missing-key.pem");
    let config = NodeConfig {
        hub: "https://127.0.0.1:7700".to_owned(),
        tls_ca: Some(certs.ca.clone()),
        tls_cert: Some(certs.nodes[0].1.clone()),
        tls_key: Some(missing.clone()),
        metrics_tls: true,
        ..NodeConfig::default()
    };
    for error in [client_tls(&config).expect_err("hub TLS"), metrics_tls(&config).expect_err("metrics TLS")] {
        let NodeError::Config(invalid) = &error else { panic!("a configuration error: {error:?}") };
        assert_eq!(invalid.key, "tls-key");
        assert!(invalid.reason.contains("missing-key.pem"), "{invalid}");
    }
    let not_a_ca = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_a_ca, "not a certificate").expect("write");
    let wrong_ca = NodeConfig { tls_ca: Some(not_a_ca), tls_key: Some(certs.nodes[0].2.clone()), ..config.clone() };
    let Err(NodeError::Config(invalid)) = client_tls(&wrong_ca) else { panic!("a CA file without a certificate") };
    assert_eq!(invalid.key, "tls-ca");
    assert!(invalid.reason.contains("not-a-ca.pem"), "{invalid}");

    let plaintext = NodeConfig { hub: "http://127.0.0.1:7700".to_owned(), ..NodeConfig::default() };
    assert!(client_tls(&plaintext).expect("plaintext").is_none(), "no TLS for an http:// hub");
    assert!(metrics_tls(&plaintext).expect("plaintext").is_none(), "no TLS without metrics-tls");
}
