//! The `find` tool: lists paths under a directory by name and type.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Budget, PathList, SearchRoot, glob_matcher, marked};
use crate::model::ToolSpec;
use crate::tools::fs::{blocking, read_manifest};
use crate::tools::{Tool, ToolContext, ToolError, ToolManifest, parse_arguments};
use agentry_core::limits::truncate_with_marker;

/// `find {path?, name?, type?, max_depth?}`: lists the paths under `path` (default the
/// workspace), relative to the workspace and in tree order, whose file name matches the glob
/// `name` (e.g. `*.rs`; default any), of `type` `file` or `dir` (default any, symlinks too),
/// at most `max_depth` levels down (1 = the directory's own entries). Directories end with `/`,
/// symlinks with `@`. Walks as described in the `search` module: no symlinks followed,
/// `.gitignore` honoured, `.git` skipped. At most 1000 paths, then a count of the rest; cut to
/// the manifest's `max_output_bytes`.
///
/// Errors with [`ToolError::InvalidArguments`] for a bad glob, `max_depth` 0 or a path outside
/// the workspace, and [`ToolError::Failed`] when the path is missing or leads out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Find;

#[derive(Deserialize)]
struct FindArguments {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<EntryKind>,
    #[serde(default)]
    max_depth: Option<usize>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum EntryKind {
    File,
    Dir,
}

#[async_trait]
impl Tool for Find {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "find".to_owned(),
            description: "Lists paths under a directory of the workspace by file name glob and type, honouring \
                          .gitignore. Directories end with /, symlinks with @ (not followed)."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Directory to search (default the workspace)."},
                    "name": {"type": "string", "description": "Glob on the file name, e.g. `*.rs` (default any)."},
                    "type": {"type": "string", "enum": ["file", "dir"], "description": "Only files or only directories."},
                    "max_depth": {"type": "integer", "minimum": 1, "description": "Levels to descend (1 = entries of path)."},
                },
            }),
        }
    }

    /// Reads only: retried when interrupted.
    fn manifest(&self) -> ToolManifest {
        read_manifest()
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let arguments = if arguments.is_null() { json!({}) } else { arguments };
        let FindArguments { path, name, kind, max_depth } = parse_arguments("find", arguments)?;
        if max_depth == Some(0) {
            return Err(ToolError::InvalidArguments("find: max_depth must be at least 1".to_owned()));
        }
        let matcher = name.as_deref().map(|name| glob_matcher("find", "name", name)).transpose()?;
        let mut budget = Budget::of(context);
        let root = context.workspace.clone();
        let output = blocking(move || {
            let search = SearchRoot::open(&root, "find", path.as_deref())?;
            let mut list = PathList::default();
            for entry in search.walk(max_depth) {
                if let Some(reason) = budget.spend() {
                    list.stop(reason);
                    break;
                }
                let Ok(entry) = entry else { continue };
                if entry.depth() == 0 {
                    continue;
                }
                let Some(file_type) = entry.file_type() else { continue };
                let kind_matches = match kind {
                    Some(EntryKind::File) => file_type.is_file(),
                    Some(EntryKind::Dir) => file_type.is_dir(),
                    None => true,
                };
                let name_matches = matcher.as_ref().is_none_or(|matcher| matcher.is_match(entry.file_name()));
                if kind_matches && name_matches {
                    list.push(marked(search.shown(&entry), &entry));
                }
            }
            let shown_root = path.as_deref().unwrap_or(".");
            Ok(list.render(&format!("nothing matches under {shown_root}")))
        })
        .await?;
        Ok(truncate_with_marker(&output, context.manifest.max_output_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::fs::testing::Fixture;

    fn tree() -> Fixture {
        let fixture = Fixture::new();
        std::fs::create_dir_all(fixture.path("src/deep/er")).unwrap();
        std::fs::create_dir_all(fixture.path("target/debug")).unwrap();
        std::fs::create_dir_all(fixture.path(".git/objects")).unwrap();
        for file in ["src/lib.rs", "src/deep/mod.rs", "src/deep/er/x.rs", "target/debug/out.rs", ".hidden.rs"] {
            std::fs::write(fixture.path(file), "").unwrap();
        }
        std::fs::write(fixture.path(".gitignore"), "target/\n").unwrap();
        fixture
    }

    async fn find(fixture: &Fixture, arguments: Value) -> Result<String, ToolError> {
        Find.call(&fixture.context(&Find), arguments).await
    }

    #[tokio::test]
    async fn find_filters_by_name_type_and_depth() {
        let fixture = tree();
        let rust = find(&fixture, json!({"name": "*.rs"})).await.unwrap();
        assert_eq!(rust, ".hidden.rs\nsrc/deep/er/x.rs\nsrc/deep/mod.rs\nsrc/lib.rs");
        let dirs = find(&fixture, json!({"path": "src", "type": "dir"})).await.unwrap();
        assert_eq!(dirs, "src/deep/\nsrc/deep/er/");
        let shallow = find(&fixture, json!({"path": "./src", "type": "file", "max_depth": 2})).await.unwrap();
        assert_eq!(shallow, "src/deep/mod.rs\nsrc/lib.rs");
        let ignored_but_named = find(&fixture, json!({"path": "target"})).await.unwrap();
        assert_eq!(ignored_but_named, "target/debug/\ntarget/debug/out.rs");
        let none = find(&fixture, json!({"name": "*.go"})).await.unwrap();
        assert_eq!(none, "nothing matches under .");
    }

    #[tokio::test]
    async fn find_follows_an_inside_root_link_and_caps_the_list() {
        let fixture = tree();
        std::os::unix::fs::symlink("src/deep", fixture.path("deep_link")).unwrap();
        let linked = find(&fixture, json!({"path": "deep_link", "type": "file"})).await.unwrap();
        assert_eq!(linked, "src/deep/er/x.rs\nsrc/deep/mod.rs");
        std::fs::create_dir(fixture.path("many")).unwrap();
        for index in 0..super::super::MAX_LISTED_PATHS + 3 {
            std::fs::write(fixture.path(&format!("many/{index:04}")), "").unwrap();
        }
        let capped = find(&fixture, json!({"path": "many"})).await.unwrap();
        assert!(capped.ends_with("many/0999\n[3 more matches]"), "{}", &capped[capped.len() - 60..]);
    }

    #[tokio::test]
    async fn find_refuses_bad_arguments() {
        let fixture = tree();
        for arguments in [json!({"name": "[z-a"}), json!({"max_depth": 0}), json!({"type": "link"})] {
            let error = find(&fixture, arguments.clone()).await.unwrap_err();
            assert!(matches!(error, ToolError::InvalidArguments(_)), "{arguments}: {error}");
        }
        let missing = find(&fixture, json!({"path": "nope"})).await.unwrap_err();
        assert_eq!(missing, ToolError::Failed("nope: no such file or directory".to_owned()));
        assert_eq!(Find.spec().parameters["properties"]["type"]["enum"], json!(["file", "dir"]));
    }
}
