//! The `--log-format` flag; logs and spans are set up by `agentry_telemetry::init` (stderr lines
//! filtered by `RUST_LOG`, OTLP span export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set).

use clap::ValueEnum;

/// How log lines look (`--log-format`, env `AGENTRY_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

impl From<LogFormat> for agentry_telemetry::LogFormat {
    fn from(format: LogFormat) -> Self {
        match format {
            LogFormat::Text => Self::Text,
            LogFormat::Json => Self::Json,
        }
    }
}
