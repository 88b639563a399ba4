//! The `search_replace` tool: replaces exact text in a file.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::edit::{check_content_size, edit_file};
use super::edit_manifest;
use crate::model::ToolSpec;
use crate::tools::{Tool, ToolContext, ToolError, ToolManifest, parse_arguments};

/// `search_replace {path, search, replace, count?, all?}`: replaces exact (not regex)
/// occurrences of `search` in a text file of the workspace with `replace`.
///
/// The rule: with neither `count` nor `all`, `search` must occur exactly once. With `count`,
/// it must occur exactly `count` times and every occurrence is replaced. With `all: true`,
/// every occurrence (at least one) is replaced. Occurrences do not overlap. In a file with
/// `\r\n` line endings, a `search` written with `\n` matches them (and `replace` gets them).
///
/// Errors with [`ToolError::InvalidArguments`] when `search` is empty, `count` is 0, both
/// `count` and `all` are given, `replace` is over 1 MiB or the path is outside the workspace,
/// and [`ToolError::Failed`] when `search` is not found, occurs more than once without `count`
/// or `all`, occurs other than `count` times, or the file cannot be read or written as text.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchReplace;

#[derive(Deserialize)]
struct SearchReplaceArguments {
    path: String,
    search: String,
    replace: String,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    all: bool,
}

#[async_trait]
impl Tool for SearchReplace {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "search_replace".to_owned(),
            description: "Replaces exact text in a text file of the workspace. By default `search` must occur \
                          exactly once (include surrounding lines to make it unique); set `count` to the \
                          expected number of occurrences, or `all` to true, to replace several."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File, relative to the workspace."},
                    "search": {"type": "string", "description": "Exact text to find (whitespace matters)."},
                    "replace": {"type": "string", "description": "Replacement text (at most 1 MiB)."},
                    "count": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Expected number of occurrences; all are replaced, and the call fails \
                                        when the file has a different number.",
                    },
                    "all": {"type": "boolean", "description": "Replace every occurrence (default false)."},
                },
                "required": ["path", "search", "replace"],
            }),
        }
    }

    /// Running a replacement twice may hit text it just wrote or a later occurrence: an
    /// interrupted call is not re-run (`Ask`); the model checks the file first.
    fn manifest(&self) -> ToolManifest {
        edit_manifest()
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let SearchReplaceArguments { path, search, replace, count, all } =
            parse_arguments("search_replace", arguments)?;
        if search.is_empty() {
            return Err(ToolError::InvalidArguments("search_replace: search is empty".to_owned()));
        }
        if count == Some(0) {
            return Err(ToolError::InvalidArguments("search_replace: count must be at least 1".to_owned()));
        }
        if count.is_some() && all {
            return Err(ToolError::InvalidArguments("search_replace: give count or all, not both".to_owned()));
        }
        check_content_size("search_replace", &replace)?;
        let shown = path.clone();
        edit_file("search_replace", &context.workspace, path, move |text| {
            let (search, replace) = match_line_endings(text, search, replace);
            let found = text.matches(search.as_str()).count();
            if found == 0 {
                let reason = format!(
                    "search text not found in {shown}; it must match exactly, including whitespace and indentation"
                );
                return Err(ToolError::Failed(reason));
            }
            match count {
                Some(expected) if expected != found => {
                    return Err(ToolError::Failed(format!(
                        "expected {expected} occurrences in {shown}, found {found}"
                    )));
                }
                None if found > 1 && !all => {
                    let reason = format!(
                        "search text occurs {found} times in {shown}; include surrounding lines to make it unique, \
                         or set count to {found} (or all to true) to replace every occurrence"
                    );
                    return Err(ToolError::Failed(reason));
                }
                _ => {}
            }
            let plural = if found == 1 { "occurrence" } else { "occurrences" };
            Ok((text.replace(search.as_str(), &replace), format!("replaced {found} {plural} in {shown}")))
        })
        .await
    }
}

/// Returns `search` and `replace` with `\n` turned into `\r\n` when `search` is not found as
/// given but is found that way (the model wrote `\n` for a `\r\n` file); else unchanged.
fn match_line_endings(text: &str, search: String, replace: String) -> (String, String) {
    if text.contains(search.as_str()) || !search.contains('\n') || search.contains("\r\n") {
        return (search, replace);
    }
    let crlf_search = search.replace('\n', "\r\n");
    if !text.contains(crlf_search.as_str()) {
        return (search, replace);
    }
    let crlf_replace = replace.replace("\r\n", "\n").replace('\n', "\r\n");
    (crlf_search, crlf_replace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::fs::MAX_WRITE_BYTES;
    use crate::tools::fs::testing::Fixture;
    use crate::tools::{FsScope, InterruptPolicy};

    async fn replace(fixture: &Fixture, arguments: Value) -> Result<String, ToolError> {
        SearchReplace.call(&fixture.context(&SearchReplace), arguments).await
    }

    #[tokio::test]
    async fn replaces_a_unique_occurrence() {
        let fixture = Fixture::new();
        std::fs::write(fixture.path("f.rs"), "fn a() {}\nfn b() {}\n").unwrap();
        let output = replace(&fixture, json!({"path": "f.rs", "search": "fn b", "replace": "fn c"})).await;
        assert_eq!(output.unwrap(), "replaced 1 occurrence in f.rs");
        assert_eq!(fixture.read("f.rs"), "fn a() {}\nfn c() {}\n");
        let missing = replace(&fixture, json!({"path": "f.rs", "search": "fn  a", "replace": "x"})).await;
        assert!(matches!(missing, Err(ToolError::Failed(text)) if text.starts_with("search text not found in f.rs")));
    }

    #[tokio::test]
    async fn ambiguous_search_needs_count_or_all() {
        let fixture = Fixture::new();
        std::fs::write(fixture.path("f.txt"), "x x x\n").unwrap();
        let ambiguous = replace(&fixture, json!({"path": "f.txt", "search": "x", "replace": "y"})).await;
        assert!(matches!(ambiguous, Err(ToolError::Failed(text)) if text.contains("occurs 3 times")));
        let wrong = replace(&fixture, json!({"path": "f.txt", "search": "x", "replace": "y", "count": 2})).await;
        assert_eq!(wrong.unwrap_err(), ToolError::Failed("expected 2 occurrences in f.txt, found 3".to_owned()));
        assert_eq!(fixture.read("f.txt"), "x x x\n");
        let counted = replace(&fixture, json!({"path": "f.txt", "search": "x", "replace": "y", "count": 3})).await;
        assert_eq!(counted.unwrap(), "replaced 3 occurrences in f.txt");
        let all = replace(&fixture, json!({"path": "f.txt", "search": "y", "replace": "zz", "all": true})).await;
        assert_eq!(all.unwrap(), "replaced 3 occurrences in f.txt");
        assert_eq!(fixture.read("f.txt"), "zz zz zz\n");
    }

    #[tokio::test]
    async fn invalid_arguments_are_refused_before_reading() {
        let fixture = Fixture::new();
        let cases = [
            json!({"path": "inside.txt", "search": "", "replace": "y"}),
            json!({"path": "inside.txt", "search": "one", "replace": "y", "count": 0}),
            json!({"path": "inside.txt", "search": "one", "replace": "y", "count": 1, "all": true}),
            json!({"path": "inside.txt", "search": "one", "replace": "y".repeat(MAX_WRITE_BYTES + 1)}),
            json!({"path": "inside.txt", "search": "one"}),
        ];
        for arguments in cases {
            let error = replace(&fixture, arguments.clone()).await.unwrap_err();
            assert!(matches!(error, ToolError::InvalidArguments(_)), "{arguments}: {error}");
        }
        assert_eq!(fixture.read("inside.txt"), "one\ntwo\nthree\n");
    }

    #[tokio::test]
    async fn matches_crlf_files_with_lf_search_text() {
        let fixture = Fixture::new();
        std::fs::write(fixture.path("f.txt"), "a\r\nb\r\nc\r\n").unwrap();
        let output = replace(&fixture, json!({"path": "f.txt", "search": "a\nb\n", "replace": "A\nB\n"})).await;
        assert_eq!(output.unwrap(), "replaced 1 occurrence in f.txt");
        assert_eq!(fixture.read("f.txt"), "A\r\nB\r\nc\r\n");
    }

    #[tokio::test]
    async fn replaces_through_inside_links_and_refuses_escapes() {
        let fixture = Fixture::new();
        let output = replace(&fixture, json!({"path": "link_in", "search": "two", "replace": "2"})).await;
        assert_eq!(output.unwrap(), "replaced 1 occurrence in link_in");
        assert_eq!(fixture.read("inside.txt"), "one\n2\nthree\n");
        fixture.assert_confined(&SearchReplace, |path| json!({"path": path, "search": "secret", "replace": "x"})).await;
    }

    #[test]
    fn search_replace_asks_when_interrupted() {
        let manifest = SearchReplace.manifest();
        assert!(!manifest.idempotent);
        assert_eq!(manifest.filesystem, FsScope::WorkspaceWrite);
        assert_eq!(manifest.on_interrupt, InterruptPolicy::Ask);
        assert_eq!(SearchReplace.spec().parameters["required"], json!(["path", "search", "replace"]));
    }
}
