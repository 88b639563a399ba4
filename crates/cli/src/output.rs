//! Printing: trace events (human lines or JSONL), tables and JSON of agents, nodes,
//! approvals and audit records, cost reports (also CSV).
//!
//! Everything here returns strings, so the formats are unit-tested without a terminal; the
//! commands write them to stdout (data) while logs and errors go to stderr.

mod approvals;
mod audit;
mod cost;
mod events;
mod listing;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::ValueEnum;

use agentry_sdk::proto::Run;

pub use approvals::{approvals_json, approvals_table};
pub use audit::{audit_json, audit_table};
pub use cost::{CostFormat, cost_csv, cost_json, cost_table};
pub use events::{EventFormat, event_line};
pub use listing::{agents_json, agents_table, nodes_json, nodes_table, run_json, run_result_line};

/// Output format of a listing command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns for people.
    Table,
    /// A JSON array for programs.
    Json,
}

/// Output format of a command acting on one object (`cancel`, `pause`, `resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultFormat {
    /// One line for people.
    Text,
    /// The object as JSON for programs.
    Json,
}

/// Prints a run after `action` (`cancelled`, `paused`, `resumed`) in `format`.
pub fn print_run_result(run: &Run, action: &str, format: ResultFormat) -> anyhow::Result<()> {
    let text = match format {
        ResultFormat::Text => run_result_line(run, action),
        ResultFormat::Json => run_json(run).context("encoding the run as JSON")?,
    };
    print_line(&text).context("writing to stdout")
}

/// Writes `text` and a newline to stdout, flushed so followers see each line at once.
pub fn print_line(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()
}

/// Writes `text` to stdout without a line end and flushes it (streamed model text).
pub fn print_inline(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{text}")?;
    stdout.flush()
}

/// Returns a protobuf timestamp as a [`SystemTime`]; `None` when unset or before 1970.
pub fn system_time(timestamp: Option<&agentry_sdk::Timestamp>) -> Option<SystemTime> {
    let timestamp = timestamp?;
    let seconds = u64::try_from(timestamp.seconds).ok()?;
    let nanos = u32::try_from(timestamp.nanos).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(seconds, nanos))
}

/// Returns a protobuf timestamp in RFC 3339 with milliseconds, UTC
/// (`2025-01-31T14:03:05.123Z`); `None` when unset.
pub fn rfc3339(timestamp: Option<&agentry_sdk::Timestamp>) -> Option<String> {
    system_time(timestamp).map(|time| humantime::format_rfc3339_millis(time).to_string())
}

/// Returns how long before `now` `time` was, compactly: `4s`, `12m`, `3h`, `2d`.
pub fn age(time: Option<SystemTime>, now: SystemTime) -> String {
    let Some(time) = time else { return "-".to_owned() };
    let seconds = now.duration_since(time).unwrap_or_default().as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m", seconds / 60),
        3_600..86_400 => format!("{}h", seconds / 3_600),
        _ => format!("{}d", seconds / 86_400),
    }
}

/// Returns `text` on one line (newlines, tabs and carriage returns escaped) and cut to at most
/// `max_chars` characters, with `…` marking a cut.
pub fn one_line_preview(text: &str, max_chars: usize) -> String {
    let mut preview = String::new();
    for (index, character) in text.chars().enumerate() {
        if index == max_chars {
            preview.push('…');
            return preview;
        }
        match character {
            '\n' => preview.push_str("\\n"),
            '\r' => preview.push_str("\\r"),
            '\t' => preview.push_str("\\t"),
            other => preview.push(other),
        }
    }
    preview
}

/// Renders rows under headers in columns separated by three spaces; the last column is not
/// padded, so lines carry no trailing blanks.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header_row: Vec<String> = headers.iter().map(|header| (*header).to_owned()).collect();
    let mut lines = Vec::with_capacity(rows.len() + 1);
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            if index + 1 == row.len() {
                line.push_str(cell);
            } else {
                let padding = widths[index].saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(padding + 3));
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        let timestamp = agentry_sdk::Timestamp { seconds: 1_700_000_000, nanos: 123_456_789 };
        assert_eq!(rfc3339(Some(&timestamp)).as_deref(), Some("2023-11-14T22:13:20.123Z"));
        assert_eq!(rfc3339(None), None);
    }

    #[test]
    fn ages_are_compact() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ago = |seconds| Some(now - Duration::from_secs(seconds));
        assert_eq!(age(ago(5), now), "5s");
        assert_eq!(age(ago(125), now), "2m");
        assert_eq!(age(ago(7_200), now), "2h");
        assert_eq!(age(ago(200_000), now), "2d");
        assert_eq!(age(None, now), "-");
    }

    #[test]
    fn previews_are_one_line_and_cut() {
        assert_eq!(one_line_preview("a\nb\tc", 10), "a\\nb\\tc");
        assert_eq!(one_line_preview("abcdef", 3), "abc…");
        assert_eq!(one_line_preview("abc", 3), "abc");
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![vec!["a".to_owned(), "long value".to_owned(), "x".to_owned()]];
        let table = render_table(&["ONE", "TWO", "THREE"], &rows);
        assert_eq!(table, "ONE   TWO          THREE\na     long value   x");
    }
}
