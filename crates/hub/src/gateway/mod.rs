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
//! - `GET /api/v1/whoami`: who the caller is and what role it has, which decides whether the
//!   console shows its action buttons (a `viewer` sees none). Until the hub authenticates
//!   callers, every caller is `anonymous` with the role `admin` (every method is open to every
//!   client over gRPC too), and the answer says `"authenticated": false`.

pub mod connect;
pub mod sse;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use agentry_core::limits::MAX_GRPC_MESSAGE_BYTES;

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

/// Answers `GET /api/v1/whoami`: `{"identity", "role", "authenticated"}`.
async fn whoami() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "identity": "anonymous", "role": "admin", "authenticated": false }))
}

/// Copies the HTTP headers a gRPC call would carry as metadata (`traceparent`, `tracestate`,
/// `authorization`) into `request`, so the methods see the same caller context over both
/// transports.
fn copy_metadata<T>(headers: &axum::http::HeaderMap, request: &mut tonic::Request<T>) {
    const FORWARDED: [&str; 3] = ["traceparent", "tracestate", "authorization"];
    for name in FORWARDED {
        if let Some(value) = headers.get(name).and_then(|value| value.to_str().ok())
            && let Ok(value) = value.parse()
        {
            request.metadata_mut().insert(name, value);
        }
    }
}
