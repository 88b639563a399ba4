//! What the audit record of one call is made of beyond its principal: the target a handler
//! names ([`AuditContext`]), the caller's address (from the connection info tonic and axum put
//! in the request's extensions), and the call's outcome (from the response head).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tonic::Code;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// The target slot of one audited call, in the request's extensions: the handler names what
/// the call acts on (`agent/<id>`, `run/<id>`, `node/<id>`) and the authentication layer
/// writes it into the call's audit record. Cheap to clone (a shared slot); a context not
/// attached to a call (a handler called in-process) ignores targets.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    slot: Option<Arc<Mutex<Option<String>>>>,
}

impl AuditContext {
    /// Returns a context with an empty target slot, to put in a request's extensions.
    pub fn attached() -> Self {
        Self { slot: Some(Arc::default()) }
    }

    /// Returns the context of `request` (a detached one when the call is not audited).
    pub fn of<T>(request: &tonic::Request<T>) -> Self {
        request.extensions().get::<Self>().cloned().unwrap_or_default()
    }

    /// Names the call's target (`agent/<id>`, `run/<id>`, `node/<id>`); the last one named
    /// counts.
    pub fn set_target(&self, target: impl Into<String>) {
        if let Some(slot) = &self.slot
            && let Ok(mut current) = slot.lock()
        {
            *current = Some(target.into());
        }
    }

    /// Returns the target named so far.
    pub fn target(&self) -> Option<String> {
        self.slot.as_ref().and_then(|slot| slot.lock().ok().and_then(|target| target.clone()))
    }
}

/// Names the target of the audited call `request` (see [`AuditContext::set_target`]).
pub fn set_target<T>(request: &tonic::Request<T>, target: impl Into<String>) {
    if let Some(context) = request.extensions().get::<AuditContext>() {
        context.set_target(target);
    }
}

/// The outcome of a call answered over the JSON gateway, which a gateway handler puts in its
/// response's extensions so the audit record has the exact code and message (the HTTP status
/// alone maps several codes to one status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// The gRPC code of the answer.
    pub code: Code,
    /// The refusal's message; empty on success.
    pub message: String,
}

/// Returns the caller's address from the connection info in `extensions`: tonic's
/// `TcpConnectInfo` (plaintext) or `TlsConnectInfo<TcpConnectInfo>` (TLS), or axum's
/// `ConnectInfo<SocketAddr>` or `ConnectInfo<agentry_tls::TlsPeerAddr>` (the HTTP listener,
/// plaintext or TLS, served with connect info).
pub fn source_address(extensions: &http::Extensions) -> Option<SocketAddr> {
    if let Some(info) = extensions.get::<TcpConnectInfo>() {
        return info.remote_addr();
    }
    if let Some(info) = extensions.get::<TlsConnectInfo<TcpConnectInfo>>() {
        return info.get_ref().remote_addr();
    }
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<agentry_tls::TlsPeerAddr>>() {
        return Some(info.0.0);
    }
    extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|info| info.0)
}

/// Returns the outcome of a gRPC response head: `grpc-status` and `grpc-message` of a
/// trailers-only answer (a refused call); OK when absent (the status follows in trailers).
pub fn grpc_outcome<B>(response: &http::Response<B>) -> CallOutcome {
    let header = |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok());
    let code = header("grpc-status").and_then(|value| value.parse::<i32>().ok()).map_or(Code::Ok, Code::from_i32);
    let message = header("grpc-message").map(percent_decode).unwrap_or_default();
    CallOutcome { code, message }
}

/// Returns the outcome of a gateway response: its [`CallOutcome`] extension, else the code
/// its HTTP status stands for in the Connect protocol's table.
pub fn http_outcome<B>(response: &http::Response<B>) -> CallOutcome {
    if let Some(outcome) = response.extensions().get::<CallOutcome>() {
        return outcome.clone();
    }
    let code = match response.status().as_u16() {
        200..=299 => Code::Ok,
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::AlreadyExists,
        413 | 429 => Code::ResourceExhausted,
        499 => Code::Cancelled,
        501 => Code::Unimplemented,
        503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        _ => Code::Internal,
    };
    CallOutcome { code, message: String::new() }
}

/// Decodes percent-encoding (`grpc-message`, gRPC over HTTP/2 "Responses"; URL queries).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Returns the gRPC name of `code` (`PERMISSION_DENIED`), as audit records write outcomes.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_name_targets_through_the_request() {
        let mut request = tonic::Request::new(());
        let context = AuditContext::attached();
        request.extensions_mut().insert(context.clone());
        set_target(&request, "agent/1");
        AuditContext::of(&request).set_target("agent/2");
        assert_eq!(context.target().as_deref(), Some("agent/2"));
        let detached = AuditContext::of(&tonic::Request::new(()));
        detached.set_target("ignored");
        assert_eq!(detached.target(), None);
    }

    #[test]
    fn grpc_outcomes_are_read_from_trailers_only_heads() {
        let status = tonic::Status::permission_denied("role viewer may not call Spawn: 100% sure");
        let refused = status.into_http::<tonic::body::Body>();
        assert_eq!(
            grpc_outcome(&refused),
            CallOutcome { code: Code::PermissionDenied, message: "role viewer may not call Spawn: 100% sure".into() }
        );
        assert_eq!(grpc_outcome(&http::Response::new(())).code, Code::Ok);
        assert_eq!(percent_decode("a%20b%zz%"), "a b%zz%");
    }

    #[test]
    fn gateway_outcomes_prefer_the_extension_over_the_status() {
        let mut response = http::Response::new(());
        *response.status_mut() = http::StatusCode::BAD_REQUEST;
        assert_eq!(http_outcome(&response).code, Code::InvalidArgument);
        let mut response = http::Response::new(());
        *response.status_mut() = http::StatusCode::BAD_REQUEST;
        response.extensions_mut().insert(CallOutcome { code: Code::FailedPrecondition, message: "ended".into() });
        assert_eq!(http_outcome(&response), CallOutcome { code: Code::FailedPrecondition, message: "ended".into() });
    }

    #[test]
    fn the_source_is_read_from_connect_info() {
        let mut extensions = http::Extensions::new();
        assert_eq!(source_address(&extensions), None);
        let address: SocketAddr = "10.0.0.7:5000".parse().expect("address");
        extensions.insert(axum::extract::ConnectInfo(address));
        assert_eq!(source_address(&extensions), Some(address));
        let mut over_tls = http::Extensions::new();
        over_tls.insert(axum::extract::ConnectInfo(agentry_tls::TlsPeerAddr(address)));
        assert_eq!(source_address(&over_tls), Some(address));
    }
}
