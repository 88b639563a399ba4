//! The line editing tools: `edit_range` (replace lines) and `insert_at` (insert lines), and the
//! read-modify-write step they share with `search_replace`.
//!
//! New text gets the file's line ending (`\r\n` when its first line has one) when it lacks a
//! final newline, so an edit never glues two lines together; a file that had no final newline
//! keeps none when the edit reaches its end.

use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{MAX_READ_BYTES, MAX_WRITE_BYTES, Workspace, blocking, edit_manifest, line_ending, split_lines};
use crate::model::ToolSpec;
use crate::tools::{Tool, ToolContext, ToolError, ToolManifest, parse_arguments};

/// Reads the text file `path` of the workspace at `root`, passes it to `edit`, and writes back
/// the new text `edit` returns with its message.
///
/// Errors with what `edit` returns, [`ToolError::Failed`] when the result is over 10 MiB, and
/// the errors of [`Workspace::resolve`], [`Workspace::read_text`] and [`Workspace::write_file`].
pub(super) async fn edit_file(
    tool: &'static str,
    root: &Path,
    path: String,
    edit: impl FnOnce(&str) -> Result<(String, String), ToolError> + Send + 'static,
) -> Result<String, ToolError> {
    let root = root.to_path_buf();
    blocking(move || {
        let workspace = Workspace::open(&root)?;
        let relative = workspace.resolve(tool, &path)?;
        let text = workspace.read_text(&relative, &path)?;
        let (new_text, message) = edit(&text)?;
        if new_text.len() as u64 > MAX_READ_BYTES {
            return Err(ToolError::Failed(format!("{tool}: {path} would grow over {MAX_READ_BYTES} bytes")));
        }
        workspace.write_file(&relative, &path, new_text.as_bytes())?;
        Ok(message)
    })
    .await
}

/// Returns an error unless `content` (new text given to `tool`) is at most 1 MiB.
pub(super) fn check_content_size(tool: &str, content: &str) -> Result<(), ToolError> {
    if content.len() > MAX_WRITE_BYTES {
        let size = content.len();
        return Err(ToolError::InvalidArguments(format!(
            "{tool}: content is {size} bytes, more than {MAX_WRITE_BYTES}"
        )));
    }
    Ok(())
}

/// Appends `content` to `output`, ending it with `line_ending` unless it already ends with a
/// newline or `may_stay_unterminated`.
fn push_block(output: &mut String, content: &str, line_ending: &str, may_stay_unterminated: bool) {
    if content.is_empty() {
        return;
    }
    output.push_str(content);
    if !content.ends_with('\n') && !may_stay_unterminated {
        output.push_str(line_ending);
    }
}

/// `edit_range {path, start, end, content}`: replaces lines `start..=end` (1-based, inclusive)
/// of a text file of the workspace with `content` (empty deletes the lines) and returns a
/// summary with the new line count.
///
/// Errors with [`ToolError::InvalidArguments`] when `start` is 0 or after `end`, `content` is
/// over 1 MiB or the path is outside the workspace, and [`ToolError::Failed`] when `end` is past
/// the last line or the file cannot be read or written as text.
#[derive(Debug, Clone, Copy, Default)]
pub struct EditRange;

#[derive(Deserialize)]
struct EditRangeArguments {
    path: String,
    start: usize,
    end: usize,
    content: String,
}

#[async_trait]
impl Tool for EditRange {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "edit_range".to_owned(),
            description: "Replaces lines start..=end (1-based, inclusive) of a text file of the workspace with \
                          new content; empty content deletes them. Read the lines first."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File, relative to the workspace."},
                    "start": {"type": "integer", "minimum": 1, "description": "First line to replace (1-based)."},
                    "end": {"type": "integer", "minimum": 1, "description": "Last line to replace (inclusive)."},
                    "content": {"type": "string", "description": "Replacement lines (at most 1 MiB)."},
                },
                "required": ["path", "start", "end", "content"],
            }),
        }
    }

    /// Line numbers shift after an edit, so running it again would replace other lines: an
    /// interrupted call is not re-run (`Ask`); the model re-reads the file first.
    fn manifest(&self) -> ToolManifest {
        edit_manifest()
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let EditRangeArguments { path, start, end, content } = parse_arguments("edit_range", arguments)?;
        if start == 0 || start > end {
            let reason = format!("edit_range: need 1 <= start <= end, got start {start} and end {end}");
            return Err(ToolError::InvalidArguments(reason));
        }
        check_content_size("edit_range", &content)?;
        let shown = path.clone();
        edit_file("edit_range", &context.workspace, path, move |text| {
            let lines = split_lines(text);
            if end > lines.len() {
                return Err(ToolError::Failed(format!("{shown} has {} lines; end {end} is past the end", lines.len())));
            }
            let mut new_text = lines[..start - 1].concat();
            let reaches_unterminated_end = end == lines.len() && !text.ends_with('\n');
            push_block(&mut new_text, &content, line_ending(text), reaches_unterminated_end);
            new_text.push_str(&lines[end..].concat());
            let added = split_lines(&content).len();
            let total = split_lines(&new_text).len();
            let message =
                format!("replaced lines {start}-{end} of {shown} with {added} lines; it has {total} lines now");
            Ok((new_text, message))
        })
        .await
    }
}

/// `insert_at {path, line, content}`: inserts `content` before line `line` (1-based) of a text
/// file of the workspace; `line` = line count + 1 appends. Returns a summary with the new line
/// count.
///
/// Errors with [`ToolError::InvalidArguments`] when `line` is 0, `content` is empty or over
/// 1 MiB or the path is outside the workspace, and [`ToolError::Failed`] when `line` is past
/// count + 1 or the file cannot be read or written as text.
#[derive(Debug, Clone, Copy, Default)]
pub struct InsertAt;

#[derive(Deserialize)]
struct InsertAtArguments {
    path: String,
    line: usize,
    content: String,
}

#[async_trait]
impl Tool for InsertAt {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "insert_at".to_owned(),
            description: "Inserts lines before line `line` (1-based) of a text file of the workspace; line = \
                          line count + 1 appends."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File, relative to the workspace."},
                    "line": {"type": "integer", "minimum": 1, "description": "Line to insert before (1-based)."},
                    "content": {"type": "string", "description": "Lines to insert (at most 1 MiB)."},
                },
                "required": ["path", "line", "content"],
            }),
        }
    }

    /// Running an insert twice inserts the lines twice: an interrupted call is not re-run
    /// (`Ask`); the model checks the file first.
    fn manifest(&self) -> ToolManifest {
        edit_manifest()
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let InsertAtArguments { path, line, content } = parse_arguments("insert_at", arguments)?;
        if line == 0 {
            return Err(ToolError::InvalidArguments("insert_at: line is 1-based; got 0".to_owned()));
        }
        if content.is_empty() {
            return Err(ToolError::InvalidArguments("insert_at: content is empty".to_owned()));
        }
        check_content_size("insert_at", &content)?;
        let shown = path.clone();
        edit_file("insert_at", &context.workspace, path, move |text| {
            let lines = split_lines(text);
            let count = lines.len();
            if line > count + 1 {
                let reason = format!("{shown} has {count} lines; line must be 1 to {} (the last appends)", count + 1);
                return Err(ToolError::Failed(reason));
            }
            let ending = line_ending(text);
            let mut new_text = lines[..line - 1].concat();
            if !new_text.is_empty() && !new_text.ends_with('\n') {
                new_text.push_str(ending);
            }
            push_block(&mut new_text, &content, ending, false);
            new_text.push_str(&lines[line - 1..].concat());
            let added = split_lines(&content).len();
            let total = split_lines(&new_text).len();
            let message = if line > count {
                format!("appended {added} lines to {shown}; it has {total} lines now")
            } else {
                format!("inserted {added} lines before line {line} of {shown}; it has {total} lines now")
            };
            Ok((new_text, message))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::fs::testing::Fixture;
    use crate::tools::{FsScope, InterruptPolicy};

    async fn edit(fixture: &Fixture, start: usize, end: usize, content: &str) -> Result<String, ToolError> {
        let arguments = json!({"path": "f.txt", "start": start, "end": end, "content": content});
        EditRange.call(&fixture.context(&EditRange), arguments).await
    }

    async fn insert(fixture: &Fixture, line: usize, content: &str) -> Result<String, ToolError> {
        let arguments = json!({"path": "f.txt", "line": line, "content": content});
        InsertAt.call(&fixture.context(&InsertAt), arguments).await
    }

    #[tokio::test]
    async fn edit_range_replaces_and_deletes_lines() {
        let fixture = Fixture::new();
        std::fs::write(fixture.path("f.txt"), "a\nb\nc\nd\n").unwrap();
        let output = edit(&fixture, 2, 3, "B\nC\nC2").await.unwrap();
        assert_eq!(output, "replaced lines 2-3 of f.txt with 3 lines; it has 5 lines now");
        assert_eq!(fixture.read("f.txt"), "a\nB\nC\nC2\nd\n");
        edit(&fixture, 1, 1, "").await.unwrap();
        assert_eq!(fixture.read("f.txt"), "B\nC\nC2\nd\n");
        let error = edit(&fixture, 4, 5, "x").await.unwrap_err();
        assert_eq!(error, ToolError::Failed("f.txt has 4 lines; end 5 is past the end".to_owned()));
        for (start, end) in [(0, 1), (3, 2)] {
            assert!(matches!(edit(&fixture, start, end, "x").await, Err(ToolError::InvalidArguments(_))));
        }
        assert_eq!(fixture.read("f.txt"), "B\nC\nC2\nd\n");
    }

    #[tokio::test]
    async fn edits_keep_line_endings_and_a_missing_final_newline() {
        let fixture = Fixture::new();
        std::fs::write(fixture.path("f.txt"), "a\r\nb\r\nc").unwrap();
        edit(&fixture, 1, 1, "A").await.unwrap();
        assert_eq!(fixture.read("f.txt"), "A\r\nb\r\nc");
        edit(&fixture, 3, 3, "C").await.unwrap();
        assert_eq!(fixture.read("f.txt"), "A\r\nb\r\nC");
        insert(&fixture, 4, "D").await.unwrap();
        assert_eq!(fixture.read("f.txt"), "A\r\nb\r\nC\r\nD\r\n");
    }

    #[tokio::test]
    async fn insert_at_inserts_before_the_line_or_appends() {
        let fixture = Fixture::new();
        std::fs::write(fixture.path("f.txt"), "a\nb\n").unwrap();
        let output = insert(&fixture, 1, "first\n").await.unwrap();
        assert_eq!(output, "inserted 1 lines before line 1 of f.txt; it has 3 lines now");
        let output = insert(&fixture, 4, "x\ny").await.unwrap();
        assert_eq!(output, "appended 2 lines to f.txt; it has 5 lines now");
        assert_eq!(fixture.read("f.txt"), "first\na\nb\nx\ny\n");
        let error = insert(&fixture, 7, "z").await.unwrap_err();
        assert_eq!(error, ToolError::Failed("f.txt has 5 lines; line must be 1 to 6 (the last appends)".to_owned()));
        assert!(matches!(insert(&fixture, 0, "z").await, Err(ToolError::InvalidArguments(_))));
        assert!(matches!(insert(&fixture, 1, "").await, Err(ToolError::InvalidArguments(_))));
        std::fs::write(fixture.path("f.txt"), "").unwrap();
        insert(&fixture, 1, "only").await.unwrap();
        assert_eq!(fixture.read("f.txt"), "only\n");
    }

    #[tokio::test]
    async fn edits_go_through_inside_links_and_refuse_escapes() {
        let fixture = Fixture::new();
        let context = fixture.context(&EditRange);
        let arguments = json!({"path": "link_in", "start": 1, "end": 1, "content": "ONE"});
        EditRange.call(&context, arguments).await.unwrap();
        assert_eq!(fixture.read("inside.txt"), "ONE\ntwo\nthree\n");
        fixture.assert_confined(&EditRange, |path| json!({"path": path, "start": 1, "end": 1, "content": "x"})).await;
        fixture.assert_confined(&InsertAt, |path| json!({"path": path, "line": 1, "content": "x"})).await;
        let missing = InsertAt.call(&context, json!({"path": "nope", "line": 1, "content": "x"})).await;
        assert_eq!(missing.unwrap_err(), ToolError::Failed("nope: no such file or directory".to_owned()));
        let too_big = "x".repeat(MAX_WRITE_BYTES + 1);
        let arguments = json!({"path": "inside.txt", "line": 1, "content": too_big});
        assert!(matches!(InsertAt.call(&context, arguments).await, Err(ToolError::InvalidArguments(_))));
    }

    #[test]
    fn line_edits_ask_when_interrupted() {
        for tool in [&EditRange as &dyn Tool, &InsertAt] {
            let manifest = tool.manifest();
            assert!(!manifest.idempotent);
            assert_eq!(manifest.filesystem, FsScope::WorkspaceWrite);
            assert_eq!(manifest.on_interrupt, InterruptPolicy::Ask);
        }
        assert_eq!(EditRange.spec().parameters["required"], json!(["path", "start", "end", "content"]));
        assert_eq!(InsertAt.spec().parameters["required"], json!(["path", "line", "content"]));
    }
}
