//! What differs between the two places [`super::AuthLayer`] sits: gRPC and the JSON
//! gateway's paths, the trace's query token, refusals in each protocol; and the node identity
//! of a mutual-TLS connection.

use tonic::Status;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use crate::audit::{self, AuditContext, CallOutcome};
use crate::auth::access;
use crate::auth::principal::{NodePeer, Principal};

/// The gateway's trace stream (server-sent events): `AgentHub.Trace`.
pub const TRACE_PATH: &str = "/api/v1/trace";
/// The gateway's identity endpoint: `AgentHub.WhoAmI`.
pub const WHOAMI_PATH: &str = "/api/v1/whoami";

/// How refusals are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC: a trailers-only response with `grpc-status` and `grpc-message`.
    Grpc,
    /// The JSON gateway: the Connect error's HTTP status and `{"code", "message"}`.
    Connect,
}

/// A response body a refusal can be written in.
pub trait RefusalBody: Default + Send + 'static {
    /// Returns a body of `text`.
    fn from_text(text: String) -> Self;
}

impl RefusalBody for tonic::body::Body {
    fn from_text(text: String) -> Self {
        Self::new(text)
    }
}

impl RefusalBody for axum::body::Body {
    fn from_text(text: String) -> Self {
        Self::from(text)
    }
}

/// Returns the gRPC path a request stands for: the path itself over gRPC; over HTTP the
/// gateway's paths (and `None` for the rest of the listener: console, metrics, health).
pub(super) fn rpc_path(protocol: Protocol, path: &str) -> Option<&str> {
    match protocol {
        Protocol::Grpc => Some(path),
        Protocol::Connect if path == TRACE_PATH => Some("/agentry.v1.AgentHub/Trace"),
        Protocol::Connect if path == WHOAMI_PATH => Some("/agentry.v1.AgentHub/WhoAmI"),
        Protocol::Connect if path.starts_with("/api/") || path.starts_with("/agentry.") => Some(path),
        Protocol::Connect => None,
    }
}

/// Returns the audit action of a request: its RPC's method name.
pub(super) fn action_of(protocol: Protocol, path: &str) -> String {
    access::method_name(rpc_path(protocol, path).unwrap_or(path)).to_owned()
}

/// Removes `access_token` from the query of a gateway trace request and returns it.
pub(super) fn strip_query_token<B>(protocol: Protocol, request: &mut http::Request<B>) -> Option<String> {
    if protocol != Protocol::Connect || request.uri().path() != TRACE_PATH {
        return None;
    }
    let query = request.uri().query()?;
    let mut token = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("access_token=") {
            Some(value) => {
                token = Some(audit::context::percent_decode(value));
                false
            }
            None => true,
        })
        .collect();
    token.as_ref()?;
    let path_and_query =
        if kept.is_empty() { TRACE_PATH.to_owned() } else { format!("{TRACE_PATH}?{}", kept.join("&")) };
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    token
}

/// Returns the node the verified client certificate of the connection names.
///
/// Errors: UNAUTHENTICATED without a certificate; PERMISSION_DENIED for a certificate that
/// names no node.
pub(super) fn node_peer(extensions: &http::Extensions) -> Result<NodePeer, Status> {
    let certificates = extensions.get::<TlsConnectInfo<TcpConnectInfo>>().and_then(TlsConnectInfo::peer_certs);
    let Some(leaf) = certificates.as_ref().and_then(|certificates| certificates.first()) else {
        return Err(Status::unauthenticated("a node must present a client certificate from tls-client-ca"));
    };
    match agentry_tls::peer_spiffe_id(leaf) {
        Some(id) if id.kind == agentry_tls::KIND_NODE && id.trust_domain == agentry_tls::TRUST_DOMAIN => {
            Ok(NodePeer { name: id.name })
        }
        Some(id) => Err(Status::permission_denied(format!(
            "the client certificate names spiffe://{}/{}/{}, not a node (spiffe://{}/node/<name>)",
            id.trust_domain,
            id.kind,
            id.name,
            agentry_tls::TRUST_DOMAIN
        ))),
        None => Err(Status::permission_denied(format!(
            "the client certificate has no SPIFFE ID: a node's names spiffe://{}/node/<name>",
            agentry_tls::TRUST_DOMAIN
        ))),
    }
}

/// Returns the answer refusing a call with `status` in `protocol`.
pub(super) fn refusal<B: RefusalBody>(protocol: Protocol, status: Status) -> http::Response<B> {
    match protocol {
        Protocol::Grpc => status.into_http(),
        Protocol::Connect => {
            let (name, http_status) = crate::gateway::connect::connect_code(status.code());
            let body = serde_json::json!({ "code": name, "message": status.message() }).to_string();
            let mut response = http::Response::new(B::from_text(body));
            *response.status_mut() = http_status;
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            response.extensions_mut().insert(CallOutcome { code: status.code(), message: status.message().to_owned() });
            response
        }
    }
}

/// Copies the identity the layer put into a gateway request's extensions (principal, node
/// peer, audit context) into the `tonic::Request` the gateway builds for the handler.
pub fn forward_identity<T>(extensions: &http::Extensions, request: &mut tonic::Request<T>) {
    if let Some(principal) = extensions.get::<Principal>() {
        request.extensions_mut().insert(principal.clone());
    }
    if let Some(peer) = extensions.get::<NodePeer>() {
        request.extensions_mut().insert(peer.clone());
    }
    if let Some(context) = extensions.get::<AuditContext>() {
        request.extensions_mut().insert(context.clone());
    }
}
