//! agentry-telemetry: the telemetry of an Agentry Cloud process (hub, node, CLI), set up in one
//! place: log lines, OpenTelemetry spans exported over OTLP/gRPC, W3C trace-context
//! propagation, and the Prometheus/health HTTP endpoint. It depends on `agentry-core` and `agentry-tls` (HTTPS).
//!
//! - [`init`] (module `init`): installs the global subscriber from a [`TelemetryConfig`] and
//!   the environment (`RUST_LOG`, `OTEL_*`); [`TelemetryGuard::shutdown`] flushes spans;
//!   [`export_enabled`] says whether spans are exported. [`tracer_provider`] and [`otel_layer`]
//!   build the same export for a local subscriber (tests, benchmarks).
//! - [`propagation`]: `traceparent` in and out of gRPC metadata and HTTP headers, the span of
//!   each gRPC request ([`propagation::grpc_server_span`]), the client
//!   [`propagation::TraceInterceptor`], and [`agentry_core::TraceParent`] of a span.
//! - [`http`] (module `http`): `/metrics`, `/healthz` and `/readyz` with [`router`] and
//!   [`serve`]; [`prometheus`] is re-exported for the crates' own `metrics.rs`.
//!
//! When no OTLP endpoint is configured there is no OpenTelemetry layer at all: spans cost what
//! logging costs, and the propagation functions do nothing.

#![warn(missing_docs)]

mod error;
pub mod http;
mod init;
mod log_format;
pub mod propagation;

pub use error::TelemetryError;
pub use http::{Readiness, RefreshHook, router, serve, spawn as spawn_http};
pub use init::{
    LogFormat, OtelLayer, SHUTDOWN_TIMEOUT, TelemetryConfig, TelemetryGuard, export_enabled, init, otel_layer,
    tracer_provider,
};
pub use prometheus;

#[cfg(test)]
pub(crate) mod testing {
    //! Test helpers: a writer that keeps what it is given and an exporter that keeps spans.

    use std::sync::{Arc, Mutex};

    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
    use tracing_subscriber::fmt::MakeWriter;

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    pub(crate) struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'writer> MakeWriter<'writer> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'writer self) -> Self::Writer {
            self.clone()
        }
    }

    /// Keeps exported spans.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct Collected(Arc<Mutex<Vec<SpanData>>>);

    impl Collected {
        pub(crate) fn spans(&self) -> Vec<SpanData> {
            self.0.lock().unwrap().clone()
        }
    }

    impl SpanExporter for Collected {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    /// Returns a provider exporting each span synchronously when it ends into the returned
    /// collection.
    pub(crate) fn collecting_provider() -> (SdkTracerProvider, Collected) {
        let collected = Collected::default();
        (SdkTracerProvider::builder().with_simple_exporter(collected.clone()).build(), collected)
    }
}
