//! The `write` tool: creates or replaces a whole file.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{MAX_WRITE_BYTES, Workspace, blocking};
use crate::model::ToolSpec;
use crate::tools::{FsScope, Tool, ToolContext, ToolError, ToolManifest, parse_arguments};

/// `write {path, content}`: creates or replaces a file inside the workspace with `content`,
/// creating parent directories, and returns `"wrote N bytes to PATH"`. A symlink at `path` is
/// followed when it stays inside the workspace.
///
/// Errors with [`ToolError::InvalidArguments`] for paths outside the workspace and content over
/// 1 MiB, and [`ToolError::Failed`] when the path is a directory or another non-regular file,
/// leads out through a symlink, or the file system refuses.
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
                    "path": {"type": "string", "description": "File, relative to the workspace."},
                    "content": {"type": "string", "description": "Full new content (at most 1 MiB)."},
                },
                "required": ["path", "content"],
            }),
        }
    }

    /// Writing given content twice leaves the same file as writing it once, so an interrupted
    /// call is retried.
    fn manifest(&self) -> ToolManifest {
        ToolManifest { filesystem: FsScope::WorkspaceWrite, ..ToolManifest::default() }
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let WriteArguments { path, content } = parse_arguments("write", arguments)?;
        let size = content.len();
        if size > MAX_WRITE_BYTES {
            let reason = format!("write: content is {size} bytes, more than the {MAX_WRITE_BYTES} allowed");
            return Err(ToolError::InvalidArguments(reason));
        }
        let root = context.workspace.clone();
        blocking(move || {
            let workspace = Workspace::open(&root)?;
            let relative = workspace.resolve("write", &path)?;
            if relative.as_os_str() == "." {
                return Err(ToolError::InvalidArguments(format!("write: {path:?} names the workspace, not a file")));
            }
            workspace.write_file(&relative, &path, content.as_bytes())?;
            Ok(format!("wrote {size} bytes to {path}"))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::InterruptPolicy;
    use crate::tools::fs::testing::Fixture;

    #[tokio::test]
    async fn write_creates_parents_inside_the_workspace() {
        let fixture = Fixture::new();
        let context = fixture.context(&Write);
        let output = Write.call(&context, json!({"path": "./src/../src/x/y.txt", "content": "héllo"})).await;
        assert_eq!(output, Ok("wrote 6 bytes to ./src/../src/x/y.txt".to_owned()));
        assert_eq!(fixture.read("src/x/y.txt"), "héllo");
        let absolute = fixture.path("abs.txt").display().to_string();
        Write.call(&context, json!({"path": absolute, "content": "a"})).await.unwrap();
        assert_eq!(fixture.read("abs.txt"), "a");
    }

    #[tokio::test]
    async fn write_follows_a_symlink_that_stays_inside() {
        let fixture = Fixture::new();
        let context = fixture.context(&Write);
        Write.call(&context, json!({"path": "link_in", "content": "replaced\n"})).await.unwrap();
        assert_eq!(fixture.read("inside.txt"), "replaced\n");
        assert!(std::fs::symlink_metadata(fixture.path("link_in")).unwrap().file_type().is_symlink());
    }

    #[tokio::test]
    async fn write_refuses_escapes_directories_and_large_content() {
        let fixture = Fixture::new();
        fixture.assert_confined(&Write, |path| json!({"path": path, "content": "pwned"})).await;
        let context = fixture.context(&Write);
        let error = Write.call(&context, json!({"path": "dir_out/new.txt", "content": "x"})).await.unwrap_err();
        assert_eq!(
            error,
            ToolError::Failed("dir_out/new.txt: leads outside the workspace (through a symlink)".to_owned())
        );
        let error = Write.call(&context, json!({"path": "dangling_out", "content": "x"})).await.unwrap_err();
        assert_eq!(
            error,
            ToolError::Failed("dangling_out: leads outside the workspace (through a symlink)".to_owned())
        );
        let error = Write.call(&context, json!({"path": "inside.txt/x", "content": "x"})).await.unwrap_err();
        assert_eq!(error, ToolError::Failed("inside.txt/x: inside.txt is not a directory".to_owned()));
        let error = Write.call(&context, json!({"path": "sub", "content": "x"})).await.unwrap_err();
        assert_eq!(error, ToolError::Failed("sub is a directory".to_owned()));
        let error = Write.call(&context, json!({"path": "", "content": "x"})).await.unwrap_err();
        assert_eq!(error, ToolError::InvalidArguments("write: \"\" names the workspace, not a file".to_owned()));
        let too_big = "x".repeat(MAX_WRITE_BYTES + 1);
        let error = Write.call(&context, json!({"path": "big", "content": too_big})).await.unwrap_err();
        assert!(matches!(error, ToolError::InvalidArguments(_)));
        assert!(!fixture.path("big").exists());
        let error = Write.call(&context, json!({"path": "x"})).await.unwrap_err();
        assert_eq!(error, ToolError::InvalidArguments("write: missing field `content`".to_owned()));
    }

    #[test]
    fn write_is_retried_when_interrupted() {
        let manifest = Write.manifest();
        assert!(manifest.idempotent);
        assert_eq!(manifest.filesystem, FsScope::WorkspaceWrite);
        assert_eq!(manifest.on_interrupt, InterruptPolicy::Retry);
        assert_eq!(Write.spec().parameters["required"], json!(["path", "content"]));
    }
}
