//! Fuzz target `hub_requests` (see fuzz/README.md), live part: client requests sent to a running
//! hub (SQLite in memory, no node) over gRPC — `Spawn`, `SendMessage`, `Fork`, `ImportTrace`
//! and the other unary calls, generated and from the corpus — and mutated JSON bodies posted to
//! its Connect gateway. Every answer must be a status a client can act on (OK, or a refusal
//! such as INVALID_ARGUMENT or NOT_FOUND); no task of the hub may panic (a panic hook records
//! those of its threads), no call may hang, and no answer may be INTERNAL, UNKNOWN or a broken
//! connection.

#[path = "../../../fuzz/support/harness.rs"]
mod harness;
#[path = "../../../fuzz/support/proto.rs"]
mod proto;

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, PoisonError};
use std::time::Duration;

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tonic::Code;

use agentry_proto::v1 as pb;
use prost::Message;

use common::TestHub;
use harness::{Found, edge_u32, edge_u64, id_text, text};

const TARGET: &str = "hub_requests";

/// The corpus's placeholder agent and run ids, replaced by ones the hub knows.
const CORPUS_AGENT: &str = "0193a4f2-6c1e-7d3a-9b8e-2f1c0d4e5a6b";
const CORPUS_RUN: &str = "0193a4f2-6c1e-7d3a-9b8e-2f1c0d4e5a6c";

/// Longest a call may take before it counts as hung.
const CALL_DEADLINE: Duration = Duration::from_secs(20);

/// Answers that refuse a request properly; anything else (INTERNAL, UNKNOWN: a handler panic
/// resets the stream; UNAVAILABLE: the connection broke) fails the case.
const REFUSALS: &[Code] = &[
    Code::InvalidArgument,
    Code::NotFound,
    Code::FailedPrecondition,
    Code::ResourceExhausted,
    Code::AlreadyExists,
    Code::OutOfRange,
    Code::Aborted,
];

/// Panics of the hub's threads (tokio workers named `fuzz-hub-N`, SQLite workers).
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record_hub_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or_default();
            if name.starts_with("fuzz-hub-") || name.starts_with("sqlx-sqlite-worker") {
                PANICS.lock().unwrap_or_else(PoisonError::into_inner).push(format!("thread {name}: {info}"));
            }
            previous(info);
        }));
    });
}

/// A request for the hub.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant, reason = "a few test inputs at a time")]
enum Request {
    Spawn(pb::SpawnRequest),
    SendMessage(pb::SendMessageRequest),
    Fork(pb::ForkRequest),
    ImportTrace(pb::ImportTraceRequest),
    GetCost(pb::GetCostRequest),
    ListAgents(pb::ListAgentsRequest),
    CancelRun(pb::CancelRunRequest),
    PauseRun(pb::PauseRunRequest),
    ResumeRun(pb::ResumeRunRequest),
    Approve(pb::ApproveRequest),
    ListApprovals(pb::ListApprovalsRequest),
    GetTree(pb::GetTreeRequest),
    ListMessages(pb::ListMessagesRequest),
    Trace(pb::TraceRequest),
    CordonNode(pb::CordonNodeRequest),
}

impl Request {
    /// Returns its corpus directory and protobuf bytes (for a found input).
    fn found(&self) -> Option<Found> {
        let (kind, bytes) = match self {
            Self::Spawn(request) => ("spawn", request.encode_to_vec()),
            Self::SendMessage(request) => ("send_message", request.encode_to_vec()),
            Self::Fork(request) => ("fork", request.encode_to_vec()),
            Self::ImportTrace(request) => ("import_trace", request.encode_to_vec()),
            _ => return None,
        };
        Found::new(kind, "bin", bytes)
    }
}

/// A hub on its own runtime, with an agent and a run to address.
struct Live {
    runtime: Runtime,
    hub: TestHub,
    agents: Vec<String>,
    runs: Vec<String>,
    threads: String,
}

impl Live {
    fn start() -> Self {
        static HUBS: AtomicUsize = AtomicUsize::new(0);
        record_hub_panics();
        let threads = format!("fuzz-hub-{}-", HUBS.fetch_add(1, Ordering::Relaxed));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(threads.clone())
            .enable_all()
            .build()
            .expect("a runtime");
        let hub = runtime.block_on(TestHub::start());
        let spawn = pb::SpawnRequest {
            spec: Some(pb::AgentSpec { model: "openai:gpt-test".to_owned(), ..Default::default() }),
            input: Some("hi".to_owned()),
            ..Default::default()
        };
        let spawned =
            runtime.block_on(hub.client.clone().spawn(spawn)).expect("spawning the addressed agent").into_inner();
        Self { runtime, hub, agents: vec![spawned.agent_id], runs: vec![spawned.run_id], threads }
    }

    /// Sends `request`; returns its code, or why the answer is not acceptable.
    fn call(&self, request: Request) -> Result<Code, String> {
        let mut client = self.hub.client.clone();
        let answer = self.runtime.block_on(async {
            let call = async {
                match request {
                    Request::Spawn(request) => client.spawn(request).await.map(drop),
                    Request::SendMessage(request) => client.send_message(request).await.map(drop),
                    Request::Fork(request) => client.fork(request).await.map(drop),
                    Request::ImportTrace(request) => client.import_trace(request).await.map(drop),
                    Request::GetCost(request) => client.get_cost(request).await.map(drop),
                    Request::ListAgents(request) => client.list_agents(request).await.map(drop),
                    Request::CancelRun(request) => client.cancel_run(request).await.map(drop),
                    Request::PauseRun(request) => client.pause_run(request).await.map(drop),
                    Request::ResumeRun(request) => client.resume_run(request).await.map(drop),
                    Request::Approve(request) => client.approve(request).await.map(drop),
                    Request::ListApprovals(request) => client.list_approvals(request).await.map(drop),
                    Request::GetTree(request) => client.get_tree(request).await.map(drop),
                    Request::ListMessages(request) => client.list_messages(request).await.map(drop),
                    Request::CordonNode(request) => client.cordon_node(request).await.map(drop),
                    Request::Trace(request) => {
                        let mut stream = client.trace(request).await?.into_inner();
                        while stream.message().await?.is_some() {}
                        Ok(())
                    }
                }
            };
            tokio::time::timeout(CALL_DEADLINE, call).await
        });
        self.check_panics()?;
        match answer {
            Err(_) => Err(format!("no answer within {CALL_DEADLINE:?}")),
            Ok(Ok(())) => Ok(Code::Ok),
            Ok(Err(status)) if REFUSALS.contains(&status.code()) => Ok(status.code()),
            Ok(Err(status)) => Err(format!("answered {:?}: {}", status.code(), status.message())),
        }
    }

    /// Posts `body` to the gateway's `method`; returns the HTTP status, or why the answer is not
    /// acceptable (a 5xx, a broken connection).
    fn post(&self, method: &str, body: &[u8]) -> Result<u16, String> {
        let address = self.hub.http_base.trim_start_matches("http://").to_owned();
        let mut request = format!(
            "POST /agentry.v1.AgentHub/{method} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(&address).await?;
            stream.write_all(&request).await?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await?;
            Ok::<_, std::io::Error>(response)
        };
        let answer = self.runtime.block_on(async { tokio::time::timeout(CALL_DEADLINE, exchange).await });
        self.check_panics()?;
        let response = match answer {
            Err(_) => return Err(format!("no answer within {CALL_DEADLINE:?}")),
            Ok(Err(error)) => return Err(format!("the connection broke: {error}")),
            Ok(Ok(response)) => response,
        };
        let head = String::from_utf8_lossy(&response[..response.len().min(200)]).into_owned();
        let status: u16 =
            head.split(' ').nth(1).and_then(|code| code.parse().ok()).ok_or(format!("no status: {head}"))?;
        match status {
            200 | 400 | 404 | 409 | 412 | 429 => Ok(status),
            _ => Err(format!("answered {head}")),
        }
    }

    fn check_panics(&self) -> Result<(), String> {
        let panics = std::mem::take(&mut *PANICS.lock().unwrap_or_else(PoisonError::into_inner));
        let ours: Vec<String> = panics
            .into_iter()
            .filter(|panic| !panic.starts_with("thread fuzz-hub-") || panic.contains(&self.threads))
            .collect();
        if ours.is_empty() { Ok(()) } else { Err(format!("the hub panicked: {}", ours.join("\n"))) }
    }

    fn stop(self) {
        let Self { runtime, hub, .. } = self;
        runtime.block_on(hub.stop());
    }

    /// Replaces the corpus's placeholder ids by the hub's.
    fn localize(&self, text: &str) -> String {
        text.replace(CORPUS_AGENT, &self.agents[0]).replace(CORPUS_RUN, &self.runs[0])
    }
}

/// Requests of every kind; ids mostly of the hub's agent and run.
fn request(agents: Vec<String>, runs: Vec<String>) -> BoxedStrategy<Request> {
    let run = prop_oneof![3 => prop::sample::select(runs.clone()), 1 => id_text()].boxed();
    let agent = prop_oneof![3 => prop::sample::select(agents.clone()), 1 => id_text()].boxed();
    let reason = || text(&["", "flaky"], &[1024, 1025]);
    prop_oneof![
        6 => proto::spawn_request(&[]).prop_map(Request::Spawn),
        3 => proto::send_message_request(agents.clone(), &[]).prop_map(Request::SendMessage),
        3 => proto::fork_request(agents, runs).prop_map(Request::Fork),
        3 => proto::import_trace_request().prop_map(Request::ImportTrace),
        1 => (prop_oneof![0..5i32, any::<i32>()], prop::option::of(edge_u64()), edge_u64())
            .prop_map(|(by, window_ms, bucket_ms)| Request::GetCost(pb::GetCostRequest { by, window_ms, bucket_ms })),
        1 => (edge_u32(), prop::collection::vec(proto::run_status(), 0..3), any::<bool>(), text(&["team=a"], &[256, 257]), text(&[], &[]))
            .prop_map(|(limit, statuses, dead_lettered, query, page_token)| Request::ListAgents(pb::ListAgentsRequest { limit, statuses, dead_lettered, query, page_token })),
        1 => (run.clone(), reason()).prop_map(|(run_id, reason)| Request::CancelRun(pb::CancelRunRequest { run_id, reason })),
        1 => (run.clone(), reason()).prop_map(|(run_id, reason)| Request::PauseRun(pb::PauseRunRequest { run_id, reason })),
        1 => (run.clone(), edge_u64(), harness::edge_f64())
            .prop_map(|(run_id, add_tokens, add_cost_usd)| Request::ResumeRun(pb::ResumeRunRequest { run_id, add_tokens, add_cost_usd })),
        1 => (run.clone(), text(&["call-1"], &[256, 257]), any::<bool>(), reason(), text(&["ops", "a\nb"], &[256, 257]))
            .prop_map(|(run_id, tool_call_id, approved, reason, actor)| Request::Approve(pb::ApproveRequest { run_id, tool_call_id, approved, reason, actor })),
        1 => (any::<bool>(), prop_oneof![Just(String::new()), run.clone()], edge_u32())
            .prop_map(|(pending_only, run_id, limit)| Request::ListApprovals(pb::ListApprovalsRequest { pending_only, run_id, limit })),
        1 => agent.clone().prop_map(|agent_id| Request::GetTree(pb::GetTreeRequest { agent_id })),
        1 => agent.clone().prop_map(|agent_id| Request::ListMessages(pb::ListMessagesRequest { agent_id })),
        1 => (prop_oneof![Just(String::new()), agent], prop_oneof![Just(String::new()), run], edge_u64(), any::<bool>())
            .prop_map(|(agent_id, run_id, after_seq, include_ephemeral)| Request::Trace(pb::TraceRequest { agent_id, run_id, after_seq, include_ephemeral, follow: false })),
        1 => id_text().prop_map(|node_id| Request::CordonNode(pb::CordonNodeRequest { node_id })),
    ]
    .boxed()
}

/// The corpus requests, decoded (`.json` as proto3 JSON, else protobuf) with the hub's ids.
fn corpus_requests(live: &Live) -> Vec<(harness::Seed, Option<Request>)> {
    fn decode<T: Message + Default + serde::de::DeserializeOwned>(live: &Live, seed: &harness::Seed) -> Option<T> {
        match seed.ext.as_str() {
            "json" => serde_json::from_str(&live.localize(&seed.text())).ok(),
            _ => T::decode(seed.bytes.as_slice()).ok(),
        }
    }
    let mut requests = Vec::new();
    for kind in ["spawn", "send_message", "fork", "import_trace"] {
        for seed in harness::corpus(TARGET, kind) {
            let request = match kind {
                "spawn" => decode(live, &seed).map(Request::Spawn),
                "send_message" => decode(live, &seed).map(Request::SendMessage),
                "fork" => decode(live, &seed).map(Request::Fork),
                _ => decode(live, &seed).map(Request::ImportTrace),
            };
            requests.push((seed, request));
        }
    }
    requests
}

/// Every corpus request through the hub: `ok-` Spawns, SendMessages and ImportTraces succeed,
/// `err-` requests that decode are INVALID_ARGUMENT, none panics.
#[test]
fn corpus_replays_through_a_hub() {
    let live = Live::start();
    for (seed, request) in corpus_requests(&live) {
        let Some(request) = request else { continue };
        let is_fork = matches!(request, Request::Fork(_));
        let code = live.call(request).unwrap_or_else(|error| panic!("corpus file {}: {error}", seed.name));
        match seed.expect {
            harness::Expect::Accept if !is_fork => assert_eq!(code, Code::Ok, "corpus file {}", seed.name),
            harness::Expect::Reject => assert_eq!(code, Code::InvalidArgument, "corpus file {}", seed.name),
            _ => {}
        }
    }
    live.stop();
}

/// Generated requests of every kind through the hub.
#[test]
fn generated_requests_through_a_hub() {
    let live = Live::start();
    let strategy = request(live.agents.clone(), live.runs.clone());
    harness::run(TARGET, "live_generated", harness::cases(2), strategy, &Request::found, |request| {
        live.call(request).map(drop).map_err(harness::fail)
    });
    live.stop();
}

/// Mutated corpus requests as protobuf, decoded, then sent; and mutated JSON corpus files posted
/// to the gateway.
#[test]
fn mutated_requests_through_a_hub() {
    let live = Live::start();
    let seeds: Vec<(&'static str, Vec<u8>)> = corpus_requests(&live)
        .into_iter()
        .filter(|(seed, _)| seed.ext == "json")
        .map(|(seed, request)| {
            let method = match request {
                Some(Request::SendMessage(_)) => "SendMessage",
                Some(Request::Fork(_)) => "Fork",
                Some(Request::ImportTrace(_)) => "ImportTrace",
                _ => "Spawn",
            };
            (method, live.localize(&seed.text()).into_bytes())
        })
        .collect();
    let methods: Vec<&'static str> = vec!["Spawn", "SendMessage", "Fork", "ImportTrace"];
    let bodies = harness::mutated(
        seeds.iter().map(|(_, body)| body.clone()).collect(),
        &["{", "}", "\"", ",", "null", "1e999", "\"NaN\"", "[]"],
    );
    let strategy = (prop::sample::select(methods), bodies);
    let save = |(method, body): &(&str, Vec<u8>)| {
        let kind = match *method {
            "SendMessage" => "send_message",
            "Fork" => "fork",
            "ImportTrace" => "import_trace",
            _ => "spawn",
        };
        Found::new(kind, "json", body.clone())
    };
    harness::run(TARGET, "live_json", harness::cases(2), strategy, &save, |(method, body)| {
        live.post(method, &body).map(drop).map_err(harness::fail)?;
        let decoded = match method {
            "Spawn" => serde_json::from_slice::<pb::SpawnRequest>(&body).ok().map(Request::Spawn),
            "SendMessage" => serde_json::from_slice::<pb::SendMessageRequest>(&body).ok().map(Request::SendMessage),
            "ImportTrace" => serde_json::from_slice::<pb::ImportTraceRequest>(&body).ok().map(Request::ImportTrace),
            _ => serde_json::from_slice::<pb::ForkRequest>(&body).ok().map(Request::Fork),
        };
        match decoded {
            Some(request) => live.call(request).map(drop).map_err(harness::fail),
            None => Ok(()),
        }
    });
    live.stop();
}
