//! `Client::follow_trace` over the wire against a scripted `AgentHub`: each `Trace` call sends
//! part of an event log and then breaks, closes or hangs as scripted, and a TCP proxy between
//! client and hub can cut the connections (a hub killed, a network drop). The stream must
//! resume after the last `seq` it yielded, with no gap and no repeat.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{StreamExt, stream};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

use agentry_sdk::proto::agent_hub_server::{AgentHub, AgentHubServer};
use agentry_sdk::proto::{self as pb, TraceEvent, TraceRequest, TraceResponse};
use agentry_sdk::{Client, ClientError, FollowOptions};

/// Fails a test that would otherwise hang.
const DEADLINE: Duration = Duration::from_secs(10);

/// What one `Trace` call does.
#[derive(Debug, Clone)]
enum Call {
    /// Refuses the call.
    Refuse(Code),
    /// Sends the log's events after `after_seq - overlap` (so `overlap` events again), at most
    /// `count` of them, then ends as `then`.
    Serve { overlap: u64, count: usize, then: End },
}

#[derive(Debug, Clone)]
enum End {
    /// Ends the stream with this status.
    Status(Code),
    /// Ends the stream cleanly.
    Close,
    /// Keeps the stream open without sending more.
    Hang,
}

/// Serves everything after `after_seq`, then keeps the stream open, like a following hub.
const SERVE_ALL: Call = Call::Serve { overlap: 0, count: usize::MAX, then: End::Hang };

/// An `AgentHub` whose `Trace` calls follow a script (then `otherwise`), recording each
/// call's `after_seq`.
struct ScriptedHub {
    log: Vec<TraceEvent>,
    script: Mutex<VecDeque<Call>>,
    otherwise: Call,
    after_seqs: Arc<Mutex<Vec<u64>>>,
}

type Unary<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl AgentHub for ScriptedHub {
    type TraceStream = BoxStream<'static, Result<TraceResponse, Status>>;

    async fn trace(&self, request: Request<TraceRequest>) -> Unary<Self::TraceStream> {
        let after_seq = request.into_inner().after_seq;
        self.after_seqs.lock().unwrap().push(after_seq);
        let call = self.script.lock().unwrap().pop_front().unwrap_or_else(|| self.otherwise.clone());
        let Call::Serve { overlap, count, then } = call else {
            let Call::Refuse(code) = call else { unreachable!() };
            return Err(Status::new(code, "scripted refusal"));
        };
        let from = after_seq.saturating_sub(overlap);
        let events: Vec<Result<TraceResponse, Status>> = self
            .log
            .iter()
            .filter(|event| event.seq > from)
            .take(count)
            .map(|event| Ok(TraceResponse { event: Some(event.clone()) }))
            .collect();
        let tail = match then {
            End::Status(code) => stream::once(async move { Err(Status::new(code, "scripted break")) }).boxed(),
            End::Close => stream::empty().boxed(),
            End::Hang => stream::pending().boxed(),
        };
        Ok(Response::new(stream::iter(events).chain(tail).boxed()))
    }

    async fn spawn(&self, _: Request<pb::SpawnRequest>) -> Unary<pb::SpawnResponse> {
        Err(Status::unimplemented("spawn"))
    }
    async fn send_message(&self, _: Request<pb::SendMessageRequest>) -> Unary<pb::SendMessageResponse> {
        Err(Status::unimplemented("send_message"))
    }
    async fn get_agent(&self, _: Request<pb::GetAgentRequest>) -> Unary<pb::GetAgentResponse> {
        Err(Status::unimplemented("get_agent"))
    }
    async fn list_agents(&self, _: Request<pb::ListAgentsRequest>) -> Unary<pb::ListAgentsResponse> {
        Err(Status::unimplemented("list_agents"))
    }
    async fn get_run(&self, _: Request<pb::GetRunRequest>) -> Unary<pb::GetRunResponse> {
        Err(Status::unimplemented("get_run"))
    }
    async fn list_nodes(&self, _: Request<pb::ListNodesRequest>) -> Unary<pb::ListNodesResponse> {
        Err(Status::unimplemented("list_nodes"))
    }
    async fn cordon_node(&self, _: Request<pb::CordonNodeRequest>) -> Unary<pb::CordonNodeResponse> {
        Err(Status::unimplemented("cordon_node"))
    }
    async fn uncordon_node(&self, _: Request<pb::UncordonNodeRequest>) -> Unary<pb::UncordonNodeResponse> {
        Err(Status::unimplemented("uncordon_node"))
    }
    async fn drain_node(&self, _: Request<pb::DrainNodeRequest>) -> Unary<pb::DrainNodeResponse> {
        Err(Status::unimplemented("drain_node"))
    }
    async fn cancel_run(&self, _: Request<pb::CancelRunRequest>) -> Unary<pb::CancelRunResponse> {
        Err(Status::unimplemented("cancel_run"))
    }
    async fn pause_run(&self, _: Request<pb::PauseRunRequest>) -> Unary<pb::PauseRunResponse> {
        Err(Status::unimplemented("pause_run"))
    }
    async fn resume_run(&self, _: Request<pb::ResumeRunRequest>) -> Unary<pb::ResumeRunResponse> {
        Err(Status::unimplemented("resume_run"))
    }
    async fn get_cost(&self, _: Request<pb::GetCostRequest>) -> Unary<pb::GetCostResponse> {
        Err(Status::unimplemented("get_cost"))
    }
    async fn approve(&self, _: Request<pb::ApproveRequest>) -> Unary<pb::ApproveResponse> {
        Err(Status::unimplemented("approve"))
    }
    async fn list_approvals(&self, _: Request<pb::ListApprovalsRequest>) -> Unary<pb::ListApprovalsResponse> {
        Err(Status::unimplemented("list_approvals"))
    }
    async fn import_trace(&self, _: Request<pb::ImportTraceRequest>) -> Unary<pb::ImportTraceResponse> {
        Err(Status::unimplemented("import_trace"))
    }
    async fn list_templates(&self, _: Request<pb::ListTemplatesRequest>) -> Unary<pb::ListTemplatesResponse> {
        Err(Status::unimplemented("list_templates"))
    }
    async fn fork(&self, _: Request<pb::ForkRequest>) -> Unary<pb::ForkResponse> {
        Err(Status::unimplemented("fork"))
    }
    async fn list_messages(&self, _: Request<pb::ListMessagesRequest>) -> Unary<pb::ListMessagesResponse> {
        Err(Status::unimplemented("list_messages"))
    }
    async fn get_tree(&self, _: Request<pb::GetTreeRequest>) -> Unary<pb::GetTreeResponse> {
        Err(Status::unimplemented("get_tree"))
    }

    async fn list_audit(&self, _: Request<pb::ListAuditRequest>) -> Unary<pb::ListAuditResponse> {
        Err(Status::unimplemented("list_audit"))
    }

    async fn who_am_i(&self, _: Request<pb::WhoAmIRequest>) -> Unary<pb::WhoAmIResponse> {
        Err(Status::unimplemented("who_am_i"))
    }
}

/// A running scripted hub behind a proxy that can cut every connection.
struct Harness {
    client: Client,
    after_seqs: Arc<Mutex<Vec<u64>>>,
    proxy: Proxy,
    _hub: JoinHandle<()>,
}

impl Harness {
    async fn start(log: Vec<TraceEvent>, script: Vec<Call>, otherwise: Call) -> Self {
        let after_seqs = Arc::new(Mutex::new(Vec::new()));
        let hub = ScriptedHub { log, script: Mutex::new(script.into()), otherwise, after_seqs: after_seqs.clone() };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hub_address = listener.local_addr().unwrap();
        let server = Server::builder().add_service(AgentHubServer::new(hub));
        let hub_task = tokio::spawn(async move {
            server.serve_with_incoming(TcpIncoming::from(listener)).await.unwrap();
        });
        let proxy = Proxy::start(hub_address).await;
        let client = Client::connect(format!("http://{}", proxy.address)).await.unwrap();
        Self { client, after_seqs, proxy, _hub: hub_task }
    }

    fn after_seqs(&self) -> Vec<u64> {
        self.after_seqs.lock().unwrap().clone()
    }
}

/// A TCP proxy whose connections can be cut (their sockets dropped) while it keeps accepting.
struct Proxy {
    address: SocketAddr,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepted = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut downstream, _)) = listener.accept().await {
                let connection = tokio::spawn(async move {
                    let mut upstream = TcpStream::connect(upstream).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await;
                });
                accepted.lock().unwrap().push(connection);
            }
        });
        Self { address, connections, accept }
    }

    /// Drops every open connection, as a killed hub or a network failure would.
    fn cut(&self) {
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

fn event(seq: u64, kind: &str) -> TraceEvent {
    TraceEvent {
        seq,
        r#type: kind.to_owned(),
        agent_id: "a1".to_owned(),
        run_id: "r1".to_owned(),
        data: "{}".to_owned(),
        ..TraceEvent::default()
    }
}

/// A run's events, seq 1 to 6.
fn run_log() -> Vec<TraceEvent> {
    ["run_started", "step_start", "model_start", "usage", "final", "run_finished"]
        .iter()
        .zip(1..)
        .map(|(kind, seq)| event(seq, kind))
        .collect()
}

fn follow_run() -> TraceRequest {
    TraceRequest { run_id: "r1".to_owned(), follow: true, ..TraceRequest::default() }
}

fn fast() -> FollowOptions {
    FollowOptions {
        give_up_after: Duration::from_secs(5),
        backoff_start: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        end_on_pause: false,
    }
}

/// Collects the stream to its end: events, then the error that ended it, if any.
async fn collect(mut events: agentry_sdk::TraceStream) -> (Vec<TraceEvent>, Option<ClientError>) {
    let mut received = Vec::new();
    let collecting = async {
        while let Some(item) = events.next().await {
            match item {
                Ok(event) => received.push(event),
                Err(error) => {
                    assert!(events.next().await.is_none(), "an error is the last item");
                    return Some(error);
                }
            }
        }
        None
    };
    let error = tokio::time::timeout(DEADLINE, collecting).await.expect("the trace did not end in time");
    (received, error)
}

fn seqs(events: &[TraceEvent]) -> Vec<u64> {
    events.iter().map(|event| event.seq).collect()
}

#[tokio::test]
async fn breaks_refusals_and_replays_are_resumed_without_gaps_or_repeats() {
    let script = vec![
        // Two events, then the hub goes away (`unavailable`, as a hub shutting down sends).
        Call::Serve { overlap: 0, count: 2, then: End::Status(Code::Unavailable) },
        // Still restarting.
        Call::Refuse(Code::Unavailable),
        // Replays two events already yielded, one new, then ends without the run's end.
        Call::Serve { overlap: 2, count: 3, then: End::Close },
        // Replays one more than asked, then the rest.
        Call::Serve { overlap: 1, count: usize::MAX, then: End::Hang },
    ];
    let harness = Harness::start(run_log(), script, Call::Refuse(Code::Internal)).await;
    let (events, error) = collect(harness.client.follow_trace_with(follow_run(), fast())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(seqs(&events), [1, 2, 3, 4, 5, 6]);
    assert_eq!(events.last().unwrap().r#type, "run_finished", "ends at the run's end, though the hub hangs");
    assert_eq!(harness.after_seqs(), [0, 2, 2, 3]);
}

#[tokio::test]
async fn a_cut_connection_is_reopened_after_the_last_seq() {
    let script = vec![Call::Serve { overlap: 0, count: 3, then: End::Hang }];
    let harness = Harness::start(run_log(), script, SERVE_ALL).await;
    let mut events = harness.client.follow_trace_with(follow_run(), fast());
    let mut received = Vec::new();
    while received.len() < 3 {
        let next = tokio::time::timeout(DEADLINE, events.next()).await.expect("stalled");
        received.push(next.expect("an event").expect("no error"));
    }
    harness.proxy.cut();
    let (rest, error) = collect(events).await;
    assert!(error.is_none(), "{error:?}");
    received.extend(rest);
    assert_eq!(seqs(&received), [1, 2, 3, 4, 5, 6]);
    assert_eq!(harness.after_seqs(), [0, 3]);
}

#[tokio::test]
async fn an_unavailable_hub_is_given_up_after_the_window() {
    let harness = Harness::start(run_log(), vec![], Call::Refuse(Code::Unavailable)).await;
    let options = FollowOptions { give_up_after: Duration::from_millis(300), ..fast() };
    let started = Instant::now();
    let (events, error) = collect(harness.client.follow_trace_with(follow_run(), options)).await;
    let waited = started.elapsed();
    assert!(events.is_empty());
    let error = error.expect("gave up");
    assert!(matches!(error, ClientError::TraceInterrupted { last_seq: 0, .. }), "{error:?}");
    assert_eq!(error.code(), Some(Code::Unavailable));
    assert!(error.to_string().starts_with("trace interrupted after seq 0; gave up reconnecting after 0.3s"), "{error}");
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(3), "{waited:?}");
    assert!(harness.after_seqs().len() >= 3, "retried: {:?}", harness.after_seqs());
}

#[tokio::test]
async fn a_refused_trace_ends_at_once() {
    let harness = Harness::start(run_log(), vec![], Call::Refuse(Code::NotFound)).await;
    let (events, error) = collect(harness.client.follow_trace_with(follow_run(), fast())).await;
    assert!(events.is_empty());
    assert_eq!(error.expect("refused").code(), Some(Code::NotFound));
    assert_eq!(harness.after_seqs(), [0], "no retry");
}

fn paused_log() -> Vec<TraceEvent> {
    ["run_started", "run_paused", "run_resumed", "run_started", "run_finished"]
        .iter()
        .zip(1..)
        .map(|(kind, seq)| event(seq, kind))
        .collect()
}

#[tokio::test]
async fn a_paused_run_is_followed_until_it_ends() {
    // The hub ends the stream at `run_paused`; the follower reopens at once (no backoff: the
    // first one would outlast the deadline) and sees the run resumed and finished.
    let script = vec![Call::Serve { overlap: 0, count: 2, then: End::Close }];
    let harness = Harness::start(paused_log(), script, SERVE_ALL).await;
    let options = FollowOptions { backoff_start: DEADLINE * 2, backoff_max: DEADLINE * 2, ..fast() };
    let (events, error) = collect(harness.client.follow_trace_with(follow_run(), options)).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(seqs(&events), [1, 2, 3, 4, 5]);
    assert_eq!(harness.after_seqs(), [0, 2]);

    let harness = Harness::start(paused_log(), vec![], SERVE_ALL).await;
    let options = FollowOptions { end_on_pause: true, ..fast() };
    let (events, error) = collect(harness.client.follow_trace_with(follow_run(), options)).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(seqs(&events), [1, 2], "end_on_pause stops at run_paused");
}

#[tokio::test]
async fn without_follow_the_backlog_is_replayed_once() {
    let replay = TraceRequest { agent_id: "a1".to_owned(), after_seq: 3, ..TraceRequest::default() };
    let done = Call::Serve { overlap: 0, count: usize::MAX, then: End::Close };
    let harness = Harness::start(run_log(), vec![], done).await;
    let (events, error) = collect(harness.client.follow_trace_with(replay.clone(), fast())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(seqs(&events), [4, 5, 6]);

    let broken = Call::Serve { overlap: 0, count: 1, then: End::Status(Code::Unavailable) };
    let harness = Harness::start(run_log(), vec![broken], SERVE_ALL).await;
    let (events, error) = collect(harness.client.follow_trace_with(replay, fast())).await;
    assert_eq!(seqs(&events), [4]);
    assert_eq!(error.expect("not retried").code(), Some(Code::Unavailable));
    assert_eq!(harness.after_seqs(), [3]);
}
