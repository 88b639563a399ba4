//! OpenAI-compatible chat completions (`POST {base_url}/chat/completions`), streaming or not.
//!
//! Works against api.openai.com and compatible servers (llama-server, vLLM, Ollama, LM Studio).
//! The wire types are `async-openai`'s (its `chat-completion-types`, kept current with OpenAI's
//! OpenAPI spec); the HTTP exchange is ours ([`super::http`]) because the router needs what
//! async-openai's client keeps to itself: the `Retry-After` of a refused attempt (its error type
//! carries only the status), and one attempt per call so that retries, the circuit breaker and
//! fallback are decided in one place for every provider.

use std::collections::BTreeMap;
use std::fmt;

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionNamedToolChoice,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestToolMessage, ChatCompletionRequestUserMessage, ChatCompletionStreamOptions,
    ChatCompletionTool, ChatCompletionToolChoiceOption, ChatCompletionTools, CreateChatCompletionRequest,
    CreateChatCompletionResponse, CreateChatCompletionStreamResponse, FinishReason, FunctionCall, FunctionName,
    FunctionObject, ToolChoiceOptions,
};
use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::AUTHORIZATION;
use tracing::instrument;

use super::http::{EndpointConfig, HttpEndpoint, cut_to_boundary, decode_error, events, read_body};
use super::{ChatRequest, ChatResponse, ModelError, ModelProvider, TextDeltas, ToolChoice, Usage};
use agentry_core::message::{Message, Role, ToolCall};

/// Base URL of OpenAI's own API, the default endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Path of the chat completions endpoint under the base URL.
const PATH: &str = "/chat/completions";

/// A [`ModelProvider`] speaking OpenAI chat completions over one pooled HTTP client; the key goes
/// in `Authorization: Bearer`.
#[derive(Clone)]
pub struct OpenAiProvider {
    http: HttpEndpoint,
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("OpenAiProvider").field("endpoint", &self.http.url(PATH)).finish()
    }
}

impl OpenAiProvider {
    /// Returns a provider for `config`.
    ///
    /// Errors with [`ModelError::Config`] when the base URL is not http(s), a header is invalid
    /// or the HTTP client cannot be built.
    pub fn new(config: &EndpointConfig) -> Result<Self, ModelError> {
        let http = HttpEndpoint::new(config, |key| (AUTHORIZATION, format!("Bearer {key}")), &[])?;
        Ok(Self { http })
    }

    async fn whole(&self, body: &CreateChatCompletionRequest) -> Result<ChatResponse, ModelError> {
        let response = self.http.post(PATH, body).await?;
        decode_whole(&read_body(response, &self.http.url(PATH)).await?)
    }

    async fn streamed(
        &self,
        body: &CreateChatCompletionRequest,
        deltas: TextDeltas<'_>,
    ) -> Result<ChatResponse, ModelError> {
        let response = self.http.post(PATH, body).await?;
        let event_stream = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        if !event_stream {
            // The server ignored `"stream": true` and answered whole.
            let answer = decode_whole(&read_body(response, &self.http.url(PATH)).await?)?;
            if !answer.message.content.is_empty() {
                deltas(&answer.message.content);
            }
            return Ok(answer);
        }
        let mut stream = std::pin::pin!(events(response, self.http.url(PATH)));
        let mut answer = Assembled::default();
        while let Some(event) = stream.next().await {
            let event = event?;
            if event.data.trim() == "[DONE]" {
                break;
            }
            let chunk: CreateChatCompletionStreamResponse = serde_json::from_str(&event.data)
                .map_err(|error| stream_error(&event.data).unwrap_or_else(|| decode_error(error, &event.data)))?;
            answer.add(chunk, deltas);
        }
        answer.finish()
    }
}

#[async_trait]
impl ModelProvider for OpenAiProvider {
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

/// Returns the error a server reported inside an event stream — `{"error": {"code": 500,
/// "message": ...}}` after the status line already said 200, as llama-server does when the
/// model's output does not parse as a tool call, and OpenAI and vLLM do on mid-stream failures —
/// as the HTTP error it stands for (`code` when it is an HTTP status, else 500), so the router
/// retries it like any 5xx. `None` when `data` is not such an object.
fn stream_error(data: &str) -> Option<ModelError> {
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    let error = value.get("error")?;
    let status = error
        .get("code")
        .and_then(serde_json::Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .filter(|code| (400..600).contains(code))
        .unwrap_or(500);
    let message =
        error.get("message").and_then(serde_json::Value::as_str).map_or_else(|| error.to_string(), str::to_owned);
    Some(ModelError::Http {
        status,
        body: format!("error in the event stream: {}", cut_to_boundary(&message, 2048)),
        retry_after: None,
    })
}

/// Decodes a whole (not streamed) chat completion.
fn decode_whole(text: &str) -> Result<ChatResponse, ModelError> {
    let wire: CreateChatCompletionResponse = serde_json::from_str(text).map_err(|error| decode_error(error, text))?;
    let choice =
        wire.choices.into_iter().next().ok_or_else(|| ModelError::Decode("answer has no choices[0]".to_owned()))?;
    let calls = choice.message.tool_calls.unwrap_or_default().into_iter().filter_map(|call| match call {
        ChatCompletionMessageToolCalls::Function(call) => Some((call.id, call.function.name, call.function.arguments)),
        ChatCompletionMessageToolCalls::Custom(_) => None,
    });
    Ok(ChatResponse {
        message: Message::assistant(choice.message.content.unwrap_or_default(), tool_calls(calls)),
        usage: wire.usage.map_or_else(Usage::default, |usage| Usage {
            prompt_tokens: u64::from(usage.prompt_tokens),
            completion_tokens: u64::from(usage.completion_tokens),
        }),
        finish_reason: choice.finish_reason.map(finish_reason),
        model: Some(wire.model).filter(|model| !model.is_empty()),
    })
}

/// A streamed answer being put together from its chunks.
#[derive(Default)]
struct Assembled {
    content: String,
    /// Tool calls by their `index`: id, name, argument text.
    calls: BTreeMap<u32, (String, String, String)>,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    model: Option<String>,
    chunks: usize,
}

impl Assembled {
    fn add(&mut self, chunk: CreateChatCompletionStreamResponse, deltas: TextDeltas<'_>) {
        self.chunks += 1;
        if self.model.is_none() && !chunk.model.is_empty() {
            self.model = Some(chunk.model);
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(Usage {
                prompt_tokens: u64::from(usage.prompt_tokens),
                completion_tokens: u64::from(usage.completion_tokens),
            });
        }
        let Some(choice) = chunk.choices.into_iter().next() else { return };
        if let Some(text) = choice.delta.content.filter(|text| !text.is_empty()) {
            deltas(&text);
            self.content.push_str(&text);
        }
        for call in choice.delta.tool_calls.unwrap_or_default() {
            let entry = self.calls.entry(call.index).or_default();
            if let Some(id) = call.id {
                entry.0.push_str(&id);
            }
            if let Some(function) = call.function {
                entry.1.push_str(function.name.as_deref().unwrap_or_default());
                entry.2.push_str(function.arguments.as_deref().unwrap_or_default());
            }
        }
        if let Some(reason) = choice.finish_reason {
            self.finish_reason = Some(finish_reason(reason));
        }
    }

    fn finish(self) -> Result<ChatResponse, ModelError> {
        if self.chunks == 0 {
            return Err(ModelError::Decode("the event stream ended without a chunk".to_owned()));
        }
        Ok(ChatResponse {
            message: Message::assistant(self.content, tool_calls(self.calls.into_values())),
            usage: self.usage.unwrap_or_default(),
            finish_reason: self.finish_reason,
            model: self.model,
        })
    }
}

/// Returns our tool calls from `(id, name, arguments)`; a missing id becomes `call_INDEX`,
/// missing arguments `{}`.
fn tool_calls(calls: impl Iterator<Item = (String, String, String)>) -> Vec<ToolCall> {
    calls
        .enumerate()
        .map(|(index, (id, name, arguments))| ToolCall {
            id: if id.is_empty() { format!("call_{index}") } else { id },
            name,
            arguments: if arguments.trim().is_empty() { "{}".to_owned() } else { arguments },
        })
        .collect()
}

fn finish_reason(reason: FinishReason) -> String {
    serde_json::to_value(reason).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Returns the wire request of `request`; `stream` asks for server-sent events with usage in the
/// last chunk.
fn wire_request(request: &ChatRequest, stream: bool) -> CreateChatCompletionRequest {
    let tools: Vec<ChatCompletionTools> = request
        .tools
        .iter()
        .map(|spec| {
            ChatCompletionTools::Function(ChatCompletionTool {
                function: FunctionObject {
                    name: spec.name.clone(),
                    description: Some(spec.description.clone()),
                    parameters: Some(spec.parameters.clone()),
                    strict: None,
                },
            })
        })
        .collect();
    let tool_choice = (!tools.is_empty()).then(|| match &request.tool_choice {
        ToolChoice::Auto => ChatCompletionToolChoiceOption::Mode(ToolChoiceOptions::Auto),
        ToolChoice::None => ChatCompletionToolChoiceOption::Mode(ToolChoiceOptions::None),
        ToolChoice::Required => ChatCompletionToolChoiceOption::Mode(ToolChoiceOptions::Required),
        ToolChoice::Tool(name) => ChatCompletionToolChoiceOption::Function(ChatCompletionNamedToolChoice {
            function: FunctionName { name: name.clone() },
        }),
    });
    CreateChatCompletionRequest {
        model: request.model.clone(),
        messages: request.messages.iter().map(wire_message).collect(),
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice,
        temperature: request.temperature,
        stream: stream.then_some(true),
        stream_options: stream
            .then_some(ChatCompletionStreamOptions { include_usage: Some(true), include_obfuscation: None }),
        ..CreateChatCompletionRequest::default()
    }
}

fn wire_message(message: &Message) -> ChatCompletionRequestMessage {
    let text = message.content.clone();
    match message.role {
        Role::System => ChatCompletionRequestSystemMessage { content: text.into(), name: None }.into(),
        Role::User => ChatCompletionRequestUserMessage { content: text.into(), name: None }.into(),
        Role::Tool => ChatCompletionRequestToolMessage {
            content: text.into(),
            tool_call_id: message.tool_call_id.clone().unwrap_or_default(),
        }
        .into(),
        Role::Assistant => {
            let calls: Vec<ChatCompletionMessageToolCalls> = message
                .tool_calls
                .iter()
                .map(|call| {
                    ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                        id: call.id.clone(),
                        function: FunctionCall { name: call.name.clone(), arguments: call.arguments.clone() },
                    })
                })
                .collect();
            // An assistant message that only calls tools has no content (sent as absent).
            let only_calls = text.is_empty() && !calls.is_empty();
            ChatCompletionRequestAssistantMessage {
                content: (!only_calls).then(|| text.into()),
                tool_calls: (!calls.is_empty()).then_some(calls),
                ..ChatCompletionRequestAssistantMessage::default()
            }
            .into()
        }
    }
}

#[cfg(test)]
mod tests;
