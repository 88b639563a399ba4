//! Conversation messages, in the shape of OpenAI-style chat completions.

use serde::{Deserialize, Serialize};

use crate::ids::RunId;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The user's input.
    User,
    /// The model's answer (text and/or tool calls).
    Assistant,
    /// A tool's result.
    Tool,
}

impl Role {
    /// Returns the lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }

    /// Parses the lowercase wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::System, Self::User, Self::Assistant, Self::Tool].into_iter().find(|role| role.as_str() == text)
    }
}

/// A model's request to run a tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id, unique within the assistant message.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as JSON object text (as the model wrote it; may be malformed).
    pub arguments: String,
}

/// One conversation entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text content (may be empty for an assistant message with tool calls).
    pub content: String,
    /// Tool calls of an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For tool messages: the call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Run that appended it; set by the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
}

impl Message {
    /// Returns a user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::plain(Role::User, content)
    }

    /// Returns a system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::plain(Role::System, content)
    }

    /// Returns an assistant message with optional tool calls.
    pub fn assistant(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self { tool_calls, ..Self::plain(Role::Assistant, content) }
    }

    /// Returns a tool result answering `tool_call_id`.
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self { tool_call_id: Some(tool_call_id.into()), ..Self::plain(Role::Tool, content) }
    }

    fn plain(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into(), tool_calls: Vec::new(), tool_call_id: None, run_id: None }
    }
}

/// A committed summary of the start of an agent's conversation (from its latest `summary`
/// event): prompts send `text` instead of the first `covers` messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConversationSummary {
    /// How many messages, from the conversation's start, the summary stands for.
    pub covers: u64,
    /// The summary.
    pub text: String,
}

impl ConversationSummary {
    /// Reads a `summary` event's data; `None` when it lacks `covers` or `text`.
    pub fn from_event(data: &serde_json::Value) -> Option<Self> {
        Some(Self { covers: data.get("covers")?.as_u64()?, text: data.get("text")?.as_str()?.to_owned() })
    }
}
