//! The SDK conformance scenario's data (`sdk/conformance/scenario.json`; the steps are in
//! `sdk/conformance/README.md`): what the Rust, Python and TypeScript SDK tests spawn and
//! expect, and the script of the model that answers them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;

use crate::scripted_model::Reply;

/// The scenario file of this repository.
pub fn scenario_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/conformance/scenario.json")
}

/// One scenario, as `scenario.json` writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Model reference of the spawned agents (`openai:scripted`).
    pub model: String,
    /// Their tools.
    pub tools: Vec<String>,
    /// The input of each spawn.
    pub input: String,
    /// How long the model waits before each reply, in milliseconds.
    pub latency_ms: u64,
    /// The model's reply at each step of a run (the last repeats).
    pub script: Vec<ScriptedReply>,
    /// The `content` of the run's `final` event.
    pub answer: String,
    /// Step 2 reads the trace after this seq.
    pub trace_after: u64,
    /// Step 3 restarts the hub on the first event of this type.
    pub restart_after_event: String,
}

/// One reply of the model's script.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ScriptedReply {
    /// A call of `tool` with `arguments` (a JSON object).
    Tool {
        /// Tool name.
        tool: String,
        /// Its arguments.
        arguments: Value,
    },
    /// A final text answer.
    Text {
        /// The answer.
        text: String,
    },
}

impl Scenario {
    /// Reads and parses a scenario file; the error names the file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading the scenario {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing the scenario {}", path.display()))
    }

    /// The model's script as [`crate::ScriptedModel`] replies.
    pub fn replies(&self) -> Vec<Reply> {
        self.script
            .iter()
            .map(|reply| match reply {
                ScriptedReply::Tool { tool, arguments } => Reply::tool(tool, arguments.clone()),
                ScriptedReply::Text { text } => Reply::text(text),
            })
            .collect()
    }

    /// The model's latency per reply.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_scenario_parses_and_ends_with_the_answer() {
        let scenario = Scenario::load(&scenario_path()).unwrap();
        assert!(matches!(scenario.script.last(), Some(ScriptedReply::Text { text }) if *text == scenario.answer));
        let tool_steps = scenario.script.iter().filter(|reply| matches!(reply, ScriptedReply::Tool { .. })).count();
        assert!(tool_steps >= 2, "the restart needs a run with several steps");
        assert!(scenario.tools.iter().all(|tool| !tool.is_empty()));
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let error = serde_json::from_str::<Scenario>(r#"{"model":"m","bogus":1}"#).unwrap_err();
        assert!(error.to_string().contains("bogus"), "{error}");
    }
}
