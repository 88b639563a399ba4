//! Installing the process's telemetry: the global `tracing` subscriber (log lines on stderr,
//! filtered by `RUST_LOG`) and, when an OTLP endpoint is configured, OpenTelemetry span export
//! over gRPC.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Key, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterFn, Filtered, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::error::TelemetryError;
use crate::log_format::{CaptureDispatch, DispatchCell, WithTraceIds};

/// How long [`TelemetryGuard::shutdown`] waits for pending spans to be exported.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Target prefixes of our crates: only their spans become OpenTelemetry spans.
const EXPORTED_TARGETS: [&str; 3] = ["agentry", "agent_hub", "agent_node"];

/// Whether [`init`] installed span export (read by [`export_enabled`]).
static EXPORT_ENABLED: AtomicBool = AtomicBool::new(false);

/// How log lines look (the CLI's `--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event (coloured when stderr is a terminal).
    #[default]
    Text,
    /// One JSON object per event: `timestamp`, `level`, `target`, `fields` (with `message`),
    /// `span` and `spans`, and `trace_id`/`span_id` inside an exported span.
    Json,
}

/// What [`init`] installs.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// How log lines look.
    pub log_format: LogFormat,
    /// The log filter when `RUST_LOG` is unset or blank (`EnvFilter` syntax, e.g. `"info"`).
    pub default_level: &'static str,
    /// The `service.name` of exported spans when neither `OTEL_SERVICE_NAME` nor
    /// `OTEL_RESOURCE_ATTRIBUTES` names one (e.g. `"agentry-hub"`).
    pub service_name: &'static str,
}

/// Returns whether spans are exported: [`init`] found an OTLP endpoint and installed the
/// exporter. One atomic load.
pub fn export_enabled() -> bool {
    EXPORT_ENABLED.load(Ordering::Relaxed)
}

/// Installs the process's telemetry and returns the guard that flushes it.
///
/// - Logs: `config.log_format` lines on stderr (ANSI colours only on a terminal), filtered by
///   `RUST_LOG` or `config.default_level`.
/// - Spans: when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set
///   and not blank, and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none`, the
///   INFO-or-above spans of our crates (and their WARN-or-above events, as span events) are
///   exported over OTLP/gRPC by a batch processor (a background thread; `OTEL_BSP_*`,
///   `OTEL_EXPORTER_OTLP_*_{HEADERS,TIMEOUT,COMPRESSION}`, `OTEL_TRACES_SAMPLER[_ARG]`,
///   `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` honoured), whatever `RUST_LOG` says.
///   Otherwise there is no OpenTelemetry layer at all.
/// - Propagation: the global text-map propagator is W3C trace context.
///
/// Must be called once, inside a multi-thread Tokio runtime (`let _entered = runtime.enter();`)
/// that outlives the returned guard: the gRPC exporter's connection runs on it. Call
/// [`TelemetryGuard::shutdown`] before the runtime stops.
///
/// Errors when `RUST_LOG` does not parse, the exporter cannot be built (malformed or `https`
/// endpoint), export is requested outside a runtime, or a global subscriber already exists.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref(), config.default_level)?;
    let provider = if export_requested(|name| std::env::var(name).ok()) {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(TelemetryError::NoRuntime);
        }
        Some(tracer_provider(config.service_name, None)?)
    } else {
        None
    };
    let ansi = std::io::stderr().is_terminal();
    let subscriber = subscriber(config.log_format, filter, std::io::stderr, ansi, provider.as_ref());
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|error| TelemetryError::AlreadyInstalled(error.to_string()))?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    // The global tracer provider is left unset: our layer has its own tracer, and setting it
    // logs an INFO line at every start.
    if provider.is_some() {
        EXPORT_ENABLED.store(true, Ordering::Relaxed);
    }
    Ok(TelemetryGuard { provider })
}

/// Keeps span export running; [`TelemetryGuard::shutdown`] (or dropping it) flushes the spans
/// not yet exported, waiting at most [`SHUTDOWN_TIMEOUT`].
#[derive(Debug)]
#[must_use = "dropping the guard stops span export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Returns whether this guard exports spans.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the pending spans and stops export, blocking the calling thread for at most
    /// [`SHUTDOWN_TIMEOUT`]; logs a warning when that fails. Call it outside async code (or in
    /// `spawn_blocking`), while the runtime `init` ran in is still up.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        EXPORT_ENABLED.store(false, Ordering::Relaxed);
        if let Err(error) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!(%error, "could not flush the pending spans to the OTLP collector");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Returns the OTLP/gRPC tracer provider [`init`] installs: a batch span processor (settings
/// from `OTEL_BSP_*`) over the tonic span exporter, sending to `endpoint` when given, else to
/// the endpoint of `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (default `http://localhost:4317`); `service.name` from the environment, else
/// `fallback_service_name`.
///
/// Must be called inside a Tokio runtime (the channel is created there). Shut the provider
/// down (`SdkTracerProvider::shutdown`, blocking) to flush it. Errors when the exporter cannot
/// be built.
pub fn tracer_provider(
    fallback_service_name: &str,
    endpoint: Option<&str>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    let exporter = builder.build().map_err(|error| TelemetryError::Exporter(error.to_string()))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(fallback_service_name))
        .build())
}

/// Returns the layer that turns spans into OpenTelemetry spans of `provider`, with its own
/// filter: only spans of our crates (targets `agentry*`, `agent_hub*`, `agent_node*`) at INFO or
/// above, and their WARN-or-above events (as span events; an ERROR event marks its span as
/// failed). Code location, thread and busy/idle attributes are left out to bound the cost.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> OtelLayer<S>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    let filter: FilterFn<fn(&Metadata<'_>) -> bool> =
        FilterFn::new(is_exported as fn(&Metadata<'_>) -> bool).with_max_level_hint(LevelFilter::INFO);
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("agentry"))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        // Activation attaches the span's OpenTelemetry context on every enter — every poll of
        // an instrumented future — which costs more than all else here; the context is read
        // from the current `tracing` span instead (`propagation::current`).
        .with_context_activation(false)
        .with_filter(filter)
}

/// The layer of [`otel_layer`]: the OpenTelemetry layer under its own filter.
pub type OtelLayer<S> =
    Filtered<tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>, FilterFn<fn(&Metadata<'_>) -> bool>, S>;

/// Returns whether a callsite is one the OpenTelemetry layer sees.
fn is_exported(metadata: &Metadata<'_>) -> bool {
    // The level first: most callsites (debug and trace) stop at one comparison.
    let threshold = if metadata.is_span() { Level::INFO } else { Level::WARN };
    *metadata.level() <= threshold && EXPORTED_TARGETS.iter().any(|prefix| metadata.target().starts_with(prefix))
}

/// Returns the filter of `RUST_LOG`, or `default_level` when it is unset or blank.
///
/// Errors when `RUST_LOG` is set but does not parse, naming it.
pub(crate) fn log_filter(rust_log: Option<&str>, default_level: &str) -> Result<EnvFilter, TelemetryError> {
    match rust_log.map(str::trim).filter(|directives| !directives.is_empty()) {
        Some(directives) => EnvFilter::try_new(directives).map_err(|error| TelemetryError::InvalidRustLog {
            directives: directives.to_owned(),
            message: error.to_string(),
        }),
        None => Ok(EnvFilter::new(default_level)),
    }
}

/// Returns whether the environment (`var`) asks for span export.
pub(crate) fn export_requested(var: impl Fn(&str) -> Option<String>) -> bool {
    let is_set = |name: &str| var(name).is_some_and(|value| !value.trim().is_empty());
    let is = |name: &str, expected: &str| var(name).is_some_and(|value| value.trim().eq_ignore_ascii_case(expected));
    let endpoint = is_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || is_set("OTEL_EXPORTER_OTLP_ENDPOINT");
    endpoint && !is("OTEL_SDK_DISABLED", "true") && !is("OTEL_TRACES_EXPORTER", "none")
}

/// Returns the resource of exported spans: the SDK's detectors (`OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES`, `telemetry.sdk.*`), `service.name` = `fallback_service_name`
/// when the environment names no service.
fn resource(fallback_service_name: &str) -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder().with_attribute(KeyValue::new("service.name", fallback_service_name.to_owned())).build()
    }
}

/// Returns the subscriber [`init`] installs: logs through `writer`, and spans to `provider`.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
    provider: Option<&SdkTracerProvider>,
) -> impl Subscriber + Send + Sync + for<'lookup> LookupSpan<'lookup>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    tracing_subscriber::registry()
        .with(log_layer(format, filter, writer, ansi, provider.is_some()))
        .with(provider.map(otel_layer))
}

/// Returns the log layer, with `filter` as its own (per-layer) filter so that `RUST_LOG` does
/// not limit which spans are exported; `trace_ids` adds the OTel ids to lines.
fn log_layer<S, W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
    trace_ids: bool,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    let dispatch = DispatchCell::default();
    let capture = CaptureDispatch(dispatch.clone());
    match (format, trace_ids) {
        (LogFormat::Text, false) => layer.with_ansi(ansi).with_filter(filter).boxed(),
        (LogFormat::Text, true) => layer
            .with_ansi(ansi)
            .event_format(WithTraceIds { inner: tracing_subscriber::fmt::format().with_ansi(ansi), format, dispatch })
            .with_filter(filter)
            .and_then(capture)
            .boxed(),
        (LogFormat::Json, false) => {
            layer.json().with_current_span(true).with_span_list(true).with_filter(filter).boxed()
        }
        (LogFormat::Json, true) => layer
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .map_event_format(|inner| WithTraceIds { inner, format, dispatch })
            .with_filter(filter)
            .and_then(capture)
            .boxed(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use agentry_core::TraceParent;
    use opentelemetry::trace::SpanKind;

    use super::*;
    use crate::propagation;
    use crate::testing::{Buffer, collecting_provider};

    fn logged(
        format: LogFormat,
        rust_log: Option<&str>,
        provider: Option<&SdkTracerProvider>,
    ) -> (String, Option<TraceParent>) {
        let buffer = Buffer::default();
        let subscriber = subscriber(format, log_filter(rust_log, "info").unwrap(), buffer.clone(), false, provider);
        let parent = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("invoke_agent", run_id = "r1");
            let _entered = span.enter();
            tracing::info!(node_id = "n1", "run started");
            tracing::debug!("hidden at info");
            propagation::trace_parent_of(&span)
        });
        (buffer.text(), parent)
    }

    fn json_lines(text: &str) -> Vec<serde_json::Value> {
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    #[test]
    fn json_lines_carry_the_message_fields_and_spans() {
        let (text, parent) = logged(LogFormat::Json, None, None);
        assert_eq!(parent, None, "no OTel layer, no context");
        let lines = json_lines(&text);
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["fields"]["message"], "run started");
        assert_eq!(lines[0]["fields"]["node_id"], "n1");
        assert_eq!(lines[0]["span"]["name"], "invoke_agent");
        assert_eq!(lines[0]["spans"][0]["run_id"], "r1");
        assert!(lines[0].get("trace_id").is_none(), "{text}");
    }

    #[test]
    fn text_lines_and_rust_log_filters() {
        let (text, _) = logged(LogFormat::Text, Some("debug"), None);
        assert!(
            text.contains("invoke_agent{run_id=\"r1\"}: ") && text.contains("run started node_id=\"n1\""),
            "{text}"
        );
        assert!(text.contains("hidden at info"), "RUST_LOG=debug shows debug lines: {text}");
        assert!(logged(LogFormat::Text, Some("warn"), None).0.is_empty());
    }

    #[test]
    fn a_bad_rust_log_is_named() {
        let error = log_filter(Some("info,agent_hub=loud"), "info").unwrap_err().to_string();
        assert!(error.starts_with("RUST_LOG=\"info,agent_hub=loud\": "), "{error}");
        assert!(log_filter(Some("  "), "info").is_ok(), "blank means unset");
    }

    #[test]
    fn json_lines_inside_an_exported_span_carry_its_trace_and_span_ids() {
        let provider = SdkTracerProvider::builder().build();
        let (text, parent) = logged(LogFormat::Json, None, Some(&provider));
        let parent = parent.expect("the span has an OTel context");
        let lines = json_lines(&text);
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["trace_id"], parent.trace_id_hex(), "{text}");
        assert_eq!(lines[0]["span_id"], parent.span_id_hex(), "{text}");
        assert_eq!(lines[0]["fields"]["message"], "run started");
        assert_eq!(lines[0]["span"]["name"], "invoke_agent");
        assert_eq!(lines[0]["spans"][0]["run_id"], "r1");
    }

    #[test]
    fn text_lines_inside_an_exported_span_end_with_its_ids() {
        let provider = SdkTracerProvider::builder().build();
        let (text, parent) = logged(LogFormat::Text, None, Some(&provider));
        let parent = parent.expect("the span has an OTel context");
        let expected =
            format!("run started node_id=\"n1\" trace_id={} span_id={}\n", parent.trace_id_hex(), parent.span_id_hex());
        assert!(text.ends_with(&expected), "{text}");
    }

    #[test]
    fn lines_in_spans_the_exporter_skips_name_the_nearest_exported_ancestor() {
        let provider = SdkTracerProvider::builder().build();
        let buffer = Buffer::default();
        let subscriber = subscriber(
            LogFormat::Json,
            log_filter(Some("debug"), "info").unwrap(),
            buffer.clone(),
            false,
            Some(&provider),
        );
        let parent = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("invoke_agent");
            let _entered = span.enter();
            let foreign = tracing::info_span!(target: "hyper::proto", "connection");
            let _foreign = foreign.enter();
            let detail = tracing::debug_span!("detail");
            let _detail = detail.enter();
            assert_eq!(propagation::trace_parent_of(&foreign), None, "not an OTel span");
            tracing::info!("inside");
            propagation::trace_parent_of(&span).expect("exported")
        });
        let lines = json_lines(&buffer.text());
        assert_eq!(lines[0]["span_id"], parent.span_id_hex());
        assert_eq!(lines[0]["span"]["name"], "detail");
    }

    #[test]
    fn our_spans_are_exported_whatever_rust_log_says_and_foreign_ones_never() {
        let (provider, collected) = collecting_provider();
        let buffer = Buffer::default();
        let subscriber = subscriber(
            LogFormat::Text,
            log_filter(Some("error"), "info").unwrap(),
            buffer.clone(),
            false,
            Some(&provider),
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("invoke_agent", run_id = "r1");
            let _entered = span.enter();
            tracing::info_span!(target: "h2::codec", "frame").in_scope(|| {});
            tracing::debug_span!("step").in_scope(|| {});
            tracing::warn!("slow model");
        });
        assert!(buffer.text().is_empty(), "RUST_LOG=error hides the lines");
        let spans = collected.spans();
        let names: Vec<&str> = spans.iter().map(|span| span.name.as_ref()).collect();
        assert_eq!(names, ["invoke_agent"]);
        let attributes: HashMap<String, String> =
            spans[0].attributes.iter().map(|pair| (pair.key.to_string(), pair.value.to_string())).collect();
        assert_eq!(attributes.get("run_id").map(String::as_str), Some("r1"));
        assert_eq!(spans[0].span_kind, SpanKind::Internal);
        assert_eq!(spans[0].events.len(), 1, "the WARN event is a span event");
    }

    #[test]
    fn export_needs_an_endpoint_and_no_opt_out() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
        };
        assert!(!export_requested(env(&[])));
        assert!(!export_requested(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])));
        assert!(export_requested(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")])));
        assert!(export_requested(env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4317")])));
        assert!(!export_requested(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ])));
        assert!(!export_requested(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ])));
    }

    #[test]
    fn the_service_name_falls_back_to_the_configured_one() {
        // OTEL_SERVICE_NAME is not set in the test environment.
        if std::env::var_os("OTEL_SERVICE_NAME").is_some() || std::env::var_os("OTEL_RESOURCE_ATTRIBUTES").is_some() {
            return;
        }
        let resource = resource("agentry-test");
        assert_eq!(
            resource.get(&Key::from_static_str("service.name")).map(|name| name.to_string()).as_deref(),
            Some("agentry-test")
        );
    }
}
