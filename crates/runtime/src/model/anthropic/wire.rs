//! The wire format of the Messages API: the request built from our conversation, the answer
//! and the server-sent events of a streamed answer (see the parent module).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::MAX_TOKENS;
use crate::model::{ChatRequest, ToolChoice};
use agentry_core::message::{Message, Role};

/// Returns the wire request of `request`; `stream` asks for server-sent events.
pub(super) fn wire_request(request: &ChatRequest, stream: bool) -> WireRequest<'_> {
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|message| message.role == Role::System)
        .map(|message| message.content.as_str())
        .collect();
    let tools: Vec<WireTool<'_>> = request
        .tools
        .iter()
        .map(|spec| WireTool { name: &spec.name, description: &spec.description, input_schema: &spec.parameters })
        .collect();
    let tool_choice = (!tools.is_empty()).then(|| match &request.tool_choice {
        ToolChoice::Auto => WireToolChoice::Auto,
        ToolChoice::None => WireToolChoice::None,
        ToolChoice::Required => WireToolChoice::Any,
        ToolChoice::Tool(name) => WireToolChoice::Tool { name },
    });
    WireRequest {
        model: &request.model,
        max_tokens: MAX_TOKENS,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages: wire_messages(&request.messages),
        tools,
        tool_choice,
        temperature: request.temperature,
        stream,
    }
}

/// Returns the turns of `messages` (system messages left out): a message joins the turn before
/// it when both are of the same wire role, so tool results and a user message after them make
/// one user turn. An assistant message with neither text nor tool calls is left out, as
/// Anthropic refuses empty turns.
pub(super) fn wire_messages(messages: &[Message]) -> Vec<WireMessage<'_>> {
    let mut turns: Vec<WireMessage<'_>> = Vec::new();
    for message in messages {
        let (role, content) = match message.role {
            Role::System => continue,
            Role::User => ("user", WireContent::Text(&message.content)),
            Role::Tool => {
                let tool_use_id = message.tool_call_id.as_deref().unwrap_or_default();
                ("user", WireContent::Blocks(vec![WireBlockOut::ToolResult { tool_use_id, content: &message.content }]))
            }
            Role::Assistant => {
                let text = (!message.content.is_empty()).then(|| WireBlockOut::Text { text: &message.content });
                let calls = message.tool_calls.iter().map(|call| WireBlockOut::ToolUse {
                    id: &call.id,
                    name: &call.name,
                    input: tool_input(&call.arguments),
                });
                let blocks: Vec<WireBlockOut<'_>> = text.into_iter().chain(calls).collect();
                if blocks.is_empty() {
                    continue;
                }
                ("assistant", WireContent::Blocks(blocks))
            }
        };
        match turns.last_mut() {
            Some(last) if last.role == role => last.content.append(content),
            _ => turns.push(WireMessage { role, content }),
        }
    }
    turns
}

/// Returns the `input` object of a tool call from its argument text; text that is not a JSON
/// object (the model may write malformed arguments) becomes `{}`, as Anthropic requires an object.
pub(super) fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str(arguments) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => Value::Object(serde_json::Map::new()),
    }
}

/// The request body of `POST /messages`.
#[derive(Debug, Serialize)]
pub(super) struct WireRequest<'a> {
    pub(super) model: &'a str,
    pub(super) max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) system: Option<String>,
    pub(super) messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<f32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) stream: bool,
}

/// One turn of the conversation (`user` or `assistant`).
#[derive(Debug, Serialize)]
pub(super) struct WireMessage<'a> {
    pub(super) role: &'static str,
    pub(super) content: WireContent<'a>,
}

/// A turn's content: plain text, or content blocks.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum WireContent<'a> {
    Text(&'a str),
    Blocks(Vec<WireBlockOut<'a>>),
}

impl<'a> WireContent<'a> {
    /// Appends `more` after this content, turning both into blocks.
    fn append(&mut self, more: WireContent<'a>) {
        let mut blocks = match std::mem::replace(self, WireContent::Blocks(Vec::new())) {
            WireContent::Text(text) => vec![WireBlockOut::Text { text }],
            WireContent::Blocks(blocks) => blocks,
        };
        match more {
            WireContent::Text(text) => blocks.push(WireBlockOut::Text { text }),
            WireContent::Blocks(more) => blocks.extend(more),
        }
        *self = WireContent::Blocks(blocks);
    }
}

/// A content block we send.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireBlockOut<'a> {
    Text { text: &'a str },
    ToolUse { id: &'a str, name: &'a str, input: Value },
    ToolResult { tool_use_id: &'a str, content: &'a str },
}

/// A tool offered to the model.
#[derive(Debug, Serialize)]
pub(super) struct WireTool<'a> {
    pub(super) name: &'a str,
    pub(super) description: &'a str,
    pub(super) input_schema: &'a Value,
}

/// `tool_choice`: `auto`, `any` (at least one call), `tool` (this one) or `none`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireToolChoice<'a> {
    Auto,
    Any,
    Tool { name: &'a str },
    None,
}

/// The answer of a non-streamed call.
#[derive(Debug, Deserialize)]
pub(super) struct WireResponse {
    #[serde(default)]
    pub(super) model: Option<String>,
    pub(super) content: Vec<WireBlock>,
    #[serde(default)]
    pub(super) stop_reason: Option<String>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
}

/// A content block we receive; kinds we do not use (thinking, server tools) are `Other`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

/// Token counts; in a stream each event may carry some of them.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireUsage {
    #[serde(default)]
    pub(super) input_tokens: Option<u64>,
    #[serde(default)]
    pub(super) output_tokens: Option<u64>,
}

/// One server-sent event of a streamed answer, by its `type`; `ping`, `content_block_stop` and
/// event types added later are `Other`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum StreamEvent {
    MessageStart {
        message: StreamStart,
    },
    ContentBlockStart {
        index: u64,
        content_block: WireBlock,
    },
    ContentBlockDelta {
        index: u64,
        delta: BlockDelta,
    },
    MessageDelta {
        delta: MessageDelta,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Error {
        error: StreamErrorBody,
    },
    #[serde(other)]
    Other,
}

/// The message of `message_start` (its content is empty; blocks follow).
#[derive(Debug, Deserialize)]
pub(super) struct StreamStart {
    #[serde(default)]
    pub(super) model: Option<String>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
}

/// The `delta` of `content_block_delta`; kinds we do not use (thinking, citations) are `Other`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

/// The `delta` of `message_delta`.
#[derive(Debug, Deserialize)]
pub(super) struct MessageDelta {
    #[serde(default)]
    pub(super) stop_reason: Option<String>,
}

/// The `error` of an `error` event, e.g. `{"type": "overloaded_error", "message": "Overloaded"}`.
#[derive(Debug, Deserialize)]
pub(super) struct StreamErrorBody {
    #[serde(rename = "type")]
    pub(super) kind: String,
}
