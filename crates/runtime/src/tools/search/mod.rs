//! Search tools over the workspace: `find` (by name and type), `glob` (by path pattern) and
//! `grep` (by regex over contents).
//!
//! The search root is resolved through the workspace capability, so a root given as a symlink
//! is followed only when it stays inside. Walks never follow symlinks (they are listed, not
//! entered, and `grep` skips them), honour `.gitignore` and `.ignore` files in the searched
//! tree (not in its parents, nor the node's global git config), skip `.git`, and include hidden
//! files. `grep` reads every file through the capability. Walks stop after visiting 100,000
//! entries or most of the call's time limit and say so. Printed paths are relative to the
//! workspace.

mod find;
mod glob;
mod grep;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ignore::{DirEntry, WalkBuilder};

use super::ToolContext;
use super::ToolError;
use super::fs::{Workspace, io_failure};

pub use find::Find;
pub use glob::Glob;
pub use grep::Grep;

/// Most entries a walk visits before it stops.
const MAX_VISITED_ENTRIES: usize = 100_000;
/// Most paths `find` and `glob` print; the rest are counted.
const MAX_LISTED_PATHS: usize = 1000;

/// Where a search starts: a directory or file of the workspace, symlinks resolved.
pub(crate) struct SearchRoot {
    workspace: Workspace,
    /// The root's real path relative to the workspace (empty for the workspace itself).
    relative: PathBuf,
}

impl SearchRoot {
    /// Opens the workspace at `workspace_root` and resolves `path` (default the workspace) in
    /// it.
    ///
    /// Errors with [`ToolError::InvalidArguments`] when `path` is outside the workspace and
    /// [`ToolError::Failed`] when it is missing or leads out through a symlink.
    pub(crate) fn open(workspace_root: &Path, tool: &str, path: Option<&str>) -> Result<Self, ToolError> {
        let workspace = Workspace::open(workspace_root)?;
        let shown = path.unwrap_or(".");
        let relative = workspace.resolve(tool, shown)?;
        let canonical = workspace.dir().canonicalize(&relative).map_err(|error| io_failure(shown, &error))?;
        let relative = if canonical.as_os_str() == "." { PathBuf::new() } else { canonical };
        Ok(Self { workspace, relative })
    }

    /// Returns the capability every read goes through.
    pub(crate) fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// Returns the root's path outside the capability.
    fn absolute(&self) -> PathBuf {
        self.workspace.root().join(&self.relative)
    }

    /// Returns a walker over the root, to `max_depth` levels below it when given (1 = its
    /// entries), in file name order.
    pub(crate) fn walk(&self, max_depth: Option<usize>) -> ignore::Walk {
        let mut builder = WalkBuilder::new(self.absolute());
        builder
            .standard_filters(false)
            .hidden(false)
            .parents(false)
            .ignore(true)
            .git_ignore(true)
            .git_exclude(true)
            .require_git(false)
            .follow_links(false)
            .max_depth(max_depth)
            .sort_by_file_name(|left, right| left.cmp(right))
            .filter_entry(|entry| entry.depth() == 0 || entry.file_name() != ".git");
        builder.build()
    }

    /// Returns `entry`'s path relative to the search root (empty for the root).
    pub(crate) fn below_root<'entry>(&self, entry: &'entry DirEntry) -> &'entry Path {
        entry.path().strip_prefix(self.absolute()).unwrap_or(entry.path())
    }

    /// Returns `entry`'s path relative to the workspace, as printed (`.` for the workspace).
    pub(crate) fn shown(&self, entry: &DirEntry) -> String {
        let relative = entry.path().strip_prefix(self.workspace.root()).unwrap_or(entry.path());
        if relative.as_os_str().is_empty() { ".".to_owned() } else { relative.to_string_lossy().into_owned() }
    }

    /// Returns `entry`'s path relative to the workspace, for reading through the capability.
    pub(crate) fn relative(&self, entry: &DirEntry) -> PathBuf {
        let relative = entry.path().strip_prefix(self.workspace.root()).unwrap_or(entry.path());
        if relative.as_os_str().is_empty() { PathBuf::from(".") } else { relative.to_path_buf() }
    }
}

/// How much of a walk is left: entries and time.
pub(crate) struct Budget {
    visited: usize,
    deadline: Instant,
}

impl Budget {
    /// Returns the budget of a call in `context`: [`MAX_VISITED_ENTRIES`] and 80% of the
    /// call's time limit, so partial results come back before the call times out.
    pub(crate) fn of(context: &ToolContext) -> Self {
        let limit = context.timeout.min(context.manifest.wall_time).mul_f64(0.8).max(Duration::from_millis(100));
        Self { visited: 0, deadline: Instant::now() + limit }
    }

    /// Counts one visited entry; returns why the walk must stop when the budget is spent.
    pub(crate) fn spend(&mut self) -> Option<String> {
        self.visited += 1;
        if self.visited > MAX_VISITED_ENTRIES {
            return Some(format!("[stopped after visiting {MAX_VISITED_ENTRIES} entries; narrow the path]"));
        }
        // Checking the clock on every entry is cheap next to the directory reads.
        if Instant::now() > self.deadline {
            return Some("[stopped at the time limit; narrow the path]".to_owned());
        }
        None
    }
}

/// Collects the paths `find` and `glob` print: at most [`MAX_LISTED_PATHS`], then counts.
#[derive(Default)]
pub(crate) struct PathList {
    paths: Vec<String>,
    more: usize,
    stopped: Option<String>,
}

impl PathList {
    /// Adds `path`, or counts it when the list is full.
    pub(crate) fn push(&mut self, path: String) {
        if self.paths.len() < MAX_LISTED_PATHS {
            self.paths.push(path);
        } else {
            self.more += 1;
        }
    }

    /// Records why the walk stopped early.
    pub(crate) fn stop(&mut self, reason: String) {
        self.stopped = Some(reason);
    }

    /// Returns the list, one path per line, then markers; `empty` when nothing matched.
    pub(crate) fn render(self, empty: &str) -> String {
        let mut output = self.paths.join("\n");
        if self.paths.is_empty() {
            output.push_str(empty);
        }
        if self.more > 0 {
            output.push_str(&format!("\n[{} more matches]", self.more));
        }
        if let Some(reason) = self.stopped {
            output.push('\n');
            output.push_str(&reason);
        }
        output
    }
}

/// Returns `shown` marked like `ls -F`: directories end with `/`, symlinks with `@`.
pub(crate) fn marked(shown: String, entry: &DirEntry) -> String {
    match entry.file_type() {
        Some(file_type) if file_type.is_dir() => shown + "/",
        Some(file_type) if file_type.is_symlink() => shown + "@",
        _ => shown,
    }
}

/// Returns the matcher of the glob `pattern` given as `field` to `tool`: `*`, `?` and `[..]`
/// do not cross `/`, `**` does, `{a,b}` picks.
///
/// Errors with [`ToolError::InvalidArguments`] when the pattern does not parse.
pub(crate) fn glob_matcher(tool: &str, field: &str, pattern: &str) -> Result<globset::GlobMatcher, ToolError> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|error| ToolError::InvalidArguments(format!("{tool}: {field}: {error}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tools::Tool;
    use crate::tools::fs::testing::Fixture;

    #[tokio::test]
    async fn search_roots_never_leave_the_workspace() {
        let fixture = Fixture::new();
        fixture.assert_confined(&Find, |path| json!({"path": path})).await;
        fixture.assert_confined(&Glob, |path| json!({"pattern": "**", "path": path})).await;
        fixture.assert_confined(&Grep, |path| json!({"pattern": "secret", "path": path})).await;
    }

    #[tokio::test]
    async fn walks_do_not_follow_symlinks() {
        let fixture = Fixture::new();
        let context = fixture.context(&Find);
        let found = Find.call(&context, json!({})).await.unwrap();
        assert_eq!(found, "dangling_out@\ndir_out@\ninside.txt\nlink_in@\nlink_out@\nsub/\nsub/nested.txt");
        let globbed = Glob.call(&fixture.context(&Glob), json!({"pattern": "**/*secret*"})).await.unwrap();
        assert_eq!(globbed, "no paths match **/*secret*");
        let grepped = Grep.call(&fixture.context(&Grep), json!({"pattern": "secret|one"})).await.unwrap();
        assert_eq!(grepped, "inside.txt:1:one");
    }

    #[test]
    fn search_tools_are_reads() {
        for tool in [&Find as &dyn Tool, &Glob, &Grep] {
            let manifest = tool.manifest();
            assert!(manifest.idempotent);
            assert_eq!(manifest.filesystem, crate::tools::FsScope::WorkspaceRead);
            assert_eq!(manifest.on_interrupt, crate::tools::InterruptPolicy::Retry);
        }
    }
}
