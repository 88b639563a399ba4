//! [`AuthLayer`]: the tower layer that authenticates, rate-limits, authorizes and audits every
//! call — around the tonic server (refusals as gRPC statuses) and around the JSON gateway's
//! router (refusals as Connect errors, `{"code", "message"}`).
//!
//! Per call, by path ([`super::access::required_role`]):
//! - health and reflection (and, on the HTTP listener, everything but the gateway): passed on;
//! - `NodeService`: under mutual TLS (`tls-client-ca`) the verified client certificate must
//!   carry a node's SPIFFE ID (`spiffe://agentry/node/<name>`), which becomes a [`NodePeer`](crate::auth::NodePeer)
//!   in the extensions; a bearer token never admits a node. Without mutual TLS, passed on;
//! - `AgentHub`: the bearer token is authenticated (authentication off: the anonymous
//!   admin), its actor rate-limited, its role checked; the [`Principal`] and an
//!   [`AuditContext`](crate::audit::AuditContext) go into the extensions for the handler.
//!
//! Audited: every refusal made here (repeated UNAUTHENTICATED and RESOURCE_EXHAUSTED ones of
//! one caller and method are coalesced to one a second, so a flood cannot flood the log), every
//! mutating call (and a node's `Join` and `Leave`) with its outcome, reads the handler refused
//! with NOT_FOUND, PERMISSION_DENIED, RESOURCE_EXHAUSTED or UNAUTHENTICATED, and, under mutual
//! TLS, other node calls the handler refused with PERMISSION_DENIED or UNAUTHENTICATED (a
//! certificate used for another node's id). With authentication off only mutating calls are
//! watched; reads cost one branch and the principal's insertion.

mod protocol;
mod record;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures::future::Either;
use governor::{DefaultKeyedRateLimiter, Quota};
use tonic::codegen::http;
use tonic::{Code, Status};
use tower::{Layer, Service};

pub use protocol::{Protocol, RefusalBody, TRACE_PATH, WHOAMI_PATH, forward_identity};

use self::protocol::{action_of, node_peer, refusal, rpc_path, strip_query_token};
use self::record::{Caller, REFUSED_NODE_CALLS, REFUSED_READS, Recorded, Watch};
use super::access::{self, Access};
use super::authenticator::Authenticator;
use super::principal::Principal;
use crate::audit::{self, AuditLog, CallOutcome};

/// Wraps a service in [`AuthService`]. Cheap to clone.
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

struct Shared {
    auth: Authenticator,
    audit: AuditLog,
    protocol: Protocol,
    mutual_tls: bool,
    /// One record a second per (code, caller, method) of flood-prone refusals.
    coalesce: DefaultKeyedRateLimiter<String>,
    coalesced_checks: AtomicU64,
}

impl AuthLayer {
    /// Returns the layer of the gRPC server; `mutual_tls`: the hub runs with `tls-client-ca`,
    /// so `NodeService` requires a node certificate.
    pub fn grpc(auth: Authenticator, audit: AuditLog, mutual_tls: bool) -> Self {
        Self::new(auth, audit, Protocol::Grpc, mutual_tls)
    }

    /// Returns the layer of the JSON gateway's router: `POST /agentry.v1.AgentHub/{Method}`,
    /// [`TRACE_PATH`] (whose token may also come as `?access_token=`, RFC 6750 §2.3, because a
    /// browser's `EventSource` cannot set headers) and [`WHOAMI_PATH`].
    pub fn connect(auth: Authenticator, audit: AuditLog) -> Self {
        Self::new(auth, audit, Protocol::Connect, false)
    }

    fn new(auth: Authenticator, audit: AuditLog, protocol: Protocol, mutual_tls: bool) -> Self {
        let once_a_second = Quota::per_second(std::num::NonZeroU32::MIN);
        let coalesce = governor::RateLimiter::dashmap(once_a_second);
        Self {
            shared: Arc::new(Shared {
                auth,
                audit,
                protocol,
                mutual_tls,
                coalesce,
                coalesced_checks: AtomicU64::new(0),
            }),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, shared: Arc::clone(&self.shared) }
    }
}

/// A service whose calls are authenticated, authorized and audited (see the module doc).
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, RequestBody, ResponseBody> Service<http::Request<RequestBody>> for AuthService<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResponseBody: RefusalBody,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<Result<Self::Response, Self::Error>>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<RequestBody>) -> Self::Future {
        match decide(&self.shared, &mut request) {
            Decision::Pass => Either::Left(self.inner.call(request)),
            Decision::Watch(watch) => {
                let call = self.inner.call(request);
                Either::Right(Box::pin(async move {
                    let answered = call.await;
                    let outcome = match (&answered, watch.protocol) {
                        (Ok(response), Protocol::Grpc) => audit::context::grpc_outcome(response),
                        (Ok(response), Protocol::Connect) => audit::context::http_outcome(response),
                        (Err(_), _) => CallOutcome { code: Code::Internal, message: "the call failed".to_owned() },
                    };
                    watch.finish(outcome);
                    answered
                }))
            }
            Decision::Refuse(status) => {
                let response = refusal(self.shared.protocol, status);
                Either::Right(Box::pin(async move { Ok(response) }))
            }
        }
    }
}

/// What to do with a call.
enum Decision {
    /// Call the service.
    Pass,
    /// Call the service and audit the outcome.
    Watch(Watch),
    /// Answer with this status (already audited).
    Refuse(Status),
}

/// Returns what to do with `request`, after putting the principal (or node peer) and audit
/// context into its extensions.
fn decide<B>(shared: &Shared, request: &mut http::Request<B>) -> Decision {
    let (access, audited) = {
        let Some(rpc) = rpc_path(shared.protocol, request.uri().path()) else { return Decision::Pass };
        let access = match access::required_role(rpc) {
            Access::Node if shared.protocol == Protocol::Connect => Access::Unknown,
            access => access,
        };
        (access, access::is_audited(rpc))
    };
    let enabled = shared.auth.enabled();
    match access {
        Access::Public => Decision::Pass,
        Access::Unknown if !enabled => Decision::Pass,
        Access::Role(_) if !enabled => {
            strip_query_token(shared.protocol, request);
            request.extensions_mut().insert(Principal::anonymous());
            if audited && shared.audit.is_active() {
                Decision::Watch(Watch::new(shared, request, Caller::of(&Principal::anonymous()), Recorded::Always))
            } else {
                Decision::Pass
            }
        }
        Access::Unknown => {
            let status = Status::permission_denied(format!("{} is not an RPC of this hub", request.uri().path()));
            shared.refuse(request, &Caller::unknown(), status)
        }
        Access::Node => decide_node(shared, request, audited),
        Access::Role(required) => decide_client(shared, request, required, audited),
    }
}

/// A `NodeService` call: the node certificate under mutual TLS.
fn decide_node<B>(shared: &Shared, request: &mut http::Request<B>, audited: bool) -> Decision {
    let peer = if shared.mutual_tls {
        match node_peer(request.extensions()) {
            Ok(peer) => Some(peer),
            Err(status) => return shared.refuse(request, &Caller::node(None), status),
        }
    } else {
        None
    };
    let caller = Caller::node(peer.as_ref());
    if let Some(peer) = peer {
        request.extensions_mut().insert(peer);
    }
    // Under mutual TLS a node refused by its handler (a call for another node's id) is a
    // security event too.
    let recorded = match (audited, shared.mutual_tls) {
        (true, _) => Recorded::Always,
        (false, true) => Recorded::Refused(REFUSED_NODE_CALLS),
        (false, false) => return Decision::Pass,
    };
    if shared.audit.is_active() {
        Decision::Watch(Watch::new(shared, request, caller, recorded))
    } else {
        Decision::Pass
    }
}

/// An `AgentHub` call with authentication on.
fn decide_client<B>(shared: &Shared, request: &mut http::Request<B>, required: super::Role, audited: bool) -> Decision {
    let query_token = strip_query_token(shared.protocol, request);
    let authorization = request.headers().get(http::header::AUTHORIZATION).map(|value| value.to_str().unwrap_or(""));
    let authenticated = match (authorization, &query_token) {
        (Some(header), _) => shared.auth.authenticate(Some(header)),
        (None, Some(token)) => shared.auth.authenticate_token(token),
        (None, None) if shared.mutual_tls && node_peer(request.extensions()).is_ok() => {
            Err(Status::permission_denied("nodes may call NodeService only"))
        }
        (None, None) => shared.auth.authenticate(None),
    };
    let principal = match authenticated {
        Ok(principal) => principal,
        Err(status) => return shared.refuse(request, &Caller::unknown(), status),
    };
    if let Err(status) = shared.auth.rate_limiter().check(&principal) {
        return shared.refuse(request, &Caller::of(&principal), status);
    }
    if !access::allows(principal.role, required) {
        let method = access::method_name(rpc_path(shared.protocol, request.uri().path()).unwrap_or_default());
        let status = Status::permission_denied(format!("role {} may not call {method}", principal.role));
        return shared.refuse(request, &Caller::of(&principal), status);
    }
    let caller = Caller::of(&principal);
    request.extensions_mut().insert(principal);
    if shared.audit.is_active() {
        let recorded = if audited { Recorded::Always } else { Recorded::Refused(REFUSED_READS) };
        Decision::Watch(Watch::new(shared, request, caller, recorded))
    } else {
        Decision::Pass
    }
}

impl Shared {
    /// Audits the refusal of `request` by `caller` with `status` and returns the decision.
    fn refuse<B>(&self, request: &http::Request<B>, caller: &Caller, status: Status) -> Decision {
        if self.audit.is_active() {
            let action = action_of(self.protocol, request.uri().path());
            let source = audit::source_address(request.extensions());
            let flood_prone = matches!(status.code(), Code::Unauthenticated | Code::ResourceExhausted);
            let recorded = !flood_prone || {
                // Callers without credentials are told apart by address, the others by actor.
                let who = match source {
                    Some(source) if caller.role.is_empty() => source.ip().to_string(),
                    _ => caller.actor.clone(),
                };
                self.first_this_second(format!("{:?} {who} {action}", status.code()))
            };
            if recorded {
                let outcome = CallOutcome { code: status.code(), message: status.message().to_owned() };
                let source = source.map(|source| source.to_string()).unwrap_or_default();
                self.audit.record(caller.record(action, String::new(), outcome, source));
            }
        }
        Decision::Refuse(status)
    }

    /// Returns whether `key` had no refusal recorded within the last second.
    fn first_this_second(&self, key: String) -> bool {
        // Forget old keys now and then, so distinct callers do not grow the map forever.
        if self.coalesced_checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.coalesce.retain_recent();
        }
        self.coalesce.check_key(&key).is_ok()
    }
}

#[cfg(test)]
mod tests;
