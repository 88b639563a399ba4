//! The Anthropic Messages API (`POST {base_url}/messages`), streaming or not.
//!
//! No maintained Anthropic crate was in the verified dependency set, so this is a small client
//! of our own: serde types for the part of the wire format we use (text and `tool_use` content
//! blocks, tools, `tool_choice`, usage and the server-sent events of a streamed answer), tested
//! against a server speaking the real wire format
//! (<https://docs.anthropic.com/en/api/messages>, <https://docs.anthropic.com/en/api/messages-streaming>).
//! Content blocks and events it does not know (thinking, citations, future additions) are
//! skipped. The HTTP exchange is the one shared with the other providers ([`super::http`]): one
//! attempt per call, refusals carrying the server's `Retry-After`.
//!
//! Our conversation is OpenAI-shaped, so it is reshaped on the way out: system messages become
//! the top-level `system` text, tool calls become `tool_use` blocks of the assistant turn and
//! tool results `tool_result` blocks of a user turn, and consecutive messages that land in the
//! same role are merged into one turn, as Anthropic expects user and assistant turns to
//! alternate.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::HeaderName;

use serde_json::Value;
use tracing::instrument;

use super::http::{EndpointConfig, HttpEndpoint, cut_to_boundary, decode_error, events, read_body};
use super::{ChatRequest, ChatResponse, ModelError, ModelProvider, TextDeltas, Usage};
use agentry_core::message::{Message, ToolCall};
use wire::{BlockDelta, StreamEvent, WireBlock, WireRequest, WireResponse, WireUsage, wire_request};

/// Base URL of Anthropic's API, the default endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";
/// Path of the Messages endpoint under the base URL.
const PATH: &str = "/messages";
/// API version sent in `anthropic-version` (the current and only stable one).
const API_VERSION: &str = "2023-06-01";
/// Header carrying the API key.
const API_KEY_HEADER: &str = "x-api-key";
/// `max_tokens` of every call: Anthropic requires one, and 4096 is within every current model's
/// output limit.
const MAX_TOKENS: u32 = 4096;
/// Largest error event body kept in [`ModelError::Http`], in bytes (2 KiB, as for HTTP errors).
const MAX_ERROR_BODY_BYTES: usize = 2048;

/// A [`ModelProvider`] speaking the Anthropic Messages API over one pooled HTTP client; the key
/// goes in `x-api-key`, the API version in `anthropic-version`.
#[derive(Clone)]
pub struct AnthropicProvider {
    http: HttpEndpoint,
}

impl fmt::Debug for AnthropicProvider {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("AnthropicProvider").field("endpoint", &self.http.url(PATH)).finish()
    }
}

impl AnthropicProvider {
    /// Returns a provider for `config`.
    ///
    /// Errors with [`ModelError::Config`] when the base URL is not http(s), a header is invalid
    /// or the HTTP client cannot be built.
    pub fn new(config: &EndpointConfig) -> Result<Self, ModelError> {
        let http = HttpEndpoint::new(
            config,
            |key| (HeaderName::from_static(API_KEY_HEADER), key.to_owned()),
            &[("anthropic-version", API_VERSION)],
        )?;
        Ok(Self { http })
    }

    async fn whole(&self, body: &WireRequest<'_>) -> Result<ChatResponse, ModelError> {
        let response = self.http.post(PATH, body).await?;
        let text = read_body(response, &self.http.url(PATH)).await?;
        let wire: WireResponse = serde_json::from_str(&text).map_err(|error| decode_error(error, &text))?;
        let mut content = String::new();
        let mut calls = Vec::new();
        for block in wire.content {
            match block {
                WireBlock::Text { text } => content.push_str(&text),
                WireBlock::ToolUse { id, name, input } => {
                    let arguments = if input.is_object() { input.to_string() } else { "{}".to_owned() };
                    calls.push(ToolCall { id, name, arguments });
                }
                WireBlock::Other => {}
            }
        }
        let usage = wire.usage.unwrap_or_default();
        Ok(ChatResponse {
            message: Message::assistant(content, calls),
            usage: Usage {
                prompt_tokens: usage.input_tokens.unwrap_or_default(),
                completion_tokens: usage.output_tokens.unwrap_or_default(),
            },
            finish_reason: wire.stop_reason,
            model: wire.model.filter(|model| !model.is_empty()),
        })
    }

    async fn streamed(&self, body: &WireRequest<'_>, deltas: TextDeltas<'_>) -> Result<ChatResponse, ModelError> {
        let url = self.http.url(PATH);
        let response = self.http.post(PATH, body).await?;
        let mut stream = std::pin::pin!(events(response, url.clone()));
        let mut answer = Assembled::default();
        while let Some(event) = stream.next().await {
            let event = event?;
            if event.data.trim().is_empty() {
                continue;
            }
            let parsed: StreamEvent =
                serde_json::from_str(&event.data).map_err(|error| decode_error(error, &event.data))?;
            if answer.add(parsed, &event.data, deltas)? == Progress::Stopped {
                return Ok(answer.finish());
            }
        }
        // Without `message_stop` the answer may be cut anywhere: the connection broke.
        Err(ModelError::Transport { url, reason: "the event stream ended before message_stop".to_owned() })
    }
}

#[async_trait]
impl ModelProvider for AnthropicProvider {
    #[instrument(level = "debug", skip_all, fields(model = %request.model, stream = deltas.is_some()))]
    async fn complete(
        &self,
        request: &ChatRequest,
        deltas: Option<TextDeltas<'_>>,
    ) -> Result<ChatResponse, ModelError> {
        let body = wire_request(request, deltas.is_some());
        match deltas {
            Some(deltas) => self.streamed(&body, deltas).await,
            None => self.whole(&body).await,
        }
    }
}

/// Whether a streamed answer goes on after an event.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    More,
    Stopped,
}

/// A content block of a streamed answer being put together.
enum Part {
    Text(String),
    /// A tool call: id, name, the input given at the block's start (as JSON text, empty when
    /// `{}`) and the `input_json_delta` text received so far, which wins when there is any.
    ToolUse {
        id: String,
        name: String,
        start: String,
        arguments: String,
    },
}

/// A streamed answer being put together from its events.
#[derive(Default)]
struct Assembled {
    /// Content blocks by their `index`.
    parts: BTreeMap<u64, Part>,
    usage: Usage,
    finish_reason: Option<String>,
    model: Option<String>,
}

impl Assembled {
    /// Adds one event (`data` is its text, kept for error bodies).
    fn add(&mut self, event: StreamEvent, data: &str, deltas: TextDeltas<'_>) -> Result<Progress, ModelError> {
        match event {
            StreamEvent::MessageStart { message } => {
                self.model = message.model.filter(|model| !model.is_empty());
                self.add_usage(message.usage);
            }
            StreamEvent::ContentBlockStart { index, content_block } => {
                let part = match content_block {
                    WireBlock::Text { text } => {
                        if !text.is_empty() {
                            deltas(&text);
                        }
                        Part::Text(text)
                    }
                    // The input arrives in `input_json_delta` pieces; a start carries `{}`.
                    WireBlock::ToolUse { id, name, input } => {
                        let start = match input {
                            Value::Object(map) if !map.is_empty() => Value::Object(map).to_string(),
                            _ => String::new(),
                        };
                        Part::ToolUse { id, name, start, arguments: String::new() }
                    }
                    WireBlock::Other => return Ok(Progress::More),
                };
                self.parts.insert(index, part);
            }
            StreamEvent::ContentBlockDelta { index, delta } => match (delta, self.parts.get_mut(&index)) {
                (BlockDelta::TextDelta { .. }, Some(Part::ToolUse { .. })) => {
                    return Err(ModelError::Decode(format!("text_delta for block {index}, a tool_use")));
                }
                (BlockDelta::TextDelta { text }, part) => {
                    if !text.is_empty() {
                        deltas(&text);
                    }
                    match part {
                        Some(Part::Text(content)) => content.push_str(&text),
                        _ => {
                            self.parts.insert(index, Part::Text(text));
                        }
                    }
                }
                (BlockDelta::InputJsonDelta { partial_json }, Some(Part::ToolUse { arguments, .. })) => {
                    arguments.push_str(&partial_json);
                }
                (BlockDelta::InputJsonDelta { .. }, _) => {
                    return Err(ModelError::Decode(format!("input_json_delta for block {index}, not a tool_use")));
                }
                (BlockDelta::Other, _) => {}
            },
            StreamEvent::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.finish_reason = delta.stop_reason;
                }
                self.add_usage(usage);
            }
            StreamEvent::MessageStop => return Ok(Progress::Stopped),
            StreamEvent::Error { error } => return Err(stream_error(&error.kind, data)),
            StreamEvent::Other => {}
        }
        Ok(Progress::More)
    }

    /// Takes the counts `usage` gives; Anthropic's counts are cumulative, so later ones win.
    fn add_usage(&mut self, usage: Option<WireUsage>) {
        let Some(usage) = usage else { return };
        if let Some(input) = usage.input_tokens {
            self.usage.prompt_tokens = input;
        }
        if let Some(output) = usage.output_tokens {
            self.usage.completion_tokens = output;
        }
    }

    fn finish(self) -> ChatResponse {
        let mut content = String::new();
        let mut calls = Vec::new();
        for part in self.parts.into_values() {
            match part {
                Part::Text(text) => content.push_str(&text),
                Part::ToolUse { id, name, start, arguments } => {
                    let arguments = [arguments, start].into_iter().find(|text| !text.trim().is_empty());
                    calls.push(ToolCall { id, name, arguments: arguments.unwrap_or_else(|| "{}".to_owned()) });
                }
            }
        }
        ChatResponse {
            message: Message::assistant(content, calls),
            usage: self.usage,
            finish_reason: self.finish_reason,
            model: self.model,
        }
    }
}

/// Returns the error of an `error` event of type `kind`, as the HTTP error Anthropic gives the
/// same type when it can still choose the status (`overloaded_error` is 529), so that the router
/// retries what is retryable. Unknown types count as server errors (500).
fn stream_error(kind: &str, data: &str) -> ModelError {
    let status = match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    };
    ModelError::Http { status, body: cut_to_boundary(data, MAX_ERROR_BODY_BYTES).to_owned(), retry_after: None }
}

mod wire;

#[cfg(test)]
mod tests;
