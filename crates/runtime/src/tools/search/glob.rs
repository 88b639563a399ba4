//! The `glob` tool: lists paths matching a glob pattern.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Budget, PathList, SearchRoot, glob_matcher, marked};
use crate::model::ToolSpec;
use crate::tools::fs::{blocking, read_manifest};
use crate::tools::{Tool, ToolContext, ToolError, ToolManifest, parse_arguments};
use agentry_core::limits::truncate_with_marker;

/// `glob {pattern, path?}`: lists the files and directories under `path` (default the
/// workspace) whose path relative to `path` matches the glob `pattern`, like a shell: `*`, `?`
/// and `[..]` stay within one path component, `**` spans any number, `{a,b}` picks (so `*.rs`
/// matches only at the top, `**/*.rs` everywhere). Paths print relative to the workspace, in
/// tree order; directories end with `/`, symlinks with `@`. Walks as described in
/// the `search` module. At most 1000 paths, then a count of the rest; cut to the manifest's
/// `max_output_bytes`.
///
/// Errors with [`ToolError::InvalidArguments`] for an empty or bad pattern or a path outside
/// the workspace, and [`ToolError::Failed`] when the path is missing or leads out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Glob;

#[derive(Deserialize)]
struct GlobArguments {
    pattern: String,
    #[serde(default)]
    path: Option<String>,
}

#[async_trait]
impl Tool for Glob {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "glob".to_owned(),
            description: "Lists paths of the workspace matching a glob such as `src/**/*.rs` (`*` stays in one \
                          directory, `**` crosses directories), honouring .gitignore."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Glob, relative to path."},
                    "path": {"type": "string", "description": "Directory to search (default the workspace)."},
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
        let GlobArguments { pattern, path } = parse_arguments("glob", arguments)?;
        if pattern.is_empty() {
            return Err(ToolError::InvalidArguments("glob: pattern is empty".to_owned()));
        }
        let matcher = glob_matcher("glob", "pattern", &pattern)?;
        // Only `**` crosses `/`, so without it no match lies deeper than the pattern's parts.
        let max_depth = (!pattern.contains("**")).then(|| pattern.split('/').count());
        let mut budget = Budget::of(context);
        let root = context.workspace.clone();
        let output = blocking(move || {
            let search = SearchRoot::open(&root, "glob", path.as_deref())?;
            let mut list = PathList::default();
            for entry in search.walk(max_depth) {
                if let Some(reason) = budget.spend() {
                    list.stop(reason);
                    break;
                }
                let Ok(entry) = entry else { continue };
                if entry.depth() > 0 && matcher.is_match(search.below_root(&entry)) {
                    list.push(marked(search.shown(&entry), &entry));
                }
            }
            Ok(list.render(&format!("no paths match {pattern}")))
        })
        .await?;
        Ok(truncate_with_marker(&output, context.manifest.max_output_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::fs::testing::Fixture;

    async fn glob(fixture: &Fixture, arguments: Value) -> Result<String, ToolError> {
        Glob.call(&fixture.context(&Glob), arguments).await
    }

    #[tokio::test]
    async fn glob_matches_like_a_shell() {
        let fixture = Fixture::new();
        std::fs::create_dir_all(fixture.path("src/a/b")).unwrap();
        std::fs::create_dir_all(fixture.path("build")).unwrap();
        for file in ["top.rs", "src/lib.rs", "src/a/mod.rs", "src/a/b/c.rs", "src/a/b/c.txt", "build/gen.rs"] {
            std::fs::write(fixture.path(file), "").unwrap();
        }
        std::fs::write(fixture.path(".ignore"), "build\n").unwrap();
        assert_eq!(glob(&fixture, json!({"pattern": "*.rs"})).await.unwrap(), "top.rs");
        let everywhere = glob(&fixture, json!({"pattern": "**/*.rs"})).await.unwrap();
        assert_eq!(everywhere, "src/a/b/c.rs\nsrc/a/mod.rs\nsrc/lib.rs\ntop.rs");
        let under = glob(&fixture, json!({"pattern": "a/*", "path": "src"})).await.unwrap();
        assert_eq!(under, "src/a/b/\nsrc/a/mod.rs");
        let picked = glob(&fixture, json!({"pattern": "src/**/c.{rs,txt}"})).await.unwrap();
        assert_eq!(picked, "src/a/b/c.rs\nsrc/a/b/c.txt");
        let links = glob(&fixture, json!({"pattern": "link_*"})).await.unwrap();
        assert_eq!(links, "link_in@\nlink_out@");
        assert_eq!(glob(&fixture, json!({"pattern": "*.go"})).await.unwrap(), "no paths match *.go");
    }

    #[tokio::test]
    async fn glob_refuses_bad_patterns() {
        let fixture = Fixture::new();
        for arguments in [json!({"pattern": ""}), json!({"pattern": "a[b"}), json!({"path": "."})] {
            let error = glob(&fixture, arguments.clone()).await.unwrap_err();
            assert!(matches!(error, ToolError::InvalidArguments(_)), "{arguments}: {error}");
        }
        assert_eq!(Glob.spec().parameters["required"], json!(["pattern"]));
    }
}
