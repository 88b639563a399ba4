//! Model providers: one trait, an OpenAI-compatible chat completions implementation.

mod openai;

use async_trait::async_trait;
use serde_json::Value;

pub use openai::{DEFAULT_BASE_URL as DEFAULT_OPENAI_BASE_URL, OpenAiConfig, OpenAiProvider};

use agentry_core::message::Message;

/// A tool offered to the model: name, description and JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema (an object schema) of the arguments.
    pub parameters: Value,
}

/// One chat completion request.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// Model name as the provider knows it (without the `provider:` prefix).
    pub model: String,
    /// The conversation, system message first when there is one.
    pub messages: Vec<Message>,
    /// Tools offered; empty offers none.
    pub tools: Vec<ToolSpec>,
    /// Sampling temperature; `None` leaves the server's default.
    pub temperature: Option<f32>,
}

/// Token counts of one model call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt (input) tokens.
    pub prompt_tokens: u64,
    /// Completion (output) tokens.
    pub completion_tokens: u64,
}

/// One chat completion answer.
#[derive(Debug, Clone)]
pub struct ChatResponse {
    /// The assistant message (text and/or tool calls).
    pub message: Message,
    /// Token usage as reported by the provider (zeros when it reports none).
    pub usage: Usage,
    /// The provider's finish reason (`stop`, `tool_calls`, `length`, ...), when given.
    pub finish_reason: Option<String>,
}

/// Why a model call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// The server answered with a non-success HTTP status.
    #[error("model server answered HTTP {status}: {body}")]
    Http {
        /// HTTP status code.
        status: u16,
        /// Response body (at most 2 KiB).
        body: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("model server unreachable at {url}: {reason}")]
    Transport {
        /// Endpoint called.
        url: String,
        /// Underlying error text.
        reason: String,
    },
    /// The answer was not a valid chat completion.
    #[error("model answer could not be decoded: {0}")]
    Decode(String),
    /// The provider is misconfigured (e.g. missing base URL).
    #[error("model provider misconfigured: {0}")]
    Config(String),
}

impl ModelError {
    /// Returns whether retrying the same call may succeed: transport errors, HTTP 408, 429
    /// and 5xx (llama-server answers 500 when the model calls a tool it was not offered).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            Self::Transport { .. } => true,
            Self::Decode(_) | Self::Config(_) => false,
        }
    }
}

/// A chat model. Implementations retry retryable failures themselves, with backoff.
#[async_trait]
pub trait ModelProvider: Send + Sync {
    /// Sends one chat completion request and returns the answer.
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError>;
}
