//! File tools: `view` (read with line numbers), `write` (inside the workspace) and `ls`.
//!
//! Reads may name any path; writes are confined to the workspace by lexical normalization
//! only (a symlink inside the workspace can still point out; sandboxing comes later).

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use super::parse_arguments;
use super::{Tool, ToolContext, ToolError};
use crate::model::ToolSpec;
use agentry_core::limits::{MAX_TOOL_OUTPUT_BYTES, truncate_with_marker};

/// Lines `view` returns when no `limit` is given.
const DEFAULT_VIEW_LINES: usize = 2000;
/// Largest content `write` accepts, in bytes (1 MiB).
const MAX_WRITE_BYTES: usize = 1024 * 1024;
/// Most entries `ls` lists; the rest are counted in a marker line.
const MAX_LS_ENTRIES: usize = 1000;

/// Returns `path` resolved against the workspace when relative, unchanged when absolute.
fn resolve_for_reading(context: &ToolContext, path: &str) -> PathBuf {
    context.workspace.join(path)
}

/// Returns `path` resolved inside the workspace, rejecting absolute paths and `..` escapes.
fn resolve_for_writing(context: &ToolContext, path: &str) -> Result<PathBuf, ToolError> {
    let mut normalized = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => normalized.push(part),
            Component::CurDir => {}
            Component::ParentDir if normalized.pop() => {}
            Component::ParentDir => {
                let reason = format!("write: {path:?} escapes the workspace (after resolving `..` lexically)");
                return Err(ToolError::InvalidArguments(reason));
            }
            Component::RootDir | Component::Prefix(_) => {
                let reason = format!("write: {path:?} is absolute; give a path relative to the workspace");
                return Err(ToolError::InvalidArguments(reason));
            }
        }
    }
    if normalized.as_os_str().is_empty() {
        return Err(ToolError::InvalidArguments(format!("write: {path:?} names no file")));
    }
    Ok(context.workspace.join(normalized))
}

fn io_failure(path: &str, error: &std::io::Error) -> ToolError {
    match error.kind() {
        ErrorKind::NotFound => ToolError::Failed(format!("{path}: no such file or directory")),
        ErrorKind::PermissionDenied => ToolError::Failed(format!("{path}: permission denied")),
        _ => ToolError::Failed(format!("{path}: {error}")),
    }
}

/// `view {path, offset?, limit?}`: returns a UTF-8 text file's lines as `"{n:>6}\t{line}"`
/// (1-based), from line `offset` (default 1), at most `limit` lines (default 2000), cut to
/// [`MAX_TOOL_OUTPUT_BYTES`].
///
/// Errors with [`ToolError::Failed`] naming the path when it is missing, a directory or binary.
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
            description: "Shows a text file with line numbers. Relative paths are in the workspace.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File to read."},
                    "offset": {"type": "integer", "minimum": 1, "description": "First line (1-based)."},
                    "limit": {"type": "integer", "minimum": 1, "description": "Most lines to show (default 2000)."},
                },
                "required": ["path"],
            }),
        }
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let arguments: ViewArguments = parse_arguments("view", arguments)?;
        let path = arguments.path.as_str();
        let first_line = arguments.offset.unwrap_or(1).max(1);
        let limit = arguments.limit.unwrap_or(DEFAULT_VIEW_LINES);
        let resolved = resolve_for_reading(context, path);
        let metadata = tokio::fs::metadata(&resolved).await.map_err(|error| io_failure(path, &error))?;
        if metadata.is_dir() {
            return Err(ToolError::Failed(format!("{path} is a directory; use ls to list it")));
        }
        let file = tokio::fs::File::open(&resolved).await.map_err(|error| io_failure(path, &error))?;
        let mut reader = tokio::io::BufReader::new(file);
        let mut output = String::new();
        let mut raw_line = Vec::new();
        let mut line_number = 0;
        while line_number + 1 < first_line.saturating_add(limit) {
            raw_line.clear();
            let read = reader.read_until(b'\n', &mut raw_line).await.map_err(|error| io_failure(path, &error))?;
            if read == 0 {
                break;
            }
            line_number += 1;
            if raw_line.contains(&0) {
                return Err(ToolError::Failed(format!("{path} looks binary (contains NUL bytes)")));
            }
            let line = std::str::from_utf8(&raw_line)
                .map_err(|_| ToolError::Failed(format!("{path} is not UTF-8 text (line {line_number})")))?;
            if line_number >= first_line {
                let line = line.strip_suffix('\n').unwrap_or(line);
                let line = line.strip_suffix('\r').unwrap_or(line);
                output.push_str(&format!("{line_number:>6}\t{line}\n"));
            }
        }
        if output.is_empty() {
            return Ok(match line_number {
                0 => format!("{path} is empty"),
                lines => format!("{path} has {lines} lines; nothing at offset {first_line}"),
            });
        }
        Ok(truncate_with_marker(&output, MAX_TOOL_OUTPUT_BYTES))
    }
}

/// `write {path, content}`: creates or replaces a file inside the workspace, creating parent
/// directories, and returns `"wrote N bytes to PATH"`.
///
/// Errors with [`ToolError::InvalidArguments`] for absolute or escaping paths and content over
/// 1 MiB, [`ToolError::Failed`] when the file system refuses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Write;

#[derive(Deserialize)]
struct WriteArguments {
    path: String,
    content: String,
}

#[async_trait]
impl Tool for Write {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "write".to_owned(),
            description: "Writes a text file in the workspace (replacing it), creating parent directories.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace."},
                    "content": {"type": "string", "description": "Full new content (at most 1 MiB)."},
                },
                "required": ["path", "content"],
            }),
        }
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let arguments: WriteArguments = parse_arguments("write", arguments)?;
        let path = arguments.path.as_str();
        let size = arguments.content.len();
        if size > MAX_WRITE_BYTES {
            let reason = format!("write: content is {size} bytes, more than the {MAX_WRITE_BYTES} allowed");
            return Err(ToolError::InvalidArguments(reason));
        }
        let resolved = resolve_for_writing(context, path)?;
        if let Some(parent) = resolved.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|error| io_failure(path, &error))?;
        }
        if tokio::fs::metadata(&resolved).await.is_ok_and(|metadata| metadata.is_dir()) {
            return Err(ToolError::Failed(format!("{path} is a directory")));
        }
        tokio::fs::write(&resolved, arguments.content).await.map_err(|error| io_failure(path, &error))?;
        Ok(format!("wrote {size} bytes to {path}"))
    }
}

/// `ls {path?}`: lists a directory (default the workspace), one sorted entry per line,
/// directories suffixed with `/`, at most 1000 (then a count of the rest).
///
/// Errors with [`ToolError::Failed`] naming the path when it is missing or not a directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ls;

#[derive(Deserialize)]
struct LsArguments {
    #[serde(default)]
    path: Option<String>,
}

#[async_trait]
impl Tool for Ls {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "ls".to_owned(),
            description: "Lists a directory (default the workspace); directories end with /.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Directory to list."}},
            }),
        }
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        // Some models send `null` rather than `{}` for a call without arguments.
        let arguments = if arguments.is_null() { json!({}) } else { arguments };
        let arguments: LsArguments = parse_arguments("ls", arguments)?;
        let path = arguments.path.as_deref().unwrap_or(".");
        let resolved = resolve_for_reading(context, path);
        let metadata = tokio::fs::metadata(&resolved).await.map_err(|error| io_failure(path, &error))?;
        if !metadata.is_dir() {
            return Err(ToolError::Failed(format!("{path} is not a directory; use view to read it")));
        }
        let mut entries = tokio::fs::read_dir(&resolved).await.map_err(|error| io_failure(path, &error))?;
        let mut names = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(|error| io_failure(path, &error))? {
            let mut name = entry.file_name().to_string_lossy().into_owned();
            // Follows symlinks, so a link to a directory lists as a directory.
            if tokio::fs::metadata(entry.path()).await.is_ok_and(|metadata| metadata.is_dir()) {
                name.push('/');
            }
            names.push(name);
        }
        if names.is_empty() {
            return Ok(format!("{path} is empty"));
        }
        names.sort_unstable();
        let more = names.len().saturating_sub(MAX_LS_ENTRIES);
        names.truncate(MAX_LS_ENTRIES);
        let mut output = names.join("\n");
        if more > 0 {
            output.push_str(&format!("\n[{more} more entries]"));
        }
        Ok(truncate_with_marker(&output, MAX_TOOL_OUTPUT_BYTES))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tempfile::TempDir;

    use super::*;

    fn context(workspace: &TempDir) -> ToolContext {
        ToolContext {
            workspace: workspace.path().to_path_buf(),
            idempotency_key: "run/1/call".into(),
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn view_numbers_lines_from_the_offset() {
        let workspace = TempDir::new().unwrap();
        std::fs::write(workspace.path().join("a.txt"), "one\ntwo\r\nthree\nfour").unwrap();
        let context = context(&workspace);
        let all = View.call(&context, json!({"path": "a.txt"})).await.unwrap();
        assert_eq!(all, "     1\tone\n     2\ttwo\n     3\tthree\n     4\tfour\n");
        let window = View.call(&context, json!({"path": "a.txt", "offset": 2, "limit": 2})).await.unwrap();
        assert_eq!(window, "     2\ttwo\n     3\tthree\n");
        let absolute = workspace.path().join("a.txt").display().to_string();
        let past_end = View.call(&context, json!({"path": absolute, "offset": 9})).await.unwrap();
        assert!(past_end.ends_with("has 4 lines; nothing at offset 9"), "{past_end}");
    }

    #[tokio::test]
    async fn view_errors_name_the_path() {
        let workspace = TempDir::new().unwrap();
        std::fs::create_dir(workspace.path().join("dir")).unwrap();
        std::fs::write(workspace.path().join("blob"), b"ab\0cd").unwrap();
        let context = context(&workspace);
        let cases = [
            ("missing.txt", "missing.txt: no such file or directory"),
            ("dir", "dir is a directory; use ls to list it"),
            ("blob", "blob looks binary (contains NUL bytes)"),
        ];
        for (path, expected) in cases {
            let error = View.call(&context, json!({"path": path})).await.unwrap_err();
            assert_eq!(error, ToolError::Failed(expected.to_owned()));
        }
    }

    #[tokio::test]
    async fn write_creates_parents_inside_the_workspace() {
        let workspace = TempDir::new().unwrap();
        let output =
            Write.call(&context(&workspace), json!({"path": "./src/../src/x/y.txt", "content": "héllo"})).await;
        assert_eq!(output, Ok("wrote 6 bytes to ./src/../src/x/y.txt".to_owned()));
        assert_eq!(std::fs::read_to_string(workspace.path().join("src/x/y.txt")).unwrap(), "héllo");
    }

    #[tokio::test]
    async fn write_rejects_paths_outside_the_workspace() {
        let workspace = TempDir::new().unwrap();
        let context = context(&workspace);
        for (path, reason) in [("../x", "escapes the workspace"), ("a/../../x", "escapes"), ("/etc/x", "is absolute")] {
            let error = Write.call(&context, json!({"path": path, "content": "x"})).await.unwrap_err();
            assert!(matches!(&error, ToolError::InvalidArguments(text) if text.contains(reason)), "{path}: {error}");
        }
        let too_big = "x".repeat(MAX_WRITE_BYTES + 1);
        let error = Write.call(&context, json!({"path": "big", "content": too_big})).await.unwrap_err();
        assert!(matches!(error, ToolError::InvalidArguments(_)));
        assert!(!workspace.path().join("big").exists());
    }

    #[tokio::test]
    async fn ls_sorts_and_marks_directories() {
        let workspace = TempDir::new().unwrap();
        for file in ["b.txt", "A.md", "c"] {
            std::fs::write(workspace.path().join(file), "").unwrap();
        }
        std::fs::create_dir(workspace.path().join("a_dir")).unwrap();
        std::fs::write(workspace.path().join("a_dir/inner"), "").unwrap();
        let context = context(&workspace);
        assert_eq!(Ls.call(&context, json!({})).await.unwrap(), "A.md\na_dir/\nb.txt\nc");
        assert_eq!(Ls.call(&context, Value::Null).await.unwrap(), "A.md\na_dir/\nb.txt\nc");
        assert_eq!(Ls.call(&context, json!({"path": "a_dir"})).await.unwrap(), "inner");
        let error = Ls.call(&context, json!({"path": "c"})).await.unwrap_err();
        assert_eq!(error, ToolError::Failed("c is not a directory; use view to read it".to_owned()));
    }

    #[tokio::test]
    async fn ls_caps_the_entry_count() {
        let workspace = TempDir::new().unwrap();
        for index in 0..MAX_LS_ENTRIES + 5 {
            std::fs::write(workspace.path().join(format!("f{index:04}")), "").unwrap();
        }
        let output = Ls.call(&context(&workspace), json!({})).await.unwrap();
        assert_eq!(output.lines().count(), MAX_LS_ENTRIES + 1);
        assert!(output.starts_with("f0000\nf0001\n") && output.ends_with("\n[5 more entries]"), "{output}");
    }
}
