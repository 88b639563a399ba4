//! The `grep` tool: searches file contents with a regular expression.

use std::io::Read;

use async_trait::async_trait;
use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Budget, SearchRoot, glob_matcher};
use crate::model::ToolSpec;
use crate::tools::fs::{MAX_READ_BYTES, blocking, read_manifest};
use crate::tools::{Tool, ToolContext, ToolError, ToolManifest, parse_arguments};
use agentry_core::limits::truncate_with_marker;

/// Matching lines `grep` returns when no `max_results` is given.
const DEFAULT_MAX_RESULTS: usize = 100;
/// Largest `max_results` honoured.
const MAX_RESULTS: usize = 1000;
/// Characters of a matching line shown; longer lines are cut.
const MAX_LINE_CHARS: usize = 500;
/// Bytes looked at to tell a binary file (one with a NUL byte) from text.
const BINARY_SNIFF_BYTES: usize = 8 * 1024;

/// `grep {pattern, path?, glob?, ignore_case?, max_results?}`: searches the text files under
/// `path` (a directory or one file; default the workspace) for lines matching the regular
/// expression `pattern` (Rust `regex` syntax, matched per line) and returns
/// `path:line:text` lines, paths relative to the workspace, in tree order. `glob` keeps only
/// files whose name (or, when it has a `/`, path relative to `path`) matches it; `ignore_case`
/// defaults to false; `max_results` defaults to 100, at most 1000. Binary files, files over
/// 10 MiB and symlinks are skipped; lines are cut to 500 characters; the output is cut to the
/// manifest's `max_output_bytes`. Walks as described in the `search` module.
///
/// Errors with [`ToolError::InvalidArguments`] for a bad regex or glob, `max_results` 0 or a
/// path outside the workspace, and [`ToolError::Failed`] when the path is missing or leads out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Grep;

#[derive(Deserialize)]
struct GrepArguments {
    pattern: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    glob: Option<String>,
    #[serde(default)]
    ignore_case: bool,
    #[serde(default)]
    max_results: Option<usize>,
}

#[async_trait]
impl Tool for Grep {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "grep".to_owned(),
            description: "Searches text files of the workspace for lines matching a regular expression; returns \
                          path:line:text. Honours .gitignore; skips binary files."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Regular expression (Rust regex syntax), per line."},
                    "path": {"type": "string", "description": "Directory or file to search (default the workspace)."},
                    "glob": {"type": "string", "description": "Only files whose name matches, e.g. `*.rs`; with a /, \
                                                               matched against the path below `path`."},
                    "ignore_case": {"type": "boolean", "description": "Match case-insensitively (default false)."},
                    "max_results": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_RESULTS,
                        "description": "Most matching lines (default 100, at most 1000).",
                    },
                },
                "required": ["pattern"],
            }),
        }
    }

    /// Reads only: retried when interrupted.
    fn manifest(&self) -> ToolManifest {
        read_manifest()
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let arguments: GrepArguments = parse_arguments("grep", arguments)?;
        let regex = RegexBuilder::new(&arguments.pattern)
            .case_insensitive(arguments.ignore_case)
            .build()
            .map_err(|error| ToolError::InvalidArguments(format!("grep: pattern: {error}")))?;
        let glob = arguments.glob.as_deref().map(|glob| glob_matcher("grep", "glob", glob)).transpose()?;
        let matches_path = arguments.glob.as_deref().is_some_and(|glob| glob.contains('/'));
        if arguments.max_results == Some(0) {
            return Err(ToolError::InvalidArguments("grep: max_results must be at least 1".to_owned()));
        }
        let max_results = arguments.max_results.unwrap_or(DEFAULT_MAX_RESULTS).min(MAX_RESULTS);
        let mut budget = Budget::of(context);
        let root = context.workspace.clone();
        let output = blocking(move || {
            let search = SearchRoot::open(&root, "grep", arguments.path.as_deref())?;
            let mut results = Results { max: max_results, ..Results::default() };
            for entry in search.walk(None) {
                if let Some(reason) = budget.spend() {
                    results.stopped = Some(reason);
                    break;
                }
                let Ok(entry) = entry else { continue };
                if !entry.file_type().is_some_and(|file_type| file_type.is_file()) {
                    continue;
                }
                let glob_matches = glob.as_ref().is_none_or(|glob| {
                    if matches_path {
                        glob.is_match(search.below_root(&entry))
                    } else {
                        glob.is_match(entry.file_name())
                    }
                });
                if !glob_matches {
                    continue;
                }
                let Some(content) = read_searchable(&search, &entry, &mut results) else { continue };
                search_lines(&regex, &content, &search.shown(&entry), &mut results);
                if results.full {
                    break;
                }
            }
            Ok(results.render(&arguments.pattern))
        })
        .await?;
        Ok(truncate_with_marker(&output, context.manifest.max_output_bytes))
    }
}

/// The matching lines found so far, and what was skipped.
#[derive(Default)]
struct Results {
    lines: Vec<String>,
    max: usize,
    /// A match beyond `max` was found.
    full: bool,
    skipped_large: usize,
    skipped_unreadable: usize,
    stopped: Option<String>,
}

impl Results {
    fn render(self, pattern: &str) -> String {
        let mut output = self.lines.join("\n");
        if self.lines.is_empty() {
            output.push_str(&format!("no matches for {pattern}"));
        }
        if self.full {
            let max = self.max;
            output.push_str(&format!("\n[stopped at {max} results; narrow the pattern or path, or raise max_results]"));
        }
        if self.skipped_large > 0 {
            output.push_str(&format!("\n[skipped {} files over {MAX_READ_BYTES} bytes]", self.skipped_large));
        }
        if self.skipped_unreadable > 0 {
            output.push_str(&format!("\n[skipped {} unreadable files]", self.skipped_unreadable));
        }
        if let Some(reason) = self.stopped {
            output.push('\n');
            output.push_str(&reason);
        }
        output
    }
}

/// Returns the content of the file at `entry`, read through the workspace capability, or
/// `None` (counted in `results`) when it is too large, unreadable or binary.
fn read_searchable(search: &SearchRoot, entry: &ignore::DirEntry, results: &mut Results) -> Option<Vec<u8>> {
    let relative = search.relative(entry);
    let dir = search.workspace().dir();
    // Not following symlinks: the walk saw a regular file here; anything else now is skipped.
    let metadata = dir.symlink_metadata(&relative).ok().filter(|metadata| metadata.is_file());
    let Some(metadata) = metadata else {
        results.skipped_unreadable += 1;
        return None;
    };
    if metadata.len() > MAX_READ_BYTES {
        results.skipped_large += 1;
        return None;
    }
    let mut content = Vec::new();
    let read = dir.open(&relative).and_then(|file| file.take(MAX_READ_BYTES).read_to_end(&mut content));
    if read.is_err() {
        results.skipped_unreadable += 1;
        return None;
    }
    let sniffed = &content[..content.len().min(BINARY_SNIFF_BYTES)];
    (!sniffed.contains(&0)).then_some(content)
}

/// Adds the lines of `content` matching `regex` to `results` as `shown:line:text`.
fn search_lines(regex: &Regex, content: &[u8], shown: &str, results: &mut Results) {
    for (index, line) in content.split(|byte| *byte == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !regex.is_match(line) {
            continue;
        }
        if results.lines.len() == results.max {
            results.full = true;
            return;
        }
        let text = String::from_utf8_lossy(line);
        let text = match text.char_indices().nth(MAX_LINE_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.into_owned(),
        };
        results.lines.push(format!("{shown}:{}:{text}", index + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::fs::testing::Fixture;

    fn tree() -> Fixture {
        let fixture = Fixture::new();
        std::fs::create_dir_all(fixture.path("src/net")).unwrap();
        std::fs::create_dir_all(fixture.path("target")).unwrap();
        std::fs::write(fixture.path("src/lib.rs"), "fn main() {}\n// TODO: one\n").unwrap();
        std::fs::write(fixture.path("src/net/http.rs"), "fn get() {}\r\nfn todo_list() {}\r\n").unwrap();
        std::fs::write(fixture.path("src/notes.md"), "TODO: docs\n").unwrap();
        std::fs::write(fixture.path("target/gen.rs"), "// TODO: generated\n").unwrap();
        std::fs::write(fixture.path("src/blob.bin"), b"TODO\0binary").unwrap();
        std::fs::write(fixture.path(".gitignore"), "target\n").unwrap();
        fixture
    }

    async fn grep(fixture: &Fixture, arguments: Value) -> Result<String, ToolError> {
        Grep.call(&fixture.context(&Grep), arguments).await
    }

    #[tokio::test]
    async fn grep_returns_path_line_text() {
        let fixture = tree();
        let found = grep(&fixture, json!({"pattern": "TODO"})).await.unwrap();
        assert_eq!(found, "src/lib.rs:2:// TODO: one\nsrc/notes.md:1:TODO: docs");
        let folded = grep(&fixture, json!({"pattern": "todo", "ignore_case": true, "glob": "*.rs"})).await.unwrap();
        assert_eq!(folded, "src/lib.rs:2:// TODO: one\nsrc/net/http.rs:2:fn todo_list() {}");
        let by_path = grep(&fixture, json!({"pattern": "^fn", "path": "src", "glob": "net/*.rs"})).await.unwrap();
        assert_eq!(by_path, "src/net/http.rs:1:fn get() {}\nsrc/net/http.rs:2:fn todo_list() {}");
        let one_file = grep(&fixture, json!({"pattern": "fn \\w+\\(\\)", "path": "src/lib.rs"})).await.unwrap();
        assert_eq!(one_file, "src/lib.rs:1:fn main() {}");
        let none = grep(&fixture, json!({"pattern": "nothing here"})).await.unwrap();
        assert_eq!(none, "no matches for nothing here");
    }

    #[tokio::test]
    async fn grep_caps_results_and_line_length() {
        let fixture = Fixture::new();
        let long_line = format!("match {}\n", "x".repeat(2 * MAX_LINE_CHARS));
        std::fs::write(fixture.path("many.txt"), long_line.repeat(5)).unwrap();
        let capped = grep(&fixture, json!({"pattern": "match", "max_results": 2})).await.unwrap();
        let lines: Vec<&str> = capped.lines().collect();
        assert_eq!(lines.len(), 3, "{capped}");
        assert!(lines[0].starts_with("many.txt:1:match xxx") && lines[0].ends_with("x…"));
        assert_eq!(lines[0].chars().count(), "many.txt:1:".len() + MAX_LINE_CHARS + 1);
        assert!(lines[2].starts_with("[stopped at 2 results"), "{capped}");
        let big = std::fs::File::create(fixture.path("big.txt")).unwrap();
        big.set_len(MAX_READ_BYTES + 1).unwrap();
        let skipped = grep(&fixture, json!({"pattern": "nothing"})).await.unwrap();
        assert!(skipped.ends_with(&format!("[skipped 1 files over {MAX_READ_BYTES} bytes]")), "{skipped}");
    }

    #[tokio::test]
    async fn grep_refuses_bad_arguments() {
        let fixture = tree();
        let cases = [
            json!({"pattern": "("}),
            json!({"pattern": "x", "glob": "[z"}),
            json!({"pattern": "x", "max_results": 0}),
            json!({"path": "src"}),
        ];
        for arguments in cases {
            let error = grep(&fixture, arguments.clone()).await.unwrap_err();
            assert!(matches!(error, ToolError::InvalidArguments(_)), "{arguments}: {error}");
        }
        assert_eq!(Grep.spec().parameters["required"], json!(["pattern"]));
    }
}
