//! W3C trace-context propagation between `tracing` spans and the wire: the `traceparent` (and
//! `tracestate`) of gRPC metadata and HTTP headers, and the server span of each gRPC request.
//!
//! Everything here is a cheap no-op when spans are not exported (no OpenTelemetry layer): the
//! ids of a span exist only when the layer of [`crate::otel_layer`] saw it.

use agentry_core::TraceParent;
use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{AsciiMetadataValue, MetadataKey, MetadataMap};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::init::export_enabled;

/// The W3C header (and gRPC metadata key) of the parent span.
pub const TRACEPARENT: &str = agentry_core::trace_context::TRACEPARENT_HEADER;

/// Returns the trace context of the current span (`tracing::Span::current()`), or `None` when
/// spans are not exported or the current span is not an exported one.
pub fn current() -> Option<TraceParent> {
    trace_parent_of(&Span::current())
}

/// Returns [`current`] when [`crate::init`] enabled export, else `None` at once (no span
/// lookup): for hot paths of processes set up by `init`.
pub fn current_if_exported() -> Option<TraceParent> {
    if export_enabled() { current() } else { None }
}

/// Returns the trace context of `span` (its trace id and its own span id), or `None` when it
/// is not an exported span. Starts the OpenTelemetry span if it was not entered yet, so set its
/// parent first.
pub fn trace_parent_of(span: &Span) -> Option<TraceParent> {
    trace_parent(span.context().span().span_context())
}

/// Makes `parent` (a remote span, e.g. from a `traceparent` header or a stored run) the
/// OpenTelemetry parent of `span`. Must be called before `span` is first entered; a no-op when
/// spans are not exported or `span` is not an exported span.
pub fn set_parent(span: &Span, parent: &TraceParent) {
    // Errors only say the span is not exported or already started: nothing to do then.
    let _ = OpenTelemetrySpanExt::set_parent(span, remote_context(parent));
}

/// Inserts the `traceparent` (and `tracestate`) of [`current`] into gRPC request metadata;
/// does nothing when spans are not exported.
pub fn inject(metadata: &mut MetadataMap) {
    if export_enabled() {
        inject_context(&Span::current().context(), &mut MetadataInjector(metadata));
    }
}

/// Inserts the `traceparent` (and `tracestate`) of [`current`] into HTTP headers; does nothing
/// when spans are not exported.
pub fn inject_headers(headers: &mut http::HeaderMap) {
    if export_enabled() {
        inject_context(&Span::current().context(), &mut HeaderInjector(headers));
    }
}

/// Inserts the `traceparent` (and `tracestate`) of `span` into gRPC request metadata, whether
/// or not [`crate::init`] enabled export (for a span of an explicitly built subscriber); does
/// nothing when `span` is not an exported span.
pub fn inject_span(span: &Span, metadata: &mut MetadataMap) {
    inject_context(&span.context(), &mut MetadataInjector(metadata));
}

/// Returns the W3C-valid `traceparent` of HTTP headers (or of gRPC metadata turned into
/// headers), or `None` when it is missing or malformed.
pub fn extract(headers: &http::HeaderMap) -> Option<TraceParent> {
    TraceParent::parse(headers.get(TRACEPARENT)?.to_str().ok()?)
}

/// Returns the W3C-valid `traceparent` of gRPC metadata (in a tonic handler:
/// `request.metadata()`), or `None` when it is missing or malformed.
pub fn extract_metadata(metadata: &MetadataMap) -> Option<TraceParent> {
    TraceParent::parse(metadata.get(TRACEPARENT)?.to_str().ok()?)
}

/// Returns the span of one gRPC request, for tonic's `Server::builder().trace_fn(...)`: an INFO
/// span named `rpc` with `rpc.service` and `rpc.method` (e.g. `agentry.v1.AgentHub` and
/// `Spawn`). When spans are exported it is also a server span named after the path
/// (`otel.name` = `agentry.v1.AgentHub/Spawn`, `otel.kind` = `server`, `rpc.system` = `grpc`)
/// whose parent is the request's `traceparent`, if any.
pub fn grpc_server_span(request: &http::Request<()>) -> Span {
    server_span(request, export_enabled())
}

/// Returns the span of [`grpc_server_span`], with the OpenTelemetry fields when `exported`.
pub(crate) fn server_span(request: &http::Request<()>, exported: bool) -> Span {
    let path = request.uri().path();
    let name = path.strip_prefix('/').unwrap_or(path);
    let (service, method) = name.split_once('/').unwrap_or((name, ""));
    if !exported {
        return tracing::info_span!("rpc", rpc.service = service, rpc.method = method);
    }
    let span = tracing::info_span!(
        "rpc",
        otel.name = name,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
    );
    if let Some(parent) = extract(request.headers()) {
        set_parent(&span, &parent);
    }
    span
}

/// A tonic client interceptor that sends the trace context of the calling span (see
/// [`inject`]): `Client::with_interceptor(channel, TraceInterceptor)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceInterceptor;

impl tonic::service::Interceptor for TraceInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        inject(request.metadata_mut());
        Ok(request)
    }
}

/// Returns `span_context` as a `TraceParent` when it is valid.
fn trace_parent(span_context: &SpanContext) -> Option<TraceParent> {
    if !span_context.is_valid() {
        return None;
    }
    TraceParent::new(span_context.trace_id().to_bytes(), span_context.span_id().to_bytes(), span_context.is_sampled())
}

/// Returns an OpenTelemetry context whose span is the remote `parent`.
fn remote_context(parent: &TraceParent) -> opentelemetry::Context {
    let flags = if parent.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
    let span_context = SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.span_id),
        flags,
        true,
        TraceState::default(),
    );
    opentelemetry::Context::new().with_remote_span_context(span_context)
}

fn inject_context(context: &opentelemetry::Context, injector: &mut dyn Injector) {
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(context, injector);
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (MetadataKey::from_bytes(key.as_bytes()), value.parse::<AsciiMetadataValue>()) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) =
            (http::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::from_str(&value))
        {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::SpanKind;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::testing::collecting_provider;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_span_with_a_remote_parent_joins_its_trace() {
        let (provider, collected) = collecting_provider();
        let subscriber = tracing_subscriber::registry().with(crate::otel_layer(&provider));
        let parent = TraceParent::parse(PARENT).unwrap();
        let (outer, inner) = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("execute_run");
            set_parent(&span, &parent);
            let _entered = span.enter();
            let child = tracing::info_span!("model_call");
            let _child = child.enter();
            (trace_parent_of(&span).unwrap(), current().unwrap())
        });
        assert_eq!(outer.trace_id, parent.trace_id);
        assert_eq!(inner.trace_id, parent.trace_id);
        assert_ne!(inner.span_id, outer.span_id, "current() is the innermost span");
        let spans = collected.spans();
        let execute = spans.iter().find(|span| span.name == "execute_run").unwrap();
        let model = spans.iter().find(|span| span.name == "model_call").unwrap();
        assert_eq!(execute.span_context.trace_id().to_bytes(), parent.trace_id);
        assert_eq!(execute.parent_span_id.to_bytes(), parent.span_id);
        assert!(execute.parent_span_is_remote);
        assert_eq!(model.parent_span_id, execute.span_context.span_id());
    }

    #[test]
    fn inject_and_extract_round_trip() {
        let (provider, _collected) = collecting_provider();
        let subscriber = tracing_subscriber::registry().with(crate::otel_layer(&provider));
        let (sent, metadata) = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("spawn");
            let mut metadata = MetadataMap::new();
            inject_span(&span, &mut metadata);
            (trace_parent_of(&span).unwrap(), metadata)
        });
        assert_eq!(metadata.get(TRACEPARENT).unwrap().to_str().unwrap(), sent.to_string());
        assert_eq!(extract_metadata(&metadata), Some(sent));
        assert_eq!(extract(&metadata.into_headers()), Some(sent));
    }

    #[test]
    fn nothing_is_injected_or_extracted_without_context() {
        let mut metadata = MetadataMap::new();
        inject(&mut metadata);
        inject_span(&Span::none(), &mut metadata);
        assert!(metadata.is_empty());
        assert_eq!(current(), None);
        let mut headers = http::HeaderMap::new();
        headers.insert(TRACEPARENT, http::HeaderValue::from_static("00-zz-00f067aa0ba902b7-01"));
        assert_eq!(extract(&headers), None);
    }

    #[test]
    fn a_grpc_request_span_is_a_server_span_under_the_callers_traceparent() {
        let (provider, collected) = collecting_provider();
        let subscriber = tracing_subscriber::registry().with(crate::otel_layer(&provider));
        let request = http::Request::builder()
            .uri("http://hub:7000/agentry.v1.AgentHub/Spawn")
            .header(TRACEPARENT, PARENT)
            .body(())
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let span = server_span(&request, true);
            span.in_scope(|| tracing::info_span!("validate").in_scope(|| {}));
        });
        let spans = collected.spans();
        let rpc = spans.iter().find(|span| span.name == "agentry.v1.AgentHub/Spawn").expect("the rpc span");
        let parent = TraceParent::parse(PARENT).unwrap();
        assert_eq!(rpc.span_kind, SpanKind::Server);
        assert_eq!(rpc.span_context.trace_id().to_bytes(), parent.trace_id);
        assert_eq!(rpc.parent_span_id.to_bytes(), parent.span_id);
        let attribute =
            |key: &str| rpc.attributes.iter().find(|pair| pair.key.as_str() == key).map(|pair| pair.value.to_string());
        assert_eq!(attribute("rpc.system").as_deref(), Some("grpc"));
        assert_eq!(attribute("rpc.service").as_deref(), Some("agentry.v1.AgentHub"));
        assert_eq!(attribute("rpc.method").as_deref(), Some("Spawn"));
        let validate = spans.iter().find(|span| span.name == "validate").unwrap();
        assert_eq!(validate.parent_span_id, rpc.span_context.span_id());
    }

    #[test]
    fn without_export_the_request_span_only_names_the_method() {
        let request = http::Request::builder().uri("/agentry.v1.AgentHub/Spawn").body(()).unwrap();
        let span = tracing::subscriber::with_default(tracing_subscriber::registry(), || server_span(&request, false));
        let fields = span.metadata().expect("enabled").fields();
        assert!(fields.field("rpc.method").is_some() && fields.field("otel.name").is_none());
    }
}
