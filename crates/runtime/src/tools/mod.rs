//! Tools the model can call: the [`Tool`] trait, each tool's [`ToolManifest`], the builtin
//! tools and a registry (which also holds the node's sandbox for the processes tools start).
//!
//! Builtins keep agentry's names ([`BUILTIN_TOOL_NAMES`]): `echo`, `bash` (in the sandbox),
//! the file tools `view`, `read_lines`, `write`, `edit_range`, `insert_at`, `search_replace`,
//! `ls` (confined to the run's workspace, `fs/`), the searches `find`, `grep`, `glob`
//! (`search/`), `fetch` (network policy, `fetch/`) and `patch` (`patch/`). Tool failures are
//! reported back to the model as a tool result (`is_error`), not as a run failure; docs/tools.md
//! has every schema and manifest.

mod bash;
mod echo;
mod fetch;
mod fs;
mod manifest;
mod patch;
mod search;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

pub use bash::Bash;
pub use echo::Echo;
pub use fetch::{Fetch, MAX_FETCH_BODY_BYTES};
pub use fs::{EditRange, InsertAt, Ls, ReadLines, SearchReplace, View, Write};
pub use manifest::{FsScope, ToolManifest};
pub use patch::Patch;
pub use search::{Find, Glob, Grep};

use crate::model::ToolSpec;

pub use agentry_core::BUILTIN_TOOL_NAMES;

/// What a tool call may use.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The run's workspace directory (exists; relative paths resolve against it).
    pub workspace: PathBuf,
    /// `run_id/step/tool_call_id`: the same for every attempt of one call, so a tool with side
    /// effects can recognise a retry.
    pub idempotency_key: String,
    /// Wall-clock limit for the call (the run's tool timeout; the manifest's wall time may be
    /// shorter).
    pub timeout: Duration,
    /// The tool's effective manifest (its own, with the node's config applied).
    pub manifest: ToolManifest,
    /// What confines the processes the call starts.
    pub sandbox: Arc<dyn agentry_sandbox::Sandbox>,
}

impl ToolContext {
    /// Returns a context for a call in `workspace` with `manifest`, unconfined: for tests and
    /// embedders that run tools outside a node.
    pub fn unconfined(workspace: PathBuf, manifest: ToolManifest, timeout: Duration) -> Self {
        Self {
            workspace,
            idempotency_key: "test/1/call".to_owned(),
            timeout,
            manifest,
            sandbox: Arc::new(agentry_sandbox::Unconfined),
        }
    }
}

/// Why a tool call failed; the text is shown to the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not match the tool's schema.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The call ran and failed.
    #[error("{0}")]
    Failed(String),
    /// The call exceeded its time limit.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// What the agent loop does on resume with a call of this tool that had started (its
/// `tool_start` is committed) but has no committed result: the executor died mid-call, so the
/// call may or may not have taken effect. The loop records a `tool_interrupted` event, then:
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptPolicy {
    /// Runs the call again with the same idempotency key. For idempotent tools (reads, writes
    /// of given content) and tools that deduplicate by the key.
    Retry,
    /// Fails the run, naming the call: an operator decides what to do.
    Fail,
    /// Does not run it again; gives the model an error result saying the call was interrupted
    /// and may have taken effect, so the model checks the state before acting again.
    Ask,
}

impl InterruptPolicy {
    /// Returns the lowercase name used in `tool_interrupted` events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Fail => "fail",
            Self::Ask => "ask",
        }
    }
}

/// A callable tool.
#[async_trait]
pub trait Tool: Send + Sync {
    /// Returns the name, description and argument schema offered to the model.
    fn spec(&self) -> ToolSpec;

    /// Returns what the tool may use and how an interrupted call is handled (default:
    /// [`ToolManifest::default`], a pure idempotent tool).
    fn manifest(&self) -> ToolManifest {
        ToolManifest::default()
    }

    /// Runs the tool with `arguments` (a JSON object) and returns its textual output.
    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError>;
}

/// Returns `arguments` parsed into `T`, for the builtin tools.
///
/// Errors with [`ToolError::InvalidArguments`] naming the tool and serde's reason (missing field,
/// wrong type).
pub(crate) fn parse_arguments<T: serde::de::DeserializeOwned>(tool: &str, arguments: Value) -> Result<T, ToolError> {
    serde_json::from_value(arguments).map_err(|error| ToolError::InvalidArguments(format!("{tool}: {error}")))
}

/// Builds the tools of an agent from the names in its spec. The node takes one by injection,
/// so tests and embedders can offer their own tools; [`BuiltinTools`] is the default.
pub trait ToolCatalog: Send + Sync {
    /// Returns a registry holding the tools called `names`.
    ///
    /// Errors with a message naming the first unknown tool.
    fn tools(&self, names: &[String]) -> Result<ToolRegistry, String>;
}

/// The builtin tools ([`BUILTIN_TOOL_NAMES`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinTools;

impl ToolCatalog for BuiltinTools {
    fn tools(&self, names: &[String]) -> Result<ToolRegistry, String> {
        ToolRegistry::builtin(names)
    }
}

/// The tools of one agent, by name, with their effective manifests and the sandbox their
/// processes run in.
#[derive(Clone)]
pub struct ToolRegistry {
    tools: BTreeMap<String, (Arc<dyn Tool>, ToolManifest)>,
    sandbox: Arc<dyn agentry_sandbox::Sandbox>,
}

impl Default for ToolRegistry {
    /// An empty registry whose processes run unconfined.
    fn default() -> Self {
        Self { tools: BTreeMap::new(), sandbox: Arc::new(agentry_sandbox::Unconfined) }
    }
}

impl ToolRegistry {
    /// Returns a registry with the named builtin tools.
    ///
    /// Errors with the unknown name when one is not a builtin.
    pub fn builtin(names: &[String]) -> Result<Self, String> {
        let mut registry = Self::default();
        for name in names {
            let tool: Arc<dyn Tool> = match name.as_str() {
                "echo" => Arc::new(Echo),
                "bash" => Arc::new(Bash),
                "view" => Arc::new(View),
                "write" => Arc::new(Write),
                "ls" => Arc::new(Ls),
                "fetch" => Arc::new(Fetch),
                "read_lines" => Arc::new(ReadLines),
                "edit_range" => Arc::new(EditRange),
                "insert_at" => Arc::new(InsertAt),
                "search_replace" => Arc::new(SearchReplace),
                "find" => Arc::new(Find),
                "grep" => Arc::new(Grep),
                "glob" => Arc::new(Glob),
                "patch" => Arc::new(Patch),
                unknown => return Err(format!("unknown tool {unknown:?}")),
            };
            registry.insert(tool);
        }
        Ok(registry)
    }

    /// Adds (or replaces) a tool under its spec name, with its own manifest.
    pub fn insert(&mut self, tool: Arc<dyn Tool>) {
        let manifest = tool.manifest();
        self.insert_with_manifest(tool, manifest);
    }

    /// Adds (or replaces) a tool under its spec name, with `manifest` instead of its own.
    pub fn insert_with_manifest(&mut self, tool: Arc<dyn Tool>, manifest: ToolManifest) {
        self.tools.insert(tool.spec().name, (tool, manifest));
    }

    /// Applies the node's manifest overrides (`[tools.manifest.NAME]`) to the tools they name.
    pub fn apply_overrides(&mut self, overrides: &BTreeMap<String, agentry_core::policy::ManifestOverride>) {
        for (name, changes) in overrides {
            if let Some((_, manifest)) = self.tools.get_mut(name) {
                *manifest = manifest.clone().with_override(changes);
            }
        }
    }

    /// Sets the sandbox the tools' processes run in.
    pub fn set_sandbox(&mut self, sandbox: Arc<dyn agentry_sandbox::Sandbox>) {
        self.sandbox = sandbox;
    }

    /// Returns the sandbox the tools' processes run in.
    pub fn sandbox(&self) -> &Arc<dyn agentry_sandbox::Sandbox> {
        &self.sandbox
    }

    /// Returns the tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name).map(|(tool, _)| tool)
    }

    /// Returns the effective manifest of the tool called `name`.
    pub fn manifest(&self, name: &str) -> Option<&ToolManifest> {
        self.tools.get(name).map(|(_, manifest)| manifest)
    }

    /// Returns the specs of every tool, for the model request.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.values().map(|(tool, _)| tool.spec()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_name_builds_the_tool_of_that_name() {
        let names: Vec<String> = BUILTIN_TOOL_NAMES.iter().map(|name| name.to_string()).collect();
        let registry = BuiltinTools.tools(&names).expect("every builtin name is known");
        for name in BUILTIN_TOOL_NAMES {
            assert_eq!(registry.get(name).map(|tool| tool.spec().name).as_deref(), Some(*name));
        }
        assert!(BuiltinTools.tools(&["rm".to_owned()]).is_err());
    }
}
