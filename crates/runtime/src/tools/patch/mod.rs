//! The `patch` tool: applies a unified diff to files of the workspace, all or nothing.
//!
//! Parsing is `diffy`'s (`git diff` output when a `diff --git` line is present, else plain
//! unified diffs); hunks apply at their line or the nearest place their context and removed
//! lines match exactly (no fuzz). Every file is read and every hunk applied in memory first;
//! files are written only when all of them apply.

mod stage;

use async_trait::async_trait;
use diffy::patch_set::{FileOperation, ParseOptions, PatchSet};
use serde::Deserialize;
use serde_json::{Value, json};

use super::fs::{MAX_WRITE_BYTES, Workspace, blocking, edit_manifest};
use super::{Tool, ToolContext, ToolError, ToolManifest, parse_arguments};
use crate::model::ToolSpec;
use agentry_core::limits::truncate_with_marker;
use stage::Stage;

/// `patch {patch}`: applies a unified diff (as `git diff` or `diff -u` print it) to files of
/// the workspace and returns one line per changed file: `A path` (created), `M path`
/// (modified), `D path` (deleted).
///
/// Several files may be patched at once. Paths are relative to the workspace (absolute ones
/// must lie inside it), with git's `a/` and `b/` prefixes stripped when both sides carry them;
/// `--- /dev/null` creates a file (which must not exist), `+++ /dev/null` deletes one (the
/// hunks must remove its whole content), and differing paths (or git's rename and copy
/// headers) move or copy the file. All or nothing: every hunk is checked against the current
/// content before anything is written, and if a write still fails, files already written are
/// restored. A file with `\r\n` endings takes a patch written with `\n`. The patch is at most
/// 1 MiB; files are at most 10 MiB.
///
/// Errors with [`ToolError::InvalidArguments`] when the patch does not parse, is binary or
/// names a path outside the workspace, and [`ToolError::Failed`] when a hunk does not apply,
/// a file to create exists, a file to change is missing or not text, a path leads out
/// through a symlink, or the file system refuses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Patch;

#[derive(Deserialize)]
struct PatchArguments {
    patch: String,
}

#[async_trait]
impl Tool for Patch {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "patch".to_owned(),
            description: "Applies a unified diff (`--- a/path`, `+++ b/path`, `@@` hunks; several files; \
                          /dev/null to create or delete) to the workspace. Nothing is written unless every \
                          hunk applies."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "patch": {"type": "string", "description": "Unified diff text (at most 1 MiB)."},
                },
                "required": ["patch"],
            }),
        }
    }

    /// Applying a patch twice fails or changes the files twice (a creation finds its file, an
    /// insertion may apply again elsewhere): an interrupted call is not re-run (`Ask`); the
    /// model checks the files first.
    fn manifest(&self) -> ToolManifest {
        edit_manifest()
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let PatchArguments { patch } = parse_arguments("patch", arguments)?;
        if patch.len() > MAX_WRITE_BYTES {
            let reason = format!("patch: the patch is {} bytes, more than {MAX_WRITE_BYTES}", patch.len());
            return Err(ToolError::InvalidArguments(reason));
        }
        let root = context.workspace.clone();
        let output = blocking(move || apply(&Workspace::open(&root)?, &patch)).await?;
        Ok(truncate_with_marker(&output, context.manifest.max_output_bytes))
    }
}

/// Applies every file patch of `patch` to `workspace`, all or nothing, and returns the summary.
fn apply(workspace: &Workspace, patch: &str) -> Result<String, ToolError> {
    let is_git_diff = patch.lines().any(|line| line.starts_with("diff --git "));
    let options = if is_git_diff { ParseOptions::gitdiff() } else { ParseOptions::unidiff() };
    let mut stage = Stage::new(workspace);
    for file_patch in PatchSet::parse(patch, options) {
        let file_patch = file_patch.map_err(|error| ToolError::InvalidArguments(format!("patch: {error}")))?;
        let Some(hunks) = file_patch.patch().as_text() else {
            return Err(ToolError::InvalidArguments("patch: binary patches are not supported".to_owned()));
        };
        match file_patch.operation() {
            FileOperation::Create(path) => stage.create(&strip(path, "b/"), hunks)?,
            FileOperation::Delete(path) => stage.delete(&strip(path, "a/"), hunks)?,
            FileOperation::Modify { original, modified } => {
                let (from, to) = strip_pair(original, modified);
                stage.modify(&from, &to, hunks, false)?;
            }
            FileOperation::Rename { from, to } => {
                let (from, to) = strip_pair(from, to);
                stage.modify(&from, &to, hunks, false)?;
            }
            FileOperation::Copy { from, to } => {
                let (from, to) = strip_pair(from, to);
                stage.modify(&from, &to, hunks, true)?;
            }
        }
    }
    stage.commit()
}

/// Returns `path` without git's `prefix` (`a/` or `b/`).
fn strip(path: &str, prefix: &str) -> String {
    path.strip_prefix(prefix).unwrap_or(path).to_owned()
}

/// Returns the old and new paths without git's `a/` and `b/` prefixes when both carry them
/// (a plain diff of a directory named `a` keeps its paths).
fn strip_pair(old: &str, new: &str) -> (String, String) {
    match (old.strip_prefix("a/"), new.strip_prefix("b/")) {
        (Some(old), Some(new)) => (old.to_owned(), new.to_owned()),
        _ => (old.to_owned(), new.to_owned()),
    }
}

#[cfg(test)]
mod tests;
