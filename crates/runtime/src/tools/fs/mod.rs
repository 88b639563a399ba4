//! File tools confined to the run's workspace: `view`, `read_lines`, `write`, `edit_range`,
//! `insert_at`, `search_replace` and `ls`, and the [`Workspace`] handle the search and patch
//! tools share.
//!
//! Every open, read, write, create, delete and listing goes through a [`cap_std::fs::Dir`]
//! opened on the workspace. It resolves each path component itself (`openat2` with
//! `RESOLVE_BENEATH` on Linux) and refuses any `..` or symlink that would leave the directory,
//! so a symlink planted by `bash` cannot lead a file tool out. A lexical check before that gives
//! clear errors for `..` escapes and absolute paths outside the workspace; an absolute path
//! inside the workspace is accepted.

mod edit;
mod ls;
mod replace;
mod view;
mod write;

use std::io::{ErrorKind, Read};
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::{FsScope, InterruptPolicy, ToolError, ToolManifest};

pub use edit::{EditRange, InsertAt};
pub use ls::Ls;
pub use replace::SearchReplace;
pub use view::{ReadLines, View};
pub use write::Write;

/// Largest file the tools read, in bytes (10 MiB); larger files are refused (or skipped by
/// `grep`).
pub(crate) const MAX_READ_BYTES: u64 = 10 * 1024 * 1024;
/// Largest content a call may add, in bytes (1 MiB): `write`'s content, an edit's new text, a
/// patch.
pub(crate) const MAX_WRITE_BYTES: usize = 1024 * 1024;

/// The manifest of the read-only tools: idempotent, reads the workspace, retried when
/// interrupted (reading again has no effect).
pub(crate) fn read_manifest() -> ToolManifest {
    ToolManifest { filesystem: FsScope::WorkspaceRead, ..ToolManifest::default() }
}

/// The manifest of the tools that edit files relative to their current content (`edit_range`,
/// `insert_at`, `search_replace`, `patch`): not idempotent, since running one twice applies it
/// twice (a second insert duplicates lines, a second replace may hit the next occurrence). An
/// interrupted call is not re-run; the model is told and checks the file first.
pub(crate) fn edit_manifest() -> ToolManifest {
    ToolManifest {
        idempotent: false,
        filesystem: FsScope::WorkspaceWrite,
        on_interrupt: InterruptPolicy::Ask,
        ..ToolManifest::default()
    }
}

/// Runs blocking file-system work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ToolError> + Send + 'static,
) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|error| Err(ToolError::Failed(format!("file task failed: {error}"))))
}

/// Returns the error shown to the model for an I/O failure on `shown` (the path as given).
pub(crate) fn io_failure(shown: &str, error: &std::io::Error) -> ToolError {
    match error.kind() {
        ErrorKind::NotFound => ToolError::Failed(format!("{shown}: no such file or directory")),
        // cap-std's refusal of a path resolving outside the directory.
        ErrorKind::PermissionDenied if error.to_string().contains("outside of the filesystem") => {
            ToolError::Failed(format!("{shown}: leads outside the workspace (through a symlink)"))
        }
        ErrorKind::PermissionDenied => ToolError::Failed(format!("{shown}: permission denied")),
        _ => ToolError::Failed(format!("{shown}: {error}")),
    }
}

/// The run's workspace, opened as a capability: paths given to it cannot leave it.
pub(crate) struct Workspace {
    dir: Dir,
    root: PathBuf,
    canonical_root: Option<PathBuf>,
}

impl Workspace {
    /// Opens the workspace directory `root`.
    ///
    /// Errors with [`ToolError::Failed`] when it cannot be opened.
    pub(crate) fn open(root: &Path) -> Result<Self, ToolError> {
        let dir = Dir::open_ambient_dir(root, ambient_authority())
            .map_err(|error| ToolError::Failed(format!("cannot open the workspace: {error}")))?;
        let canonical_root = std::fs::canonicalize(root).ok();
        Ok(Self { dir, root: root.to_path_buf(), canonical_root })
    }

    /// Returns the capability every file access goes through.
    pub(crate) fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Returns the workspace's path outside the capability (for walkers that need one).
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Returns `path` as a normalized path relative to the workspace (`.` for the workspace
    /// itself): relative paths are taken from the workspace, absolute ones must lie inside it,
    /// `.` is dropped and `..` resolved lexically.
    ///
    /// Errors with [`ToolError::InvalidArguments`] naming `tool` when `path` is absolute outside
    /// the workspace or `..` climbs above it. Symlinks are checked when the path is opened.
    pub(crate) fn resolve(&self, tool: &str, path: &str) -> Result<PathBuf, ToolError> {
        let requested = Path::new(path);
        let relative = if requested.is_absolute() {
            let inside = requested.strip_prefix(&self.root).ok().or_else(|| {
                self.canonical_root.as_deref().and_then(|canonical| requested.strip_prefix(canonical).ok())
            });
            inside.ok_or_else(|| {
                let reason = format!("{tool}: {path:?} is outside the workspace; give a path relative to it");
                ToolError::InvalidArguments(reason)
            })?
        } else {
            requested
        };
        let mut normalized = PathBuf::new();
        for component in relative.components() {
            match component {
                Component::Normal(part) => normalized.push(part),
                Component::CurDir => {}
                Component::ParentDir if normalized.pop() => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    let reason = format!("{tool}: {path:?} escapes the workspace");
                    return Err(ToolError::InvalidArguments(reason));
                }
            }
        }
        if normalized.as_os_str().is_empty() {
            normalized.push(".");
        }
        Ok(normalized)
    }

    /// Returns the text of the regular file at `relative`.
    ///
    /// Errors with [`ToolError::Failed`] naming `shown` when the file is missing, not a regular
    /// file, larger than [`MAX_READ_BYTES`], binary (has a NUL byte) or not UTF-8.
    pub(crate) fn read_text(&self, relative: &Path, shown: &str) -> Result<String, ToolError> {
        // Checked before opening: opening a FIFO for reading would block.
        let metadata = self.dir.metadata(relative).map_err(|error| io_failure(shown, &error))?;
        if metadata.is_dir() {
            return Err(ToolError::Failed(format!("{shown} is a directory; use ls to list it")));
        }
        if !metadata.is_file() {
            return Err(ToolError::Failed(format!("{shown} is not a regular file")));
        }
        if metadata.len() > MAX_READ_BYTES {
            let size = metadata.len();
            return Err(ToolError::Failed(format!(
                "{shown} is {size} bytes; files over {MAX_READ_BYTES} bytes are not read"
            )));
        }
        let file = self.dir.open(relative).map_err(|error| io_failure(shown, &error))?;
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        // `take` guards against a file that grew since the size check.
        file.take(MAX_READ_BYTES + 1).read_to_end(&mut bytes).map_err(|error| io_failure(shown, &error))?;
        if bytes.len() as u64 > MAX_READ_BYTES {
            return Err(ToolError::Failed(format!("{shown} is over {MAX_READ_BYTES} bytes; it is not read")));
        }
        if bytes.contains(&0) {
            return Err(ToolError::Failed(format!("{shown} looks binary (contains NUL bytes)")));
        }
        String::from_utf8(bytes).map_err(|_| ToolError::Failed(format!("{shown} is not UTF-8 text")))
    }

    /// Returns whether something (a file, directory or symlink) exists at `relative`.
    ///
    /// Errors with [`ToolError::Failed`] when the path leads outside the workspace or cannot
    /// be checked.
    pub(crate) fn exists(&self, relative: &Path, shown: &str) -> Result<bool, ToolError> {
        match self.dir.symlink_metadata(relative) {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
            Err(error) => Err(io_failure(shown, &error)),
        }
    }

    /// Creates or replaces the regular file at `relative` with `content`, creating parent
    /// directories. A symlink at `relative` is followed (inside the workspace only).
    ///
    /// Errors with [`ToolError::Failed`] naming `shown` when `relative` is a directory or
    /// another non-regular file, or the file system refuses.
    pub(crate) fn write_file(&self, relative: &Path, shown: &str, content: &[u8]) -> Result<(), ToolError> {
        if let Some(parent) = relative.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            match self.dir.metadata(parent) {
                Ok(metadata) if metadata.is_dir() => {}
                Ok(_) => {
                    let parent = parent.display();
                    return Err(ToolError::Failed(format!("{shown}: {parent} is not a directory")));
                }
                Err(error) if error.kind() == ErrorKind::NotFound => {
                    self.dir.create_dir_all(parent).map_err(|error| io_failure(shown, &error))?;
                }
                Err(error) => return Err(io_failure(shown, &error)),
            }
        }
        match self.dir.metadata(relative) {
            Ok(metadata) if metadata.is_dir() => return Err(ToolError::Failed(format!("{shown} is a directory"))),
            // Writing to a FIFO or device would block or do something other than write a file.
            Ok(metadata) if !metadata.is_file() => {
                return Err(ToolError::Failed(format!("{shown} is not a regular file")));
            }
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(io_failure(shown, &error)),
        }
        self.dir.write(relative, content).map_err(|error| io_failure(shown, &error))
    }

    /// Deletes the file (or symlink) at `relative`.
    ///
    /// Errors with [`ToolError::Failed`] naming `shown` when the file system refuses.
    pub(crate) fn remove_file(&self, relative: &Path, shown: &str) -> Result<(), ToolError> {
        self.dir.remove_file(relative).map_err(|error| io_failure(shown, &error))
    }
}

/// Returns `text` split into lines that keep their terminators (`"a\nb"` is `["a\n", "b"]`).
pub(crate) fn split_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// Returns the line terminator `text` uses: `\r\n` when its first line ends so, else `\n`.
pub(crate) fn line_ending(text: &str) -> &'static str {
    match text.split_inclusive('\n').next() {
        Some(line) if line.ends_with("\r\n") => "\r\n",
        _ => "\n",
    }
}

/// Returns `lines` as `"{n:>6}\t{line}\n"` numbered from `first_number`, terminators dropped.
pub(crate) fn numbered(lines: &[&str], first_number: usize) -> String {
    let mut output = String::new();
    for (index, line) in lines.iter().enumerate() {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        output.push_str(&format!("{:>6}\t{line}\n", first_number + index));
    }
    output
}

#[cfg(test)]
pub(crate) mod testing;
