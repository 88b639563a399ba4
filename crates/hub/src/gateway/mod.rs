//! The JSON gateway of the web console (and of any HTTP client): the `AgentHub` methods over
//! HTTP/1.1 with JSON bodies, served on the hub's HTTP listener next to `/metrics`. It calls
//! the same [`AgentHubApi`] as gRPC clients do, in process — the same validation, the same
//! errors, no second source of truth — and never exposes the store or the broker.
//!
//! - [`connect`]: unary methods, `POST /agentry.v1.AgentHub/{Method}`, as the Connect
//!   protocol's unary JSON calls (<https://connectrpc.com/docs/protocol>): the request and
//!   response in canonical proto3 JSON, errors as `{"code": "not_found", "message": ...}`.
//! - [`sse`]: `Trace` as server-sent events, `GET /api/v1/trace`, resuming after the
//!   `Last-Event-ID` a reconnecting `EventSource` sends.
//! - `GET /api/v1/whoami`: who the caller is and what role it has (`AgentHub.WhoAmI` of the
//!   principal the authentication layer established), which decides whether the console shows
//!   its action buttons (a `viewer` sees none). With authentication off every caller is
//!   `anonymous` with the role `admin`, and the answer says `"authenticated": false`.
//!
//! Authentication is the job of `crate::auth::AuthLayer`, applied around this router: it
//! refuses calls without a valid token (Connect errors) and inserts the caller's `Principal`
//! and `AuditContext` into the HTTP request's extensions. Every handler here hands the
//! request's extensions to the `AgentHubApi` method it calls, so the method sees the same
//! caller over both transports.

pub mod connect;
pub mod sse;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tonic::Code;

use agentry_core::limits::MAX_GRPC_MESSAGE_BYTES;
use agentry_proto::v1 as pb;
use agentry_proto::v1::agent_hub_server::AgentHub;

use crate::audit::CallOutcome;
use crate::grpc::AgentHubApi;
use crate::metrics::HubMetrics;

/// What the gateway's handlers share.
#[derive(Clone)]
pub struct Gateway {
    api: Arc<AgentHubApi>,
    metrics: HubMetrics,
}

impl Gateway {
    /// Returns a gateway calling `api`, recording each call in `metrics` as gRPC calls are
    /// (`agentry_rpc_duration_seconds{method}`, `agentry_rpc_errors_total{method,code}`).
    pub fn new(api: AgentHubApi, metrics: HubMetrics) -> Self {
        Self { api: Arc::new(api), metrics }
    }
}

/// Returns the gateway's routes: `POST /agentry.v1.AgentHub/{method}`, `GET /api/v1/trace`
/// and `GET /api/v1/whoami`. Request bodies are limited to
/// [`MAX_GRPC_MESSAGE_BYTES`] (413 beyond).
pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/agentry.v1.AgentHub/{method}", post(connect::unary))
        .route("/api/v1/trace", get(sse::trace))
        .route("/api/v1/whoami", get(whoami))
        .layer(DefaultBodyLimit::max(MAX_GRPC_MESSAGE_BYTES))
        .with_state(gateway)
}

/// Answers `GET /api/v1/whoami` from `AgentHub.WhoAmI`: `{"identity": actor, "role",
/// "tenant": tenant or null (every tenant), "authenticated": whether it was established by a
/// token or JWT (false with authentication off)}`; a refusal is a Connect error.
async fn whoami(State(gateway): State<Gateway>, extensions: Extensions, headers: HeaderMap) -> Response {
    let request = grpc_request(pb::WhoAmIRequest {}, &headers, extensions);
    let (outcome, mut response) = match gateway.api.who_am_i(request).await {
        Ok(answer) => {
            let body = whoami_json(&answer.into_inner());
            (CallOutcome { code: Code::Ok, message: String::new() }, axum::Json(body).into_response())
        }
        Err(status) => {
            let outcome = CallOutcome { code: status.code(), message: status.message().to_owned() };
            (outcome, connect::error_response(status.code(), status.message()))
        }
    };
    response.extensions_mut().insert(outcome);
    response
}

/// Returns the JSON of `GET /api/v1/whoami` for a `WhoAmI` answer.
fn whoami_json(answer: &pb::WhoAmIResponse) -> serde_json::Value {
    let tenant = (!answer.tenant.is_empty()).then_some(answer.tenant.as_str());
    serde_json::json!({
        "identity": answer.actor,
        "role": answer.role,
        "tenant": tenant,
        "authenticated": !answer.method.is_empty() && answer.method != "none",
    })
}

/// Returns the `tonic::Request` of `message` that a gRPC call with the same caller context
/// would make: the metadata headers (see [`copy_metadata`]) and every extension of the HTTP
/// request (the authentication layer's `Principal` and `AuditContext`, the connection info).
fn grpc_request<T>(message: T, headers: &HeaderMap, extensions: Extensions) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    copy_metadata(headers, &mut request);
    *request.extensions_mut() = extensions;
    request
}

/// Copies the HTTP headers a gRPC call would carry as metadata (`traceparent`, `tracestate`,
/// `authorization`) into `request`, so the methods see the same caller context over both
/// transports.
fn copy_metadata<T>(headers: &HeaderMap, request: &mut tonic::Request<T>) {
    const FORWARDED: [&str; 3] = ["traceparent", "tracestate", "authorization"];
    for name in FORWARDED {
        if let Some(value) = headers.get(name).and_then(|value| value.to_str().ok())
            && let Ok(value) = value.parse()
        {
            request.metadata_mut().insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests;
