//! Agents: long-lived conversations with a model, tools and instructions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::AgentId;
use crate::limits::{DEFAULT_MAX_ITERATIONS, MAX_ITERATIONS_LIMIT, MAX_SYSTEM_PROMPT_BYTES};

/// Names of the builtin tools every node provides (agentry's names), in the order they are
/// offered. The hub checks specs against this list; `agentry-runtime` builds each of them.
pub const BUILTIN_TOOL_NAMES: &[&str] = &["echo", "bash", "view", "write", "ls"];

/// How an agent runs. Serialized as JSON in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// Model reference: a configured model or route, `provider:model`, or a fallback chain
    /// `a,b` (see [`crate::models`]).
    pub model: String,
    /// Builtin tool names the agent may call.
    pub tools: Vec<String>,
    /// System prompt; empty for none.
    pub system: String,
    /// Maximum model calls per run.
    pub max_iterations: u32,
    /// Labels a node must have to run this agent (hard placement constraint).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Sampling temperature (0–2); `None` leaves the model server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Tool choice ([`ToolChoice`] text: `auto`, `none`, `required` or a tool name); `None` is
    /// `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
}

impl AgentSpec {
    /// Checks the spec and fills defaults (`max_iterations` 0 → [`DEFAULT_MAX_ITERATIONS`]).
    ///
    /// Errors name the offending field and say what would be accepted.
    pub fn validated(mut self) -> Result<Self, SpecError> {
        crate::models::check_reference_syntax(&self.model)?;
        for tool in &self.tools {
            if !BUILTIN_TOOL_NAMES.contains(&tool.as_str()) {
                return Err(SpecError(format!(
                    "spec.tools: unknown tool {tool:?}; known tools are {}",
                    BUILTIN_TOOL_NAMES.join(", ")
                )));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(duplicate) = self.tools.iter().find(|tool| !seen.insert(tool.as_str())) {
            return Err(SpecError(format!("spec.tools: {duplicate:?} is listed twice")));
        }
        if self.system.len() > MAX_SYSTEM_PROMPT_BYTES {
            return Err(SpecError(format!(
                "spec.system is {} bytes; the limit is {MAX_SYSTEM_PROMPT_BYTES} bytes",
                self.system.len()
            )));
        }
        if let Some(temperature) = self.temperature
            && !(0.0..=2.0).contains(&temperature)
        {
            return Err(SpecError(format!("spec.temperature is {temperature}; it must be between 0 and 2")));
        }
        if let Some(choice) = &self.tool_choice {
            match ToolChoice::parse(choice) {
                ToolChoice::Tool(name) if !self.tools.contains(&name) => {
                    return Err(SpecError(format!(
                        "spec.tool_choice: {name:?} is neither auto, none nor required, and not one of the agent's \
                         tools [{}]",
                        self.tools.join(", ")
                    )));
                }
                ToolChoice::Required if self.tools.is_empty() => {
                    return Err(SpecError("spec.tool_choice is required but the agent has no tools".to_owned()));
                }
                _ => {}
            }
        }
        if self.max_iterations == 0 {
            self.max_iterations = DEFAULT_MAX_ITERATIONS;
        }
        if self.max_iterations > MAX_ITERATIONS_LIMIT {
            return Err(SpecError(format!(
                "spec.max_iterations is {}; the limit is {MAX_ITERATIONS_LIMIT}",
                self.max_iterations
            )));
        }
        Ok(self)
    }
}

/// A rejected agent spec; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

/// Which tools the model may or must call, as OpenAI's and Anthropic's `tool_choice`.
///
/// In the agent loop, `auto` and `none` apply to every model call; `required` and a named tool
/// apply to the first model call of each run only (later calls are `auto`), so that the model
/// can still give its final answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides (the default).
    #[default]
    Auto,
    /// No tool call.
    None,
    /// At least one tool call.
    Required,
    /// A call of this tool.
    Tool(String),
}

impl ToolChoice {
    /// Parses `auto`, `none`, `required`, or any other text as a tool name.
    pub fn parse(text: &str) -> Self {
        match text {
            "auto" | "" => Self::Auto,
            "none" => Self::None,
            "required" => Self::Required,
            name => Self::Tool(name.to_owned()),
        }
    }

    /// Returns the choice for model call `step` (1-based) of a run: `required` and a named tool
    /// hold for step 1 only.
    pub fn for_step(&self, step: u32) -> Self {
        match self {
            Self::Required | Self::Tool(_) if step > 1 => Self::Auto,
            other => other.clone(),
        }
    }
}

/// A stored agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// The agent's id.
    pub id: AgentId,
    /// How it runs.
    pub spec: AgentSpec,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// Parent agent, for sub-agents.
    pub parent_id: Option<AgentId>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Sequence number of the latest persisted trace event (0 when none).
    pub last_seq: u64,
    /// The budget its model calls draw from (its own, or inherited from its parent).
    pub budget_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(model: &str, tools: &[&str]) -> AgentSpec {
        AgentSpec {
            model: model.into(),
            tools: tools.iter().map(|tool| tool.to_string()).collect(),
            system: String::new(),
            max_iterations: 0,
            node_selector: BTreeMap::new(),
            temperature: None,
            tool_choice: None,
        }
    }

    #[test]
    fn defaults_are_filled() {
        let validated = spec("openai:m", &["bash"]).validated().unwrap();
        assert_eq!(validated.max_iterations, DEFAULT_MAX_ITERATIONS);
    }

    #[test]
    fn unknown_tool_is_named() {
        let error = spec("openai:m", &["rm_rf"]).validated().unwrap_err();
        assert!(error.0.contains("unknown tool \"rm_rf\""), "{error}");
    }

    #[test]
    fn bad_model_is_explained() {
        assert!(spec("gpt 4", &[]).validated().unwrap_err().0.contains("provider:model"));
        assert!(spec("acme:x", &[]).validated().unwrap_err().0.contains("unknown provider"));
        assert!(spec("openai:", &[]).validated().unwrap_err().0.contains("names no model"));
        assert!(spec("fast,openai:m", &[]).validated().is_ok(), "a chain of a name and an ad-hoc model");
    }

    #[test]
    fn tool_choice_names_a_tool_of_the_agent_and_required_needs_tools() {
        let mut named = spec("openai:m", &["bash"]);
        named.tool_choice = Some("view".into());
        assert!(named.validated().unwrap_err().0.contains("spec.tool_choice: \"view\""));
        let mut required = spec("openai:m", &[]);
        required.tool_choice = Some("required".into());
        assert!(required.validated().is_err());
        assert_eq!(ToolChoice::parse("bash").for_step(1), ToolChoice::Tool("bash".into()));
        assert_eq!(ToolChoice::Required.for_step(2), ToolChoice::Auto);
        assert_eq!(ToolChoice::None.for_step(3), ToolChoice::None);
    }

    #[test]
    fn temperature_is_bounded() {
        let mut hot = spec("openai:m", &[]);
        hot.temperature = Some(2.5);
        assert!(hot.validated().unwrap_err().0.contains("spec.temperature is 2.5"));
        let mut cold = spec("openai:m", &[]);
        cold.temperature = Some(0.0);
        assert_eq!(cold.validated().unwrap().temperature, Some(0.0));
    }

    #[test]
    fn duplicate_tools_are_rejected() {
        assert!(spec("openai:m", &["echo", "echo"]).validated().is_err());
    }
}
