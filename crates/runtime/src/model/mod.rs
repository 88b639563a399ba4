//! Model providers behind one trait ([`ModelProvider`]): OpenAI-compatible chat completions
//! ([`OpenAiProvider`]) and the Anthropic Messages API ([`AnthropicProvider`]), each one HTTP
//! attempt per call, streaming or not. [`ModelRouter`] puts them behind the catalogue of
//! `agentry_core::models`: it resolves a reference to a fallback chain, retries with backoff
//! (honouring `Retry-After`), keeps a circuit breaker per model, falls back along the chain and
//! prices each call.

mod anthropic;
mod breaker;
mod http;
mod openai;
mod router;
#[cfg(test)]
mod testing;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

pub use agentry_core::ToolChoice;
pub use anthropic::{AnthropicProvider, DEFAULT_BASE_URL as DEFAULT_ANTHROPIC_BASE_URL};
pub use breaker::Breaker;
pub use http::EndpointConfig;
pub(crate) use http::error_chain;
pub use openai::{DEFAULT_BASE_URL as DEFAULT_OPENAI_BASE_URL, OpenAiProvider};
pub use router::{DefaultEndpoints, Hop, ModelRouter, RouteFailure, Routed};

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

/// One chat request.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// Model name as the provider knows it (without any `provider:` prefix).
    pub model: String,
    /// The conversation, system message first when there is one.
    pub messages: Vec<Message>,
    /// Tools offered; empty offers none.
    pub tools: Vec<ToolSpec>,
    /// Which tools the model may or must call (ignored when no tools are offered).
    pub tool_choice: ToolChoice,
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

/// One chat answer.
#[derive(Debug, Clone)]
pub struct ChatResponse {
    /// The assistant message (text and/or tool calls).
    pub message: Message,
    /// Token usage as reported by the provider (zeros when it reports none).
    pub usage: Usage,
    /// The provider's finish reason (`stop`, `tool_calls`, `length`; Anthropic's `end_turn`,
    /// `tool_use`, `max_tokens`), when given.
    pub finish_reason: Option<String>,
    /// The model the provider says answered, when it says.
    pub model: Option<String>,
}

/// Receives the text of a streamed answer piece by piece, as it arrives.
pub type TextDeltas<'a> = &'a (dyn Fn(&str) + Send + Sync);

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
        /// The server's `Retry-After`, when it sent one (seconds or an HTTP date).
        retry_after: Option<Duration>,
    },
    /// The server could not be reached, the connection broke or the attempt timed out.
    #[error("model server unreachable at {url}: {reason}")]
    Transport {
        /// Endpoint called.
        url: String,
        /// Underlying error text.
        reason: String,
    },
    /// The answer was not a valid chat answer.
    #[error("model answer could not be decoded: {0}")]
    Decode(String),
    /// The provider is misconfigured (e.g. a base URL that is not http(s)).
    #[error("model provider misconfigured: {0}")]
    Config(String),
    /// The model's circuit breaker is open after repeated failures.
    #[error("circuit breaker open after repeated failures; next probe in {retry_in_ms} ms")]
    BreakerOpen {
        /// Milliseconds until a probe call is let through.
        retry_in_ms: u64,
    },
}

impl ModelError {
    /// Returns whether retrying the same call may succeed: transport errors, HTTP 408, 409, 429
    /// and 5xx (llama-server answers 500 when the model calls a tool it was not offered).
    /// Anything else — 400, 401, 403, 404 (unknown model), undecodable answers — is final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http { status, .. } => matches!(*status, 408 | 409 | 429) || *status >= 500,
            Self::Transport { .. } => true,
            Self::Decode(_) | Self::Config(_) | Self::BreakerOpen { .. } => false,
        }
    }

    /// Returns the delay the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A chat model endpoint. One call is one HTTP attempt: retries, breakers and fallback belong to
/// [`ModelRouter`].
#[async_trait]
pub trait ModelProvider: Send + Sync {
    /// Sends `request` and returns the answer. With `deltas`, the answer is streamed and its
    /// text handed to `deltas` as it arrives; the returned answer is the whole of it.
    async fn complete(&self, request: &ChatRequest, deltas: Option<TextDeltas<'_>>)
    -> Result<ChatResponse, ModelError>;
}
