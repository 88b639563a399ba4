//! Why telemetry could not be set up.

/// Errors of [`crate::init`] and [`crate::tracer_provider`].
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` is set but is not `EnvFilter` syntax (e.g. `info,agent_hub=debug`).
    #[error("RUST_LOG={directives:?}: {message}")]
    InvalidRustLog {
        /// The value of `RUST_LOG`, trimmed.
        directives: String,
        /// Why it does not parse.
        message: String,
    },
    /// The OTLP span exporter could not be built (e.g. a malformed
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, or an `https` endpoint: this build has no TLS for OTLP).
    #[error("building the OTLP span exporter: {0}")]
    Exporter(String),
    /// Span export was requested outside a Tokio runtime: the gRPC exporter needs one.
    #[error("exporting spans needs a Tokio runtime: call agentry_telemetry::init inside one (Runtime::enter)")]
    NoRuntime,
    /// A global subscriber is already installed (`init` was called twice).
    #[error("installing the logger: {0}")]
    AlreadyInstalled(String),
}
