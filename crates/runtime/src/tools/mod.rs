//! Tools the model can call: the [`Tool`] trait, the builtin tools and a registry.
//!
//! Builtins keep agentry's names: `echo`, `bash`, `view`, `write`, `ls`. Tool failures are
//! reported back to the model as a tool result (`is_error`), not as a run failure.

mod bash;
mod echo;
mod fs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

pub use bash::Bash;
pub use echo::Echo;
pub use fs::{Ls, View, Write};

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
    /// Wall-clock limit for the call.
    pub timeout: Duration,
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

    /// Returns how an interrupted call of this tool is handled on resume (default:
    /// [`InterruptPolicy::Retry`], i.e. the tool is idempotent under its idempotency key).
    fn on_interrupt(&self) -> InterruptPolicy {
        InterruptPolicy::Retry
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

/// The tools of one agent, by name.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Arc<dyn Tool>>,
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
                unknown => return Err(format!("unknown tool {unknown:?}")),
            };
            registry.insert(tool);
        }
        Ok(registry)
    }

    /// Adds (or replaces) a tool under its spec name.
    pub fn insert(&mut self, tool: Arc<dyn Tool>) {
        self.tools.insert(tool.spec().name, tool);
    }

    /// Returns the tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name)
    }

    /// Returns the specs of every tool, for the model request.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.values().map(|tool| tool.spec()).collect()
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
