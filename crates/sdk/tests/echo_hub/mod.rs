//! A stand-in hub for the client's security tests: it records the path and `authorization`
//! header of every call, answers `WhoAmI` with the header it received (as the actor) and
//! `Trace` with one `run_finished` event after refusing the first call as `UNAVAILABLE` (a
//! restarting hub), refuses calls without a token as `UNAUTHENTICATED` when asked to, and
//! answers everything else `UNIMPLEMENTED`. It serves plaintext or, with an
//! `agentry_tls::ServerTls`, TLS, plus the standard health service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::{Grpc, NamedService, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

use agentry_sdk::proto::{TraceEvent, TraceRequest, TraceResponse, WhoAmIRequest, WhoAmIResponse};
use agentry_sdk::tls::ServerTls;

/// A call the hub received: its path and `authorization` header.
pub type Seen = (String, Option<String>);

/// The stand-in hub's service.
#[derive(Clone, Default)]
pub struct EchoHub {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Refuse calls without an `authorization` header, as a hub with an auth file does.
    require_token: bool,
}

impl EchoHub {
    /// Returns a hub refusing calls without a token as `UNAUTHENTICATED`.
    pub fn requiring_token() -> Self {
        Self { require_token: true, ..Self::default() }
    }

    /// Returns the calls received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }

    /// Serves on `127.0.0.1:0` (TLS with `tls`) until `stop`; returns the URL.
    pub async fn serve(&self, tls: Option<&ServerTls>, stop: CancellationToken) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (_reporter, health) = tonic_health::server::health_reporter();
        let health = Recorded { inner: health, seen: self.seen.clone() };
        let router = tonic::transport::Server::builder().add_service(health).add_service(self.clone());
        let shutdown = stop.cancelled_owned();
        match tls {
            Some(tls) => {
                let incoming = tls.grpc_incoming(listener);
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, shutdown));
                format!("https://{address}")
            }
            None => {
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, shutdown));
                format!("http://{address}")
            }
        }
    }
}

impl NamedService for EchoHub {
    const NAME: &'static str = "agentry.v1.AgentHub";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl tonic::codegen::Service<http::Request<Body>> for EchoHub {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let authorization =
            request.headers().get("authorization").and_then(|value| value.to_str().ok()).map(str::to_owned);
        record(&self.seen, &request);
        let trace_calls = self.seen().iter().filter(|(seen_path, _)| seen_path.ends_with("/Trace")).count();
        if self.require_token && authorization.is_none() {
            return Box::pin(async { Ok(Status::unauthenticated("a bearer token is required").into_http()) });
        }
        match path.as_str() {
            "/agentry.v1.AgentHub/WhoAmI" => {
                Box::pin(
                    async move { Ok(Grpc::new(ProstCodec::default()).unary(WhoAmI { authorization }, request).await) },
                )
            }
            "/agentry.v1.AgentHub/Trace" => Box::pin(async move {
                Ok(Grpc::new(ProstCodec::default()).server_streaming(Trace { first: trace_calls == 1 }, request).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("not in the stand-in hub").into_http()) }),
        }
    }
}

/// Records the path and `authorization` header of `request` in `seen`.
fn record(seen: &Mutex<Vec<Seen>>, request: &http::Request<Body>) {
    let authorization = request.headers().get("authorization").and_then(|value| value.to_str().ok()).map(str::to_owned);
    seen.lock().expect("not poisoned").push((request.uri().path().to_owned(), authorization));
}

/// Another service (the health service) whose calls are recorded too.
#[derive(Clone)]
struct Recorded<S> {
    inner: S,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl<S: NamedService> NamedService for Recorded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tonic::codegen::Service<http::Request<Body>> for Recorded<S>
where
    S: tonic::codegen::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = S::Future;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        record(&self.seen, &request);
        self.inner.call(request)
    }
}

/// `WhoAmI`: the actor is the `authorization` header received (`-` without one).
struct WhoAmI {
    authorization: Option<String>,
}

impl UnaryService<WhoAmIRequest> for WhoAmI {
    type Response = WhoAmIResponse;
    type Future = BoxFuture<Result<Response<WhoAmIResponse>, Status>>;

    fn call(&mut self, _request: Request<WhoAmIRequest>) -> Self::Future {
        let actor = self.authorization.clone().unwrap_or_else(|| "-".to_owned());
        let answer = WhoAmIResponse { actor, role: "admin".into(), tenant: String::new(), method: "token".into() };
        Box::pin(async move { Ok(Response::new(answer)) })
    }
}

/// `Trace`: `UNAVAILABLE` the first time, then the requested run's `run_finished` after
/// `after_seq`.
struct Trace {
    first: bool,
}

impl ServerStreamingService<TraceRequest> for Trace {
    type Response = TraceResponse;
    type ResponseStream = BoxStream<'static, Result<TraceResponse, Status>>;
    type Future = BoxFuture<Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: Request<TraceRequest>) -> Self::Future {
        let first = self.first;
        let request = request.into_inner();
        Box::pin(async move {
            if first {
                return Err(Status::unavailable("the hub is restarting"));
            }
            let event = TraceEvent {
                seq: request.after_seq + 1,
                r#type: "run_finished".into(),
                run_id: request.run_id,
                ..TraceEvent::default()
            };
            let events: Self::ResponseStream =
                Box::pin(futures::stream::iter([Ok(TraceResponse { event: Some(event) })]));
            Ok(Response::new(events))
        })
    }
}
