//! Test fixtures for the workspace tools: a workspace with symlinks in and out, and a check
//! that a tool refuses every way out.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::tools::{Tool, ToolContext};

/// A workspace beside a directory it must not reach.
///
/// `workspace/` holds `inside.txt` (`"one\ntwo\nthree\n"`), `sub/nested.txt`, `link_in` (a
/// symlink to `inside.txt`), `link_out` (to `outside/secret.txt`), `dir_out` (to `outside/`)
/// and `dangling_out` (to the missing `outside/new.txt`). `outside/` holds `secret.txt`
/// (`"secret\n"`).
pub(crate) struct Fixture {
    pub(crate) workspace: TempDir,
    pub(crate) outside: TempDir,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let workspace = TempDir::new().expect("workspace");
        let outside = TempDir::new().expect("outside");
        std::fs::write(outside.path().join("secret.txt"), "secret\n").expect("secret");
        std::fs::write(workspace.path().join("inside.txt"), "one\ntwo\nthree\n").expect("inside");
        std::fs::create_dir(workspace.path().join("sub")).expect("sub");
        std::fs::write(workspace.path().join("sub/nested.txt"), "nested\n").expect("nested");
        symlink("inside.txt", workspace.path().join("link_in")).expect("link_in");
        symlink(outside.path().join("secret.txt"), workspace.path().join("link_out")).expect("link_out");
        symlink(outside.path(), workspace.path().join("dir_out")).expect("dir_out");
        symlink(outside.path().join("new.txt"), workspace.path().join("dangling_out")).expect("dangling_out");
        Self { workspace, outside }
    }

    pub(crate) fn path(&self, relative: &str) -> std::path::PathBuf {
        self.workspace.path().join(relative)
    }

    pub(crate) fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).expect("readable file")
    }

    pub(crate) fn context(&self, tool: &dyn Tool) -> ToolContext {
        ToolContext::unconfined(self.workspace.path().to_path_buf(), tool.manifest(), Duration::from_secs(5))
    }

    /// Returns the paths a tool must refuse: `..`, absolute outside, and symlinks out.
    pub(crate) fn escapes(&self) -> Vec<String> {
        let outside_name = self.outside.path().file_name().expect("named").to_string_lossy().into_owned();
        vec![
            format!("../{outside_name}/secret.txt"),
            format!("sub/../../{outside_name}/secret.txt"),
            self.outside.path().join("secret.txt").display().to_string(),
            format!("{}/../{outside_name}/secret.txt", self.workspace.path().display()),
            "link_out".to_owned(),
            "dir_out/secret.txt".to_owned(),
            "dir_out/new.txt".to_owned(),
            "dir_out".to_owned(),
            "dangling_out".to_owned(),
        ]
    }

    /// Asserts that `tool` refuses every escape path given to it by `arguments`, and that the
    /// outside directory is unchanged afterwards.
    pub(crate) async fn assert_confined(&self, tool: &dyn Tool, arguments: impl Fn(&str) -> Value) {
        let context = self.context(tool);
        let before = snapshot(self.outside.path());
        for path in self.escapes() {
            let result = tool.call(&context, arguments(&path)).await;
            let name = tool.spec().name;
            match result {
                Err(_) => {}
                Ok(output) => panic!("{name} accepted {path:?}: {output}"),
            }
        }
        assert_eq!(snapshot(self.outside.path()), before, "the outside directory changed");
    }
}

/// Returns the files under `directory` with their content.
fn snapshot(directory: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(directory)
        .expect("listable")
        .map(|entry| {
            let entry = entry.expect("entry");
            let content = std::fs::read_to_string(entry.path()).unwrap_or_default();
            (entry.file_name().to_string_lossy().into_owned(), content)
        })
        .collect()
}
