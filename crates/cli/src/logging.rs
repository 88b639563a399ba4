//! Logs to stderr: `--log-format text` (human lines, coloured on a terminal) or `json` (one JSON
//! object per line: `timestamp`, `level`, `target`, `fields` with the message, the current
//! `span` and the `spans` it is nested in), filtered by `RUST_LOG` (`tracing_subscriber`'s
//! `EnvFilter` syntax, e.g. `info,agent_hub=debug`) or the command's default level.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines look (`--log-format`, env `AGENTRY_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

/// Returns the filter of `RUST_LOG`, or `default_level` when it is unset.
///
/// Errors when `RUST_LOG` is set but does not parse, naming it.
pub fn filter(rust_log: Option<&str>, default_level: &str) -> Result<EnvFilter, String> {
    match rust_log.map(str::trim).filter(|directives| !directives.is_empty()) {
        Some(directives) => EnvFilter::try_new(directives).map_err(|error| format!("RUST_LOG={directives:?}: {error}")),
        None => Ok(EnvFilter::new(default_level)),
    }
}

/// Returns the subscriber writing `format` lines through `writer`.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(builder.json().with_current_span(true).with_span_list(true).finish()),
    }
}

/// Installs the process's logger: `format` lines on stderr, filtered by `RUST_LOG` or
/// `default_level`.
///
/// Errors when `RUST_LOG` does not parse.
pub fn init(format: LogFormat, default_level: &str) -> Result<(), String> {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref(), default_level)?;
    let subscriber = subscriber(format, filter, std::io::stderr, std::io::stderr().is_terminal());
    tracing::subscriber::set_global_default(subscriber).map_err(|error| format!("installing the logger: {error}"))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

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

    fn logged(format: LogFormat, rust_log: Option<&str>) -> String {
        let buffer = Buffer::default();
        let subscriber = subscriber(format, filter(rust_log, "info").unwrap(), buffer.clone(), false);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("invoke_agent", run_id = "r1");
            let _entered = span.enter();
            tracing::info!(node_id = "n1", "run started");
            tracing::debug!("hidden at info");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn json_lines_carry_the_message_fields_and_spans() {
        let text = logged(LogFormat::Json, None);
        let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["fields"]["message"], "run started");
        assert_eq!(lines[0]["fields"]["node_id"], "n1");
        assert_eq!(lines[0]["span"]["name"], "invoke_agent");
        assert_eq!(lines[0]["spans"][0]["run_id"], "r1");
    }

    #[test]
    fn text_lines_and_rust_log_filters() {
        let text = logged(LogFormat::Text, Some("debug"));
        assert!(
            text.contains("invoke_agent{run_id=\"r1\"}: ") && text.contains("run started node_id=\"n1\""),
            "{text}"
        );
        assert!(text.contains("hidden at info"), "RUST_LOG=debug shows debug lines: {text}");
        assert!(logged(LogFormat::Text, Some("warn")).is_empty());
    }

    #[test]
    fn a_bad_rust_log_is_named() {
        let error = filter(Some("info,agent_hub=loud"), "info").unwrap_err();
        assert!(error.starts_with("RUST_LOG=\"info,agent_hub=loud\": "), "{error}");
        assert!(filter(Some("  "), "info").is_ok(), "blank means unset");
    }
}
