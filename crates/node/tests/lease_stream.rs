//! The node's side of the lease stream against a scripted `NodeService` on loopback: beats flow
//! on one stream and revocations stop runs; a stream the hub breaks is reopened at once; a
//! refused beat loses the membership; stopping (or dropping the lease's thread) closes the
//! stream on purpose, which the hub sees as an end, not a failure. Each step waits for what the
//! scripted hub observed, never for a time.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

use agent_node::HubClient;
use agent_node::heartbeat::{LeaseSettings, heartbeat_loop, hold_lease_on_own_thread};
use agent_node::leases::Leases;
use agentry_core::{NodeId, RunId};
use agentry_proto::v1 as pb;
use agentry_proto::v1::node_service_server::{NodeService, NodeServiceServer};

/// Bound of every wait: generous, only hit when something is wrong.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How the scripted hub answers each beat.
#[derive(Clone, Copy)]
enum Script {
    /// Revokes `run`.
    Revoke(RunId),
    /// Answers the first beat of the first stream, then ends that stream with UNAVAILABLE.
    BreakFirstStream,
    /// Refuses every beat: the node is dead.
    Refuse,
}

/// What the scripted hub saw, per stream (numbered from 0).
#[derive(Debug, PartialEq)]
enum Seen {
    Beat {
        stream: usize,
        node_id: String,
        leases: Vec<(String, u64)>,
    },
    /// The node half-closed the stream.
    Closed {
        stream: usize,
    },
    /// The stream failed.
    Broken {
        stream: usize,
    },
}

#[derive(Clone)]
struct ScriptedHub {
    script: Script,
    streams: Arc<AtomicUsize>,
    seen: mpsc::UnboundedSender<Seen>,
}

type Answers = Pin<Box<dyn Stream<Item = Result<pb::LeaseResponse, Status>> + Send>>;

#[tonic::async_trait]
impl NodeService for ScriptedHub {
    async fn join(&self, _: Request<pb::JoinRequest>) -> Result<Response<pb::JoinResponse>, Status> {
        Err(Status::unimplemented("join"))
    }
    async fn heartbeat(&self, _: Request<pb::HeartbeatRequest>) -> Result<Response<pb::HeartbeatResponse>, Status> {
        Err(Status::unimplemented("unary heartbeats are not used"))
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
        let stream = self.streams.fetch_add(1, Ordering::SeqCst);
        let (answers, answered) = mpsc::channel(1);
        let (hub, mut beats) = (self.clone(), request.into_inner());
        tokio::spawn(async move {
            loop {
                let beat = match beats.message().await {
                    Ok(Some(beat)) => beat,
                    Ok(None) => return hub.see(Seen::Closed { stream }),
                    Err(_) => return hub.see(Seen::Broken { stream }),
                };
                let leases = beat.leases.iter().map(|lease| (lease.run_id.clone(), lease.epoch)).collect();
                hub.see(Seen::Beat { stream, node_id: beat.node_id, leases });
                let answer = match hub.script {
                    Script::Revoke(run) => Ok(pb::LeaseResponse { revoked_run_ids: vec![run.to_string()] }),
                    Script::BreakFirstStream => Ok(pb::LeaseResponse::default()),
                    Script::Refuse => Err(Status::failed_precondition("node is dead")),
                };
                let refused = answer.is_err();
                if answers.send(answer).await.is_err() || refused {
                    return;
                }
                if matches!(hub.script, Script::BreakFirstStream) && stream == 0 {
                    let _ = answers.send(Err(Status::unavailable("hub restarting"))).await;
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(answered))))
    }
}

impl ScriptedHub {
    fn see(&self, seen: Seen) {
        let _ = self.seen.send(seen);
    }
}

/// Serves a scripted hub on a loopback port; returns its URL and what it sees.
async fn scripted_hub(script: Script) -> (String, UnboundedReceiverStream<Seen>) {
    let (seen, observed) = mpsc::unbounded_channel();
    let hub = ScriptedHub { script, streams: Arc::default(), seen };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding");
    let url = format!("http://{}", listener.local_addr().expect("the address"));
    let incoming = TcpIncoming::from(listener);
    tokio::spawn(Server::builder().add_service(NodeServiceServer::new(hub)).serve_with_incoming(incoming));
    (url, UnboundedReceiverStream::new(observed))
}

fn settings(url: &str, node_id: NodeId) -> LeaseSettings {
    LeaseSettings {
        hub_url: url.to_owned(),
        tls: None,
        node_id,
        interval: Duration::from_millis(20),
        lease_ttl: Duration::from_secs(2),
    }
}

/// Returns the next thing the scripted hub saw.
async fn next(observed: &mut UnboundedReceiverStream<Seen>) -> Seen {
    use tokio_stream::StreamExt;
    tokio::time::timeout(TIMEOUT, observed.next()).await.expect("the hub saw something in time").expect("the hub runs")
}

#[tokio::test]
async fn beats_carry_the_leases_and_a_revocation_stops_the_run() {
    let run = RunId::generate();
    let (url, mut observed) = scripted_hub(Script::Revoke(run)).await;
    let (node_id, leases) = (NodeId::generate(), Leases::default());
    let revoked = leases.acquire(run, 3);
    let (stop, lost) = (CancellationToken::new(), CancellationToken::new());
    let hub = HubClient::new(&url).expect("a client");
    let settings = settings(&url, node_id);
    let lease = tokio::spawn({
        let (leases, stop, lost) = (leases.clone(), stop.clone(), lost.clone());
        async move { heartbeat_loop(hub, &settings, leases, stop, lost).await }
    });

    let expected = Seen::Beat { stream: 0, node_id: node_id.to_string(), leases: vec![(run.to_string(), 3)] };
    assert_eq!(next(&mut observed).await, expected);
    tokio::time::timeout(TIMEOUT, revoked.cancelled()).await.expect("the revoked run was stopped");
    stop.cancel();
    lease.await.expect("the loop ends when stopped");
    assert!(!lost.is_cancelled());
}

#[tokio::test]
async fn a_stream_the_hub_breaks_is_reopened_and_beats_again() {
    let (url, mut observed) = scripted_hub(Script::BreakFirstStream).await;
    let node_id = NodeId::generate();
    let (stop, lost) = (CancellationToken::new(), CancellationToken::new());
    let settings = settings(&url, node_id);
    let lease = tokio::spawn(hold_lease_on_own_thread(settings, Leases::default(), stop.clone(), lost.clone()));

    assert!(matches!(next(&mut observed).await, Seen::Beat { stream: 0, .. }));
    // The node opens stream 1 and beats on it; the hub sees stream 0 end on its side.
    let mut second_stream_beat = false;
    while !second_stream_beat {
        match next(&mut observed).await {
            Seen::Beat { stream: 1, node_id: beating, .. } => second_stream_beat = beating == node_id.to_string(),
            Seen::Beat { stream: 0, .. } | Seen::Closed { stream: 0 } | Seen::Broken { stream: 0 } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    stop.cancel();
    tokio::time::timeout(TIMEOUT, lease).await.expect("the lease thread ends in time").expect("no panic");
    loop {
        match next(&mut observed).await {
            Seen::Closed { stream: 1 } => break,
            Seen::Beat { stream: 1, .. } | Seen::Closed { stream: 0 } | Seen::Broken { stream: 0 } => {}
            other => panic!("the stopped node closes its stream on purpose, saw {other:?}"),
        }
    }
    assert!(!lost.is_cancelled());
}

#[tokio::test]
async fn a_refused_beat_loses_the_membership_and_revokes_every_run() {
    let (url, mut observed) = scripted_hub(Script::Refuse).await;
    let leases = Leases::default();
    let running = leases.acquire(RunId::generate(), 1);
    let (stop, lost) = (CancellationToken::new(), CancellationToken::new());
    let settings = settings(&url, NodeId::generate());
    let lease = tokio::spawn(hold_lease_on_own_thread(settings, leases, stop.clone(), lost.clone()));

    assert!(matches!(next(&mut observed).await, Seen::Beat { stream: 0, .. }));
    tokio::time::timeout(TIMEOUT, lost.cancelled()).await.expect("the membership is lost");
    assert!(running.is_cancelled(), "every run is stopped");
    tokio::time::timeout(TIMEOUT, lease).await.expect("the lease ends with the membership").expect("no panic");
}

#[tokio::test]
async fn dropping_the_lease_closes_its_stream_on_purpose() {
    let run = RunId::generate();
    let (url, mut observed) = scripted_hub(Script::Revoke(run)).await;
    let (stop, lost) = (CancellationToken::new(), CancellationToken::new());
    let lease =
        tokio::spawn(hold_lease_on_own_thread(settings(&url, NodeId::generate()), Leases::default(), stop, lost));
    assert!(matches!(next(&mut observed).await, Seen::Beat { stream: 0, .. }));

    // Aborting the task drops the future: its thread closes the stream and ends.
    lease.abort();
    loop {
        match next(&mut observed).await {
            Seen::Closed { stream: 0 } => break,
            Seen::Beat { stream: 0, .. } => {}
            other => panic!("expected the stream to be closed on purpose, saw {other:?}"),
        }
    }
}
