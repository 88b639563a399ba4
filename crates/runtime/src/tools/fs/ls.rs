//! The `ls` tool: lists a directory of the workspace.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Workspace, blocking, io_failure, read_manifest};
use crate::model::ToolSpec;
use crate::tools::{Tool, ToolContext, ToolError, ToolManifest, parse_arguments};
use agentry_core::limits::truncate_with_marker;

/// Most entries `ls` lists; the rest are counted in a marker line.
const MAX_LS_ENTRIES: usize = 1000;

/// `ls {path?}`: lists a directory of the workspace (default the workspace itself), one sorted
/// entry per line, marked like `ls -F`: directories end with `/`, symlinks with `@` (not
/// followed). At most 1000 entries, then a count of the rest; cut to the manifest's
/// `max_output_bytes`.
///
/// Errors with [`ToolError::InvalidArguments`] for paths outside the workspace and
/// [`ToolError::Failed`] naming the path when it is missing, not a directory or behind a
/// symlink leading out.
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
            description: "Lists a directory of the workspace (default the workspace); directories end with /, \
                          symlinks with @."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Directory, relative to the workspace."}},
            }),
        }
    }

    /// Reads only: retried when interrupted.
    fn manifest(&self) -> ToolManifest {
        read_manifest()
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        // Some models send `null` rather than `{}` for a call without arguments.
        let arguments = if arguments.is_null() { json!({}) } else { arguments };
        let arguments: LsArguments = parse_arguments("ls", arguments)?;
        let path = arguments.path.unwrap_or_else(|| ".".to_owned());
        let root = context.workspace.clone();
        let output = blocking(move || {
            let workspace = Workspace::open(&root)?;
            let relative = workspace.resolve("ls", &path)?;
            let metadata = workspace.dir().metadata(&relative).map_err(|error| io_failure(&path, &error))?;
            if !metadata.is_dir() {
                return Err(ToolError::Failed(format!("{path} is not a directory; use view to read it")));
            }
            let entries = workspace.dir().read_dir(&relative).map_err(|error| io_failure(&path, &error))?;
            let mut names = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|error| io_failure(&path, &error))?;
                let mut name = entry.file_name().to_string_lossy().into_owned();
                match entry.file_type() {
                    Ok(file_type) if file_type.is_dir() => name.push('/'),
                    Ok(file_type) if file_type.is_symlink() => name.push('@'),
                    _ => {}
                }
                names.push(name);
            }
            Ok(listing(&path, names))
        })
        .await?;
        Ok(truncate_with_marker(&output, context.manifest.max_output_bytes))
    }
}

/// Returns `names` sorted, one per line, at most [`MAX_LS_ENTRIES`] then a count of the rest.
fn listing(path: &str, mut names: Vec<String>) -> String {
    if names.is_empty() {
        return format!("{path} is empty");
    }
    names.sort_unstable();
    let more = names.len().saturating_sub(MAX_LS_ENTRIES);
    names.truncate(MAX_LS_ENTRIES);
    let mut output = names.join("\n");
    if more > 0 {
        output.push_str(&format!("\n[{more} more entries]"));
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::FsScope;
    use crate::tools::fs::testing::Fixture;

    #[tokio::test]
    async fn ls_sorts_and_marks_directories_and_links() {
        let fixture = Fixture::new();
        std::fs::write(fixture.path("sub/b.txt"), "").unwrap();
        std::fs::create_dir(fixture.path("sub/a_dir")).unwrap();
        let context = fixture.context(&Ls);
        let top = "dangling_out@\ndir_out@\ninside.txt\nlink_in@\nlink_out@\nsub/";
        assert_eq!(Ls.call(&context, json!({})).await.unwrap(), top);
        assert_eq!(Ls.call(&context, Value::Null).await.unwrap(), top);
        let absolute = fixture.path("sub").display().to_string();
        assert_eq!(Ls.call(&context, json!({"path": absolute})).await.unwrap(), "a_dir/\nb.txt\nnested.txt");
        assert_eq!(Ls.call(&context, json!({"path": "sub/a_dir"})).await.unwrap(), "sub/a_dir is empty");
        let error = Ls.call(&context, json!({"path": "inside.txt"})).await.unwrap_err();
        assert_eq!(error, ToolError::Failed("inside.txt is not a directory; use view to read it".to_owned()));
    }

    #[tokio::test]
    async fn ls_lists_an_inside_link_and_refuses_escapes() {
        let fixture = Fixture::new();
        std::os::unix::fs::symlink("sub", fixture.path("sub_link")).unwrap();
        let listed = Ls.call(&fixture.context(&Ls), json!({"path": "sub_link"})).await.unwrap();
        assert_eq!(listed, "nested.txt");
        fixture.assert_confined(&Ls, |path| json!({"path": path})).await;
    }

    #[tokio::test]
    async fn ls_caps_the_entry_count() {
        let fixture = Fixture::new();
        std::fs::create_dir(fixture.path("many")).unwrap();
        for index in 0..MAX_LS_ENTRIES + 5 {
            std::fs::write(fixture.path(&format!("many/f{index:04}")), "").unwrap();
        }
        let output = Ls.call(&fixture.context(&Ls), json!({"path": "many"})).await.unwrap();
        assert_eq!(output.lines().count(), MAX_LS_ENTRIES + 1);
        assert!(output.starts_with("f0000\nf0001\n") && output.ends_with("\n[5 more entries]"), "{output}");
    }

    #[test]
    fn ls_is_a_read() {
        assert_eq!(Ls.manifest().filesystem, FsScope::WorkspaceRead);
        assert!(Ls.manifest().idempotent);
        assert!(Ls.spec().parameters.get("required").is_none());
    }
}
