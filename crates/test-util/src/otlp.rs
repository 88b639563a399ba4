//! A real OTLP/gRPC trace receiver on 127.0.0.1 (the collector's `TraceService` of
//! `opentelemetry-proto`), keeping the spans it is sent: point a process at it with
//! `OTEL_EXPORTER_OTLP_ENDPOINT=<endpoint()>` and assert on what arrives.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use std::time::Duration;
//! let receiver = agentry_test_util::OtlpReceiver::start().await?;
//! // ... run something exporting to receiver.endpoint() ...
//! let spans = receiver
//!     .wait_for("the spawn span", Duration::from_secs(10), |spans| spans.iter().any(|span| span.name.ends_with("/Spawn")))
//!     .await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue as AnyValueMessage, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// The largest export request accepted (the exporter's batches are far smaller).
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// One span as the receiver got it; ids are lowercase hex.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// The `service.name` of the span's resource (empty when missing).
    pub service_name: String,
    /// The trace id (32 hex digits).
    pub trace_id: String,
    /// The span id (16 hex digits).
    pub span_id: String,
    /// The parent span id (16 hex digits), empty for a root span.
    pub parent_span_id: String,
    /// The span name (e.g. `agentry.v1.AgentHub/Spawn`).
    pub name: String,
    /// The OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    /// The attributes: strings, integers, doubles, booleans, arrays (and key-value lists as
    /// objects, bytes as hex strings) mapped to JSON.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// The links: (trace id, span id) in hex.
    pub links: Vec<(String, String)>,
    /// The OTLP status code: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    /// Start time, nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End time, nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
}

impl ReceivedSpan {
    /// Returns the string attribute `key`, if it is one.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key)?.as_str()
    }

    /// Returns the integer attribute `key`, if it is one.
    pub fn attr_i64(&self, key: &str) -> Option<i64> {
        self.attributes.get(key)?.as_i64()
    }
}

/// What the service and the handle share.
struct Shared {
    /// Whether spans are kept (else only counted).
    keep_spans: bool,
    spans: Mutex<Vec<ReceivedSpan>>,
    span_count: AtomicUsize,
    exports: AtomicUsize,
    /// Bumped after each export request, to wake [`OtlpReceiver::wait_for`].
    version: watch::Sender<u64>,
}

/// An OTLP/gRPC trace receiver on `127.0.0.1:<free port>`; stops when dropped.
pub struct OtlpReceiver {
    endpoint: String,
    shared: Arc<Shared>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    /// Starts a receiver that keeps every span it receives.
    ///
    /// Errors when no local port can be bound.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(true).await
    }

    /// Starts a receiver that only counts spans and requests (for load: nothing is kept, so
    /// [`OtlpReceiver::spans`] stays empty).
    ///
    /// Errors when no local port can be bound.
    pub async fn start_counting() -> anyhow::Result<Self> {
        Self::start_with(false).await
    }

    async fn start_with(keep_spans: bool) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the OTLP receiver")?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            keep_spans,
            spans: Mutex::new(Vec::new()),
            span_count: AtomicUsize::new(0),
            exports: AtomicUsize::new(0),
            version: watch::Sender::new(0),
        });
        let service = TraceServiceServer::new(Collector(shared.clone())).max_decoding_message_size(MAX_REQUEST_BYTES);
        let stop = CancellationToken::new();
        let server = Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), stop.clone().cancelled_owned());
        let task = tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::warn!(%error, "the OTLP test receiver stopped");
            }
        });
        Ok(Self { endpoint: format!("http://{address}"), shared, stop, task })
    }

    /// Returns the endpoint to export to: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Returns the spans received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        lock(&self.shared.spans).clone()
    }

    /// Returns how many spans were received (kept or not).
    pub fn span_count(&self) -> usize {
        self.shared.span_count.load(Ordering::Relaxed)
    }

    /// Returns how many export requests were received.
    pub fn exports(&self) -> usize {
        self.shared.exports.load(Ordering::Relaxed)
    }

    /// Waits until `predicate` holds for the spans received so far (checked now and after each
    /// export request), for up to `timeout`, and returns them.
    ///
    /// Errors on timeout, naming `what` and listing the spans received.
    pub async fn wait_for<F>(&self, what: &str, timeout: Duration, predicate: F) -> anyhow::Result<Vec<ReceivedSpan>>
    where
        F: Fn(&[ReceivedSpan]) -> bool,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.shared.version.subscribe();
        loop {
            // Subscribed before looking, so an export after the look wakes the wait.
            changes.borrow_and_update();
            let spans = self.spans();
            if predicate(&spans) {
                return Ok(spans);
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                let received: Vec<String> = spans
                    .iter()
                    .map(|span| {
                        format!(
                            "{} [{}] trace={} span={} parent={} {:?}",
                            span.name,
                            span.service_name,
                            span.trace_id,
                            span.span_id,
                            span.parent_span_id,
                            span.attributes
                        )
                    })
                    .collect();
                anyhow::bail!(
                    "timed out after {timeout:?} waiting for {what}; {} export request(s), spans received: {received:#?}",
                    self.exports()
                );
            }
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.stop.cancel();
        self.task.abort();
    }
}

/// The `TraceService` implementation.
struct Collector(Arc<Shared>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        let mut received = Vec::new();
        let mut count = 0;
        for resource_spans in request.resource_spans {
            let service_name = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| resource.attributes.iter().find(|pair| pair.key == "service.name"))
                .and_then(|pair| match pair.value.as_ref()?.value.as_ref()? {
                    AnyValue::StringValue(name) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                count += scope_spans.spans.len();
                if self.0.keep_spans {
                    received.extend(scope_spans.spans.into_iter().map(|span| convert(&service_name, span)));
                }
            }
        }
        lock(&self.0.spans).extend(received);
        self.0.span_count.fetch_add(count, Ordering::Relaxed);
        self.0.exports.fetch_add(1, Ordering::Relaxed);
        self.0.version.send_modify(|version| *version += 1);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn convert(service_name: &str, span: Span) -> ReceivedSpan {
    ReceivedSpan {
        service_name: service_name.to_owned(),
        trace_id: hex(&span.trace_id),
        span_id: hex(&span.span_id),
        parent_span_id: hex(&span.parent_span_id),
        name: span.name,
        kind: span.kind,
        attributes: attributes(span.attributes),
        links: span.links.iter().map(|link| (hex(&link.trace_id), hex(&link.span_id))).collect(),
        status_code: span.status.map(|status| status.code).unwrap_or_default(),
        start_unix_nanos: span.start_time_unix_nano,
        end_unix_nanos: span.end_time_unix_nano,
    }
}

fn attributes(pairs: Vec<KeyValue>) -> BTreeMap<String, serde_json::Value> {
    pairs.into_iter().map(|pair| (pair.key, json(pair.value))).collect()
}

fn json(value: Option<AnyValueMessage>) -> serde_json::Value {
    use serde_json::Value;
    match value.and_then(|value| value.value) {
        None => Value::Null,
        Some(AnyValue::StringValue(text)) => Value::String(text),
        Some(AnyValue::BoolValue(flag)) => Value::Bool(flag),
        Some(AnyValue::IntValue(number)) => Value::from(number),
        Some(AnyValue::DoubleValue(number)) => serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number),
        Some(AnyValue::ArrayValue(array)) => {
            Value::Array(array.values.into_iter().map(|item| json(Some(item))).collect())
        }
        Some(AnyValue::KvlistValue(list)) => {
            Value::Object(list.values.into_iter().map(|pair| (pair.key, json(pair.value))).collect())
        }
        Some(AnyValue::BytesValue(bytes)) => Value::String(hex(&bytes)),
        Some(other) => Value::String(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use agentry_core::TraceParent;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_exported_over_otlp_arrive_with_their_ids_and_attributes() {
        let receiver = OtlpReceiver::start().await.unwrap();
        let provider = agentry_telemetry::tracer_provider("agentry-otlp-test", Some(&receiver.endpoint())).unwrap();
        let subscriber = tracing_subscriber::registry().with(agentry_telemetry::otel_layer(&provider));
        let parent = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let request = tonic::codegen::http::Request::builder()
            .uri("/agentry.v1.AgentHub/Spawn")
            .header("traceparent", parent.to_string())
            .body(())
            .unwrap();
        let (run_span, rpc_parent) = tracing::subscriber::with_default(subscriber, || {
            let run = tracing::info_span!("execute_run", run_id = "r1", step = 3_i64, ok = true);
            agentry_telemetry::propagation::set_parent(&run, &parent);
            let run_parent = run.in_scope(|| {
                tracing::info_span!("model_call", model = "m").in_scope(|| {});
                agentry_telemetry::propagation::current().unwrap()
            });
            // A server span made like the hub's, under a caller's traceparent (export is not
            // enabled globally here, so the parent is set by hand).
            let rpc = tracing::info_span!("rpc", otel.name = "agentry.v1.AgentHub/Spawn", otel.kind = "server");
            agentry_telemetry::propagation::set_parent(
                &rpc,
                &agentry_telemetry::propagation::extract(request.headers()).unwrap(),
            );
            rpc.in_scope(|| {});
            (run_parent, agentry_telemetry::propagation::trace_parent_of(&rpc).unwrap())
        });
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await.unwrap();
        assert!(flushed.is_ok(), "{flushed:?}");

        let spans = receiver.wait_for("three spans", Duration::from_secs(10), |spans| spans.len() >= 3).await.unwrap();
        let by_name =
            |name: &str| spans.iter().find(|span| span.name == name).unwrap_or_else(|| panic!("{name}: {spans:#?}"));
        let run = by_name("execute_run");
        let model = by_name("model_call");
        let rpc = by_name("agentry.v1.AgentHub/Spawn");
        assert_eq!(run.service_name, "agentry-otlp-test");
        assert_eq!(run.trace_id, parent.trace_id_hex());
        assert_eq!(run.parent_span_id, parent.span_id_hex());
        assert_eq!(run.span_id, run_span.span_id_hex());
        assert_eq!(run.attr_str("run_id"), Some("r1"));
        assert_eq!(run.attr_i64("step"), Some(3));
        assert_eq!(run.attributes.get("ok"), Some(&serde_json::Value::Bool(true)));
        assert_eq!(model.trace_id, parent.trace_id_hex());
        assert_eq!(model.parent_span_id, run.span_id);
        assert_eq!(model.attr_str("model"), Some("m"));
        assert_eq!(rpc.kind, 2, "server");
        assert_eq!(rpc.span_id, rpc_parent.span_id_hex());
        assert!(run.end_unix_nanos >= run.start_unix_nanos && run.start_unix_nanos > 0);
        assert!(receiver.exports() >= 1);
        assert_eq!(receiver.span_count(), spans.len());
    }

    #[tokio::test]
    async fn a_wait_that_times_out_says_what_arrived() {
        let receiver = OtlpReceiver::start().await.unwrap();
        let error =
            receiver.wait_for("a span", Duration::from_millis(20), |spans| !spans.is_empty()).await.unwrap_err();
        assert!(error.to_string().contains("waiting for a span; 0 export request(s)"), "{error}");
    }
}
