//! [`RpcMetricsLayer`]: a tower layer around the hub's gRPC services that records each call's
//! handling time (`agentry_rpc_duration_seconds{method}`) and error status
//! (`agentry_rpc_errors_total{method,code}`).
//!
//! The status is read from the response headers: tonic answers a failed unary call (and a
//! stream refused before its first message) "trailers-only", with `grpc-status` in the headers.
//! An error a stream ends with later (in its trailers) is not counted; a stream's duration is
//! the time to its first response headers.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::Code;
use tonic::codegen::{Service, http};
use tower::Layer;

use crate::audit::context::code_name;
use crate::metrics::HubMetrics;

/// Wraps a service in [`RpcMetrics`].
#[derive(Clone)]
pub struct RpcMetricsLayer {
    metrics: HubMetrics,
}

impl RpcMetricsLayer {
    /// Returns a layer recording into `metrics`.
    pub fn new(metrics: HubMetrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner, metrics: self.metrics.clone() }
    }
}

/// A gRPC service whose calls are measured.
#[derive(Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    metrics: HubMetrics,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, RequestBody, ResponseBody> Service<http::Request<RequestBody>> for RpcMetrics<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let method = method_of(request.uri().path());
        let started = Instant::now();
        let call = self.inner.call(request);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let answered = call.await;
            let code = match &answered {
                Ok(response) => status_of(response.headers()),
                Err(_) => Code::Unknown,
            };
            // A method the hub does not serve gets no series of its own (its name is the
            // caller's choice): it is counted under `unknown`.
            let method = if code == Code::Unimplemented { "unknown".to_owned() } else { method };
            record_rpc(&metrics, &method, started, code);
            answered
        })
    }
}

/// Records one call of `method` (a `Service/Method` label, see [`method_of`]) that started at
/// `started` and ended with `code`: its duration, and an error when `code` is not OK. The JSON
/// gateway records its calls here too, under the same labels.
pub fn record_rpc(metrics: &HubMetrics, method: &str, started: Instant, code: Code) {
    metrics.rpc_duration.with_label_values(&[method]).observe(started.elapsed().as_secs_f64());
    if code != Code::Ok {
        metrics.rpc_errors.with_label_values(&[method, code_name(code)]).inc();
    }
}

/// Returns the `method` label of a gRPC path: `Service/Method` without the package
/// (`/agentry.v1.AgentHub/Spawn` → `AgentHub/Spawn`).
pub fn method_of(path: &str) -> String {
    let path = path.trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    let service = service.rsplit('.').next().unwrap_or(service);
    format!("{service}/{method}")
}

/// Returns the status of a response from its `grpc-status` header (OK when absent: the status
/// comes in the trailers of a call that went through).
fn status_of(headers: &http::HeaderMap) -> Code {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_named_without_their_package() {
        assert_eq!(method_of("/agentry.v1.AgentHub/Spawn"), "AgentHub/Spawn");
        assert_eq!(method_of("/grpc.health.v1.Health/Check"), "Health/Check");
        assert_eq!(method_of("/odd"), "odd/");
    }

    #[test]
    fn the_status_is_read_from_trailers_only_headers() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(status_of(&headers), Code::Ok);
        headers.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(status_of(&headers), Code::NotFound);
        assert_eq!(code_name(status_of(&headers)), "NOT_FOUND");
    }
}
