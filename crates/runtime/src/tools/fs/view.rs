//! The reading tools: `view` (a window of a file) and `read_lines` (an inclusive line range).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Workspace, blocking, numbered, read_manifest, split_lines};
use crate::model::ToolSpec;
use crate::tools::{Tool, ToolContext, ToolError, ToolManifest, parse_arguments};
use agentry_core::limits::truncate_with_marker;

/// Lines `view` returns when no `limit` is given.
const DEFAULT_VIEW_LINES: usize = 2000;

/// `view {path, offset?, limit?}`: returns a UTF-8 text file of the workspace as numbered lines
/// `"{n:>6}\t{line}"` (1-based), from line `offset` (default 1), at most `limit` lines (default
/// 2000), then a line saying how to continue when more follow; cut to the manifest's
/// `max_output_bytes`.
///
/// Errors with [`ToolError::InvalidArguments`] for paths outside the workspace and
/// [`ToolError::Failed`] naming the path when it is missing, a directory, binary, not UTF-8,
/// over 10 MiB or behind a symlink leading out.
#[derive(Debug, Clone, Copy, Default)]
pub struct View;

#[derive(Deserialize)]
struct ViewArguments {
    path: String,
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
}

#[async_trait]
impl Tool for View {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "view".to_owned(),
            description: "Shows a text file of the workspace with line numbers.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File, relative to the workspace."},
                    "offset": {"type": "integer", "minimum": 1, "description": "First line (1-based, default 1)."},
                    "limit": {"type": "integer", "minimum": 1, "description": "Most lines to show (default 2000)."},
                },
                "required": ["path"],
            }),
        }
    }

    /// Reads only: retried when interrupted.
    fn manifest(&self) -> ToolManifest {
        read_manifest()
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let arguments: ViewArguments = parse_arguments("view", arguments)?;
        let first_line = arguments.offset.unwrap_or(1).max(1);
        let limit = arguments.limit.unwrap_or(DEFAULT_VIEW_LINES).max(1);
        let root = context.workspace.clone();
        let path = arguments.path;
        let output = blocking(move || {
            let workspace = Workspace::open(&root)?;
            let relative = workspace.resolve("view", &path)?;
            let text = workspace.read_text(&relative, &path)?;
            let lines = split_lines(&text);
            if lines.is_empty() {
                return Ok(format!("{path} is empty"));
            }
            if first_line > lines.len() {
                return Ok(format!("{path} has {} lines; nothing at offset {first_line}", lines.len()));
            }
            let window = &lines[first_line - 1..];
            let shown = &window[..window.len().min(limit)];
            let mut output = numbered(shown, first_line);
            let next_line = first_line + shown.len();
            if next_line <= lines.len() {
                output.push_str(&format!(
                    "[{} more lines; continue with offset {next_line}]",
                    lines.len() - next_line + 1
                ));
            }
            Ok(output)
        })
        .await?;
        Ok(truncate_with_marker(&output, context.manifest.max_output_bytes))
    }
}

/// `read_lines {path, start, end}`: returns lines `start..=end` (1-based, inclusive) of a UTF-8
/// text file of the workspace, numbered like `view`; `end` past the last line stops at it.
/// Cut to the manifest's `max_output_bytes`.
///
/// Errors with [`ToolError::InvalidArguments`] when `start` is 0 or after `end` or the path is
/// outside the workspace, and [`ToolError::Failed`] when `start` is past the last line or the
/// file cannot be read as text (as for [`View`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadLines;

#[derive(Deserialize)]
struct ReadLinesArguments {
    path: String,
    start: usize,
    end: usize,
}

#[async_trait]
impl Tool for ReadLines {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "read_lines".to_owned(),
            description: "Shows lines start..=end (1-based, inclusive) of a text file of the workspace, with \
                          line numbers."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File, relative to the workspace."},
                    "start": {"type": "integer", "minimum": 1, "description": "First line (1-based)."},
                    "end": {"type": "integer", "minimum": 1, "description": "Last line (inclusive)."},
                },
                "required": ["path", "start", "end"],
            }),
        }
    }

    /// Reads only: retried when interrupted.
    fn manifest(&self) -> ToolManifest {
        read_manifest()
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let ReadLinesArguments { path, start, end } = parse_arguments("read_lines", arguments)?;
        if start == 0 || start > end {
            let reason = format!("read_lines: need 1 <= start <= end, got start {start} and end {end}");
            return Err(ToolError::InvalidArguments(reason));
        }
        let root = context.workspace.clone();
        let output = blocking(move || {
            let workspace = Workspace::open(&root)?;
            let relative = workspace.resolve("read_lines", &path)?;
            let text = workspace.read_text(&relative, &path)?;
            let lines = split_lines(&text);
            if start > lines.len() {
                return Err(ToolError::Failed(format!(
                    "{path} has {} lines; start {start} is past the end",
                    lines.len()
                )));
            }
            Ok(numbered(&lines[start - 1..end.min(lines.len())], start))
        })
        .await?;
        Ok(truncate_with_marker(&output, context.manifest.max_output_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::FsScope;
    use crate::tools::fs::testing::Fixture;

    #[tokio::test]
    async fn view_numbers_lines_from_the_offset() {
        let fixture = Fixture::new();
        std::fs::write(fixture.path("a.txt"), "one\ntwo\r\nthree\nfour").unwrap();
        let context = fixture.context(&View);
        let all = View.call(&context, json!({"path": "a.txt"})).await.unwrap();
        assert_eq!(all, "     1\tone\n     2\ttwo\n     3\tthree\n     4\tfour\n");
        let window = View.call(&context, json!({"path": "a.txt", "offset": 2, "limit": 2})).await.unwrap();
        assert_eq!(window, "     2\ttwo\n     3\tthree\n[1 more lines; continue with offset 4]");
        let absolute = fixture.path("a.txt").display().to_string();
        let past_end = View.call(&context, json!({"path": absolute, "offset": 9})).await.unwrap();
        assert_eq!(past_end, format!("{absolute} has 4 lines; nothing at offset 9"));
        let just_past = View.call(&context, json!({"path": "a.txt", "offset": 5})).await.unwrap();
        assert_eq!(just_past, "a.txt has 4 lines; nothing at offset 5");
        let last = View.call(&context, json!({"path": "a.txt", "offset": 4})).await.unwrap();
        assert_eq!(last, "     4\tfour\n");
        let through_link = View.call(&context, json!({"path": "sub/../link_in"})).await.unwrap();
        assert_eq!(through_link, "     1\tone\n     2\ttwo\n     3\tthree\n");
    }

    #[tokio::test]
    async fn view_errors_name_the_path() {
        let fixture = Fixture::new();
        std::fs::write(fixture.path("blob"), b"ab\0cd").unwrap();
        std::fs::write(fixture.path("latin1"), b"caf\xe9").unwrap();
        std::fs::write(fixture.path("empty"), b"").unwrap();
        let context = fixture.context(&View);
        let cases = [
            ("missing.txt", "missing.txt: no such file or directory"),
            ("sub", "sub is a directory; use ls to list it"),
            ("blob", "blob looks binary (contains NUL bytes)"),
            ("latin1", "latin1 is not UTF-8 text"),
            ("link_out", "link_out: leads outside the workspace (through a symlink)"),
        ];
        for (path, expected) in cases {
            let error = View.call(&context, json!({"path": path})).await.unwrap_err();
            assert_eq!(error, ToolError::Failed(expected.to_owned()));
        }
        assert_eq!(View.call(&context, json!({"path": "empty"})).await.unwrap(), "empty is empty");
        let error = View.call(&context, json!({"offset": 1})).await.unwrap_err();
        assert!(matches!(error, ToolError::InvalidArguments(_)));
    }

    #[tokio::test]
    async fn view_refuses_large_files_and_caps_output() {
        let fixture = Fixture::new();
        let big = std::fs::File::create(fixture.path("big")).unwrap();
        big.set_len(super::super::MAX_READ_BYTES + 1).unwrap();
        let context = fixture.context(&View);
        let error = View.call(&context, json!({"path": "big"})).await.unwrap_err();
        assert!(matches!(&error, ToolError::Failed(text) if text.contains("are not read")), "{error}");
        std::fs::write(fixture.path("long"), "x".repeat(100_000)).unwrap();
        let output = View.call(&context, json!({"path": "long"})).await.unwrap();
        assert!(output.len() < context.manifest.max_output_bytes + 100, "{}", output.len());
        assert!(output.contains("[truncated: "));
    }

    #[tokio::test]
    async fn read_lines_returns_an_inclusive_range() {
        let fixture = Fixture::new();
        let context = fixture.context(&ReadLines);
        let middle = ReadLines.call(&context, json!({"path": "inside.txt", "start": 2, "end": 2})).await;
        assert_eq!(middle.unwrap(), "     2\ttwo\n");
        let clamped = ReadLines.call(&context, json!({"path": "link_in", "start": 2, "end": 99})).await;
        assert_eq!(clamped.unwrap(), "     2\ttwo\n     3\tthree\n");
        let past = ReadLines.call(&context, json!({"path": "inside.txt", "start": 4, "end": 5})).await;
        assert_eq!(past.unwrap_err(), ToolError::Failed("inside.txt has 3 lines; start 4 is past the end".to_owned()));
        for (start, end) in [(0, 1), (3, 2)] {
            let error = ReadLines.call(&context, json!({"path": "inside.txt", "start": start, "end": end})).await;
            assert!(matches!(error, Err(ToolError::InvalidArguments(_))), "{start}..={end}");
        }
    }

    #[tokio::test]
    async fn reads_never_leave_the_workspace() {
        let fixture = Fixture::new();
        fixture.assert_confined(&View, |path| json!({"path": path})).await;
        fixture.assert_confined(&ReadLines, |path| json!({"path": path, "start": 1, "end": 1})).await;
    }

    #[test]
    fn specs_and_manifests_describe_reads() {
        for tool in [&View as &dyn Tool, &ReadLines] {
            let manifest = tool.manifest();
            assert!(manifest.idempotent);
            assert_eq!(manifest.filesystem, FsScope::WorkspaceRead);
            assert_eq!(manifest.on_interrupt, crate::tools::InterruptPolicy::Retry);
            assert_eq!(tool.spec().parameters["type"], "object");
        }
        assert_eq!(View.spec().parameters["required"], json!(["path"]));
        assert_eq!(ReadLines.spec().parameters["required"], json!(["path", "start", "end"]));
    }
}
