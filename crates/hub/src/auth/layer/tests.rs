//! Tests of [`super::AuthLayer`] around a tiny service standing for the hub: it records what
//! the layer put into each request, names a target, and answers OK or the status the test
//! asks for (header `x-answer`).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::path::Path;
use std::sync::Mutex;

use tokio::sync::mpsc;

use agentry_store::AuditRecord;

use super::*;
use crate::audit::AuditContext;
use crate::auth::NodePeer;
use crate::auth::tokens::token_sha256_hex;
use crate::auth::{Authenticator, Role};
use crate::config::HubConfig;

/// What the service saw of one call.
#[derive(Debug, Clone)]
struct Seen {
    uri: String,
    principal: Option<Principal>,
    peer: Option<NodePeer>,
}

/// The service behind the layer.
#[derive(Clone)]
struct Handler<B> {
    protocol: Protocol,
    seen: Arc<Mutex<Vec<Seen>>>,
    body: std::marker::PhantomData<fn() -> B>,
}

impl<B: RefusalBody> Service<http::Request<()>> for Handler<B> {
    type Response = http::Response<B>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<()>) -> Self::Future {
        let extensions = request.extensions();
        if let Some(context) = extensions.get::<AuditContext>() {
            context.set_target("agent/42");
        }
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(Seen {
                uri: request.uri().to_string(),
                principal: extensions.get::<Principal>().cloned(),
                peer: extensions.get::<NodePeer>().cloned(),
            });
        }
        let answer = request
            .headers()
            .get("x-answer")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        ready(Ok(match answer {
            Some(code) => refusal(self.protocol, Status::new(Code::from_i32(code), "no agent 42")),
            None => http::Response::new(B::default()),
        }))
    }
}

/// The layer under test, its service, and the audit records it makes.
struct Harness<B> {
    service: AuthService<Handler<B>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    records: mpsc::Receiver<AuditRecord>,
}

impl<B: RefusalBody> Harness<B> {
    fn new(auth: Authenticator, protocol: Protocol, mutual_tls: bool) -> Self {
        let (log, records) = AuditLog::channel(64);
        let layer = match protocol {
            Protocol::Grpc => AuthLayer::grpc(auth, log, mutual_tls),
            Protocol::Connect => AuthLayer::connect(auth, log),
        };
        let seen = Arc::default();
        let handler = Handler { protocol, seen: Arc::clone(&seen), body: std::marker::PhantomData };
        Self { service: layer.layer(handler), seen, records }
    }

    async fn call(&mut self, request: http::Request<()>) -> http::Response<B> {
        futures::future::poll_fn(|context| self.service.poll_ready(context)).await.expect("ready");
        self.service.call(request).await.expect("answered")
    }

    fn last_seen(&self) -> Option<Seen> {
        self.seen.lock().ok().and_then(|seen| seen.last().cloned())
    }

    fn records(&mut self) -> Vec<AuditRecord> {
        std::iter::from_fn(|| self.records.try_recv().ok()).collect()
    }
}

fn request(path: &str, token: Option<&str>) -> http::Request<()> {
    let mut request = http::Request::builder().method("POST").uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut request = request.body(()).expect("request");
    request.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([10, 0, 0, 7], 5000))));
    request
}

fn grpc_code<B>(response: &http::Response<B>) -> Code {
    audit::context::grpc_outcome(response).code
}

/// An authenticator over an auth file with tokens `viewer-token`, `client-token`
/// (tenant acme) and `admin-token`, limited to `rate` calls a second in bursts of `burst`.
async fn authenticator(dir: &Path, rate: u32, burst: u32) -> Authenticator {
    let entry = |name: &str, role: &str, tenant: &str| {
        format!(
            "[[token]]\nname = \"{name}\"\nsha256 = \"{}\"\nrole = \"{role}\"\n{tenant}",
            token_sha256_hex(&format!("{role}-token"))
        )
    };
    let text = [
        entry("vera", "viewer", "tenant = \"acme\"\n"),
        entry("ci-bot", "client", "tenant = \"acme\"\n"),
        entry("root", "admin", ""),
    ]
    .concat();
    let path = dir.join("auth.toml");
    std::fs::write(&path, text).expect("write the auth file");
    let config = HubConfig { auth_file: Some(path), rate_limit: rate, rate_limit_burst: burst, ..HubConfig::default() };
    Authenticator::from_config(&config).await.expect("authenticator")
}

const SPAWN: &str = "/agentry.v1.AgentHub/Spawn";
const GET_AGENT: &str = "/agentry.v1.AgentHub/GetAgent";

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated_and_audited() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut harness = Harness::<tonic::body::Body>::new(authenticator(dir.path(), 0, 1).await, Protocol::Grpc, false);
    let refused = harness.call(request(SPAWN, None)).await;
    assert_eq!(grpc_code(&refused), Code::Unauthenticated);
    let refused = harness.call(request(GET_AGENT, Some("forged"))).await;
    assert_eq!(grpc_code(&refused), Code::Unauthenticated);
    assert!(harness.last_seen().is_none(), "the service was never called");
    let records = harness.records();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (records[0].actor.as_str(), records[0].action.as_str(), records[0].outcome.as_str()),
        ("anonymous", "Spawn", "UNAUTHENTICATED")
    );
    assert!(records[0].detail.contains("requires a token"), "{}", records[0].detail);
    assert_eq!(records[0].source, "10.0.0.7:5000");
    assert_eq!((records[1].action.as_str(), records[1].outcome.as_str()), ("GetAgent", "UNAUTHENTICATED"));
}

#[tokio::test]
async fn a_viewer_may_read_but_not_spawn() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut harness = Harness::<tonic::body::Body>::new(authenticator(dir.path(), 0, 1).await, Protocol::Grpc, false);
    let read = harness.call(request(GET_AGENT, Some("viewer-token"))).await;
    assert_eq!(grpc_code(&read), Code::Ok);
    let principal = harness.last_seen().and_then(|seen| seen.principal).expect("the principal reached the service");
    assert_eq!(
        (principal.actor.as_str(), principal.role, principal.tenant.as_deref()),
        ("vera", Role::Viewer, Some("acme"))
    );
    assert!(harness.records().is_empty(), "a successful read is not audited");

    let refused = harness.call(request(SPAWN, Some("viewer-token"))).await;
    let outcome = audit::context::grpc_outcome(&refused);
    assert_eq!((outcome.code, outcome.message.as_str()), (Code::PermissionDenied, "role viewer may not call Spawn"));
    let records = harness.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        (record.actor.as_str(), record.role.as_str(), record.tenant.as_str(), record.outcome.as_str()),
        ("vera", "viewer", "acme", "PERMISSION_DENIED")
    );
}

#[tokio::test]
async fn mutating_calls_and_refused_reads_are_audited_with_their_target() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut harness = Harness::<tonic::body::Body>::new(authenticator(dir.path(), 0, 1).await, Protocol::Grpc, false);
    assert_eq!(grpc_code(&harness.call(request(SPAWN, Some("client-token"))).await), Code::Ok);
    let mut missing = request(GET_AGENT, Some("client-token"));
    missing.headers_mut().insert("x-answer", http::HeaderValue::from_static("5"));
    assert_eq!(grpc_code(&harness.call(missing).await), Code::NotFound);
    let mut invalid = request(GET_AGENT, Some("client-token"));
    invalid.headers_mut().insert("x-answer", http::HeaderValue::from_static("3"));
    assert_eq!(grpc_code(&harness.call(invalid).await), Code::InvalidArgument);
    let records = harness.records();
    let summary: Vec<_> = records
        .iter()
        .map(|record| (record.action.as_str(), record.target.as_str(), record.outcome.as_str()))
        .collect();
    assert_eq!(summary, [("Spawn", "agent/42", "OK"), ("GetAgent", "agent/42", "NOT_FOUND")]);
    assert_eq!(records[1].detail, "no agent 42");
    assert_eq!((records[0].actor.as_str(), records[0].tenant.as_str()), ("ci-bot", "acme"));
}

#[tokio::test]
async fn a_flood_is_throttled_after_its_burst_and_audited_once_a_second() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut harness = Harness::<tonic::body::Body>::new(authenticator(dir.path(), 1, 3).await, Protocol::Grpc, false);
    for call in 0..3 {
        assert_eq!(grpc_code(&harness.call(request(GET_AGENT, Some("client-token"))).await), Code::Ok, "call {call}");
    }
    for _ in 0..5 {
        let refused = harness.call(request(GET_AGENT, Some("client-token"))).await;
        let outcome = audit::context::grpc_outcome(&refused);
        assert_eq!(outcome.code, Code::ResourceExhausted);
        assert!(outcome.message.starts_with("rate limit of 1 calls/s per token exceeded (hub.rate-limit)"));
    }
    assert_eq!(grpc_code(&harness.call(request(GET_AGENT, Some("viewer-token"))).await), Code::Ok, "another token");
    let records = harness.records();
    assert_eq!(records.len(), 1, "five refusals within a second make one record: {records:?}");
    assert_eq!((records[0].actor.as_str(), records[0].outcome.as_str()), ("ci-bot", "RESOURCE_EXHAUSTED"));
}

#[tokio::test]
async fn health_is_public_and_unknown_paths_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut harness = Harness::<tonic::body::Body>::new(authenticator(dir.path(), 0, 1).await, Protocol::Grpc, false);
    assert_eq!(grpc_code(&harness.call(request("/grpc.health.v1.Health/Check", None)).await), Code::Ok);
    assert!(harness.last_seen().is_some_and(|seen| seen.principal.is_none()));
    let refused = harness.call(request("/agentry.v1.AgentHub/Bogus", Some("admin-token"))).await;
    assert_eq!(grpc_code(&refused), Code::PermissionDenied);
    assert_eq!(harness.records().len(), 1);
}

#[tokio::test]
async fn without_authentication_every_caller_is_the_anonymous_admin_and_mutations_are_audited() {
    let mut harness = Harness::<tonic::body::Body>::new(Authenticator::disabled(), Protocol::Grpc, false);
    assert_eq!(grpc_code(&harness.call(request(GET_AGENT, None)).await), Code::Ok);
    assert_eq!(harness.last_seen().and_then(|seen| seen.principal), Some(Principal::anonymous()));
    assert!(harness.records().is_empty());
    assert_eq!(grpc_code(&harness.call(request(SPAWN, Some("anything"))).await), Code::Ok);
    let records = harness.records();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].actor.as_str(), records[0].role.as_str(), records[0].target.as_str()),
        ("anonymous", "admin", "agent/42")
    );
    let unknown = harness.call(request("/agentry.v1.AgentHub/Bogus", None)).await;
    assert_eq!(grpc_code(&unknown), Code::Ok, "passed on: the server answers UNIMPLEMENTED itself");
}

#[tokio::test]
async fn without_mutual_tls_node_calls_pass_and_with_it_they_need_a_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let join = "/agentry.v1.NodeService/Join";
    let mut open = Harness::<tonic::body::Body>::new(authenticator(dir.path(), 0, 1).await, Protocol::Grpc, false);
    assert_eq!(grpc_code(&open.call(request(join, None)).await), Code::Ok);
    let records = open.records();
    assert_eq!(
        (records[0].actor.as_str(), records[0].role.as_str(), records[0].action.as_str()),
        ("node", "node", "Join")
    );

    let mut mutual = Harness::<tonic::body::Body>::new(authenticator(dir.path(), 0, 1).await, Protocol::Grpc, true);
    for token in [None, Some("admin-token")] {
        let refused = mutual.call(request(join, token)).await;
        let outcome = audit::context::grpc_outcome(&refused);
        assert_eq!(outcome.code, Code::Unauthenticated, "a token never admits a node");
        assert_eq!(outcome.message, "a node must present a client certificate from tls-client-ca");
    }
    assert!(mutual.last_seen().is_none());
}

#[tokio::test]
async fn gateway_refusals_are_connect_errors_and_the_trace_token_may_come_in_the_query() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut harness = Harness::<axum::body::Body>::new(authenticator(dir.path(), 0, 1).await, Protocol::Connect, false);
    let refused = harness.call(request(SPAWN, None)).await;
    assert_eq!(refused.status(), http::StatusCode::UNAUTHORIZED);
    let body = axum::body::to_bytes(refused.into_body(), 1 << 16).await.expect("body");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body["code"], "unauthenticated");

    let viewer = harness.call(request(SPAWN, Some("viewer-token"))).await;
    assert_eq!(viewer.status(), http::StatusCode::FORBIDDEN);

    let trace = harness.call(request("/api/v1/trace?agent_id=a1&access_token=viewer-token&follow=true", None)).await;
    assert_eq!(trace.status(), http::StatusCode::OK);
    let seen = harness.last_seen().expect("the trace reached the service");
    assert_eq!(seen.uri, "/api/v1/trace?agent_id=a1&follow=true", "the token is taken out of the query");
    assert_eq!(seen.principal.map(|principal| principal.actor), Some("vera".into()));

    let console = harness.call(request("/assets/app.js", None)).await;
    assert_eq!(console.status(), http::StatusCode::OK, "the console's files are public");
    let records = harness.records();
    let outcomes: Vec<_> = records.iter().map(|record| (record.action.as_str(), record.outcome.as_str())).collect();
    assert_eq!(outcomes, [("Spawn", "UNAUTHENTICATED"), ("Spawn", "PERMISSION_DENIED")]);
}

#[tokio::test]
async fn forwarded_identity_reaches_the_tonic_request() {
    let mut extensions = http::Extensions::new();
    extensions.insert(Principal::anonymous());
    let context = AuditContext::attached();
    extensions.insert(context.clone());
    let mut request = tonic::Request::new(());
    forward_identity(&extensions, &mut request);
    assert_eq!(crate::auth::principal(&request), Principal::anonymous());
    audit::set_target(&request, "run/7");
    assert_eq!(context.target().as_deref(), Some("run/7"));
}

#[path = "tls_tests.rs"]
mod tls;
