//! `agentry trace import FILE`: load a trace file as a new, read-only agent.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use agentry_core::labels::{collect_labels, parse_label};
use agentry_sdk::ClientError;
use agentry_sdk::proto::{ImportTraceRequest, ImportTraceResponse};

use super::jsonl::parse_trace;
use crate::commands::HubArgs;
use crate::output::{ResultFormat, print_line};

/// Source name of a trace read from stdin.
const STDIN_SOURCE: &str = "stdin";

/// Options of `agentry trace import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The trace file: JSON lines as `agentry trace AGENT --jsonl` prints them; `-` reads stdin.
    file: PathBuf,
    /// A label of the new agent; repeat for more (`agentry.imported-from` and
    /// `agentry.imported-agent` are set by the import).
    #[arg(long = "label", value_parser = parse_label, value_name = "KEY=VALUE")]
    labels: Vec<(String, String)>,
    /// When the file holds several agents' events: the agent (its id in the file) to import.
    #[arg(long = "agent", value_name = "ID")]
    agent: Option<String>,
    /// Output: the new agent's id, or JSON `{agent_id, run_ids, events}`.
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

/// The import in `--output json`.
#[derive(Serialize)]
struct ImportJson<'a> {
    agent_id: &'a str,
    run_ids: &'a [String],
    events: u64,
}

/// Reads and checks the file, imports it, and prints the new agent's id.
pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let labels = collect_labels(&args.labels).map_err(anyhow::Error::msg)?;
    let (source, text) = read_trace(&args.file).await?;
    let shown = args.file.display().to_string();
    let trace = parse_trace(&shown, &text, args.agent.as_deref()).map_err(anyhow::Error::msg)?;
    if trace.ephemeral > 0 || trace.other_agents > 0 {
        tracing::info!(ephemeral = trace.ephemeral, other_agents = trace.other_agents, "lines skipped");
    }
    let client = args.hub.connect().await?;
    let request = ImportTraceRequest {
        source,
        labels: labels.into_iter().collect(),
        events: trace.events,
        agent_id: args.agent.unwrap_or_default(),
    };
    let imported = client.import_trace(request).await.map_err(|error| refused(error, &shown))?;
    print_line(&import_text(&imported, args.output)?).context("writing to stdout")
}

/// Returns the source name (the file's name, without its directory) and the content of `file`.
async fn read_trace(file: &Path) -> anyhow::Result<(String, String)> {
    if file == Path::new("-") {
        let text = crate::commands::text_or_stdin("-".to_owned()).await?;
        return Ok((STDIN_SOURCE.to_owned(), text));
    }
    let text = tokio::fs::read_to_string(file).await.with_context(|| format!("reading {}", file.display()))?;
    let name = file.file_name().map_or_else(|| file.display().to_string(), |name| name.to_string_lossy().into_owned());
    Ok((name, text))
}

/// Returns the error of a refused import, saying which file a too-large request came from.
fn refused(error: ClientError, file: &str) -> anyhow::Error {
    let too_large = error.code() == Some(tonic::Code::OutOfRange);
    let error = anyhow::Error::new(error);
    if too_large {
        error.context(format!(
            "{file} does not fit in one request of at most {} MiB; split it",
            agentry_sdk::MAX_MESSAGE_BYTES / (1024 * 1024)
        ))
    } else {
        error.context(format!("importing {file}"))
    }
}

/// Returns what is printed for an import in `format`.
fn import_text(imported: &ImportTraceResponse, format: ResultFormat) -> anyhow::Result<String> {
    Ok(match format {
        ResultFormat::Text => imported.agent_id.clone(),
        ResultFormat::Json => serde_json::to_string_pretty(&ImportJson {
            agent_id: &imported.agent_id,
            run_ids: &imported.run_ids,
            events: imported.events,
        })
        .context("encoding the import as JSON")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn json_output_has_the_documented_shape() {
        let imported =
            ImportTraceResponse { agent_id: "a1".into(), run_ids: vec!["r1".into(), "r2".into()], events: 9 };
        assert_eq!(import_text(&imported, ResultFormat::Text).unwrap(), "a1");
        let parsed: Value = serde_json::from_str(&import_text(&imported, ResultFormat::Json).unwrap()).unwrap();
        assert_eq!(parsed, json!({ "agent_id": "a1", "run_ids": ["r1", "r2"], "events": 9 }));
    }
}
