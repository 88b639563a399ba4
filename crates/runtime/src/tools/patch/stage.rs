//! The in-memory staging of a patch: files read once, hunks applied to their staged content,
//! then everything written at the end, with a restore of the originals if a write fails.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::PathBuf;

use diffy::Patch as Hunks;

use crate::tools::ToolError;
use crate::tools::fs::{MAX_READ_BYTES, Workspace};

/// One file touched by the patch: its content before and after.
struct StagedFile {
    /// The path as the patch spells it, for messages.
    shown: String,
    /// The content on disk when first read (`None`: no file).
    original: Option<String>,
    /// The content after the hunks so far (`None`: no file).
    staged: Option<String>,
}

/// The files a patch touches, by normalized workspace-relative path.
pub(super) struct Stage<'workspace> {
    workspace: &'workspace Workspace,
    files: BTreeMap<PathBuf, StagedFile>,
}

impl<'workspace> Stage<'workspace> {
    pub(super) fn new(workspace: &'workspace Workspace) -> Self {
        Self { workspace, files: BTreeMap::new() }
    }

    /// Returns the staged file at `path`, reading it from the workspace the first time.
    fn file(&mut self, path: &str) -> Result<&mut StagedFile, ToolError> {
        let workspace = self.workspace;
        let relative = workspace.resolve("patch", path)?;
        if relative.as_os_str() == "." {
            return Err(ToolError::InvalidArguments(format!("patch: {path:?} names the workspace, not a file")));
        }
        let file = match self.files.entry(relative) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let original = if workspace.exists(entry.key(), path)? {
                    Some(workspace.read_text(entry.key(), path)?)
                } else {
                    None
                };
                let staged = original.clone();
                entry.insert(StagedFile { shown: path.to_owned(), original, staged })
            }
        };
        Ok(file)
    }

    /// Stages the creation of `path` with the content the hunks add.
    pub(super) fn create(&mut self, path: &str, hunks: &Hunks<'_, str>) -> Result<(), ToolError> {
        let file = self.file(path)?;
        if file.staged.is_some() {
            return Err(ToolError::Failed(format!("patch: cannot create {path}: it exists")));
        }
        file.staged = Some(apply_hunks("", hunks, path)?);
        Ok(())
    }

    /// Stages the deletion of `path`, whose whole content the hunks must remove.
    pub(super) fn delete(&mut self, path: &str, hunks: &Hunks<'_, str>) -> Result<(), ToolError> {
        let file = self.file(path)?;
        let Some(content) = file.staged.as_deref() else {
            return Err(ToolError::Failed(format!("patch: cannot delete {path}: no such file")));
        };
        if !apply_hunks(content, hunks, path)?.is_empty() {
            return Err(ToolError::Failed(format!("patch: cannot delete {path}: the hunks do not remove all of it")));
        }
        file.staged = None;
        Ok(())
    }

    /// Stages the hunks applied to `from`, written to `to`: in place when they are the same,
    /// else a move (or a copy when `keep_source`); `to` must not exist then.
    pub(super) fn modify(
        &mut self,
        from: &str,
        to: &str,
        hunks: &Hunks<'_, str>,
        keep_source: bool,
    ) -> Result<(), ToolError> {
        let same_file = self.workspace.resolve("patch", from)? == self.workspace.resolve("patch", to)?;
        let source = self.file(from)?;
        let Some(content) = source.staged.as_deref() else {
            return Err(ToolError::Failed(format!("patch: cannot patch {from}: no such file")));
        };
        let patched = apply_hunks(content, hunks, from)?;
        if same_file {
            source.staged = Some(patched);
            return Ok(());
        }
        if !keep_source {
            source.staged = None;
        }
        let target = self.file(to)?;
        if target.staged.is_some() {
            return Err(ToolError::Failed(format!("patch: cannot move or copy {from} to {to}: {to} exists")));
        }
        target.staged = Some(patched);
        Ok(())
    }

    /// Writes every changed file (deletions first, so a file may give way to a directory) and
    /// returns the summary. When a write fails, restores the files already changed.
    ///
    /// Errors with [`ToolError::Failed`] when a result is over 10 MiB (nothing written) or the
    /// file system refuses (changes undone as far as possible).
    pub(super) fn commit(self) -> Result<String, ToolError> {
        let changed: Vec<(&PathBuf, &StagedFile)> =
            self.files.iter().filter(|(_, file)| file.original != file.staged).collect();
        if let Some((_, file)) =
            changed.iter().find(|(_, file)| file.staged.as_ref().is_some_and(|text| text.len() as u64 > MAX_READ_BYTES))
        {
            return Err(ToolError::Failed(format!("patch: {} would grow over {MAX_READ_BYTES} bytes", file.shown)));
        }
        let (deletions, writes): (Vec<_>, Vec<_>) = changed.iter().partition(|(_, file)| file.staged.is_none());
        let mut done: Vec<&(&PathBuf, &StagedFile)> = Vec::new();
        for step in deletions.iter().chain(&writes) {
            let (relative, file) = step;
            let result = match &file.staged {
                Some(content) => self.workspace.write_file(relative, &file.shown, content.as_bytes()),
                None => self.workspace.remove_file(relative, &file.shown),
            };
            if let Err(error) = result {
                self.restore(&done);
                return Err(ToolError::Failed(format!("patch: {error}; files already changed were restored")));
            }
            done.push(step);
        }
        if changed.is_empty() {
            return Ok("patch applied; no file changed".to_owned());
        }
        let summary: Vec<String> = changed
            .iter()
            .map(|(_, file)| match (&file.original, &file.staged) {
                (None, _) => format!("A {}", file.shown),
                (_, None) => format!("D {}", file.shown),
                _ => format!("M {}", file.shown),
            })
            .collect();
        Ok(summary.join("\n"))
    }

    /// Puts the original content of `done` back, best effort (the caller reports the failure).
    fn restore(&self, done: &[&(&PathBuf, &StagedFile)]) {
        for (relative, file) in done.iter().rev() {
            let _ = match &file.original {
                Some(content) => self.workspace.write_file(relative, &file.shown, content.as_bytes()),
                None => self.workspace.remove_file(relative, &file.shown),
            };
        }
    }
}

/// Returns `content` with `hunks` applied; retries with `\n` endings when `content` uses
/// `\r\n` and the hunks do not apply as given, and puts the `\r\n` back.
///
/// Errors with [`ToolError::Failed`] naming the first hunk that does not apply.
fn apply_hunks(content: &str, hunks: &Hunks<'_, str>, shown: &str) -> Result<String, ToolError> {
    let error = match diffy::apply(content, hunks) {
        Ok(patched) => return Ok(patched),
        Err(error) => error,
    };
    if content.contains("\r\n")
        && let Ok(patched) = diffy::apply(&content.replace("\r\n", "\n"), hunks)
    {
        return Ok(patched.replace('\n', "\r\n"));
    }
    Err(ToolError::Failed(format!(
        "patch: {shown}: {error}: its context and removed lines are not in the file; nothing was written"
    )))
}
