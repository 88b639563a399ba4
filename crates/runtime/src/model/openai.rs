//! OpenAI-compatible chat completions (`POST {base_url}/chat/completions`), with retries.
//!
//! Works against api.openai.com and compatible servers (llama-server, vLLM, Ollama).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::instrument;

use super::{ChatRequest, ChatResponse, ModelError, ModelProvider, Usage};
use agentry_core::limits::MAX_MODEL_RESPONSE_BYTES;
use agentry_core::message::{Message, Role, ToolCall};

/// Base URL of OpenAI's own API, the default endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Largest HTTP error body kept in [`ModelError::Http`], in bytes (2 KiB).
const MAX_ERROR_BODY_BYTES: usize = 2048;
/// First retry delay before jitter; doubles per attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// Largest retry delay before jitter.
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// Settings of an [`OpenAiProvider`].
#[derive(Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// API root without the trailing `/chat/completions`, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Bearer token; `None` sends no `Authorization` header (local servers).
    pub api_key: Option<String>,
    /// Limit for one HTTP attempt, connect to last body byte.
    pub timeout: Duration,
    /// Attempts per call including the first (at least 1); only retryable errors are retried.
    pub max_attempts: u32,
}

impl Default for OpenAiConfig {
    /// Returns api.openai.com without a key, 120 s per attempt, 4 attempts.
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            timeout: Duration::from_secs(120),
            max_attempts: 4,
        }
    }
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key must never reach logs.
        formatter
            .debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// A [`ModelProvider`] speaking OpenAI chat completions over one pooled HTTP client.
#[derive(Clone)]
pub struct OpenAiProvider {
    client: reqwest::Client,
    endpoint: String,
    api_key: Option<String>,
    max_attempts: u32,
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("OpenAiProvider")
            .field("endpoint", &self.endpoint)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl OpenAiProvider {
    /// Returns a provider for `config`.
    ///
    /// Errors with [`ModelError::Config`] when the base URL is not http(s), `max_attempts` is 0
    /// or the HTTP client cannot be built.
    pub fn new(config: OpenAiConfig) -> Result<Self, ModelError> {
        let base_url = config.base_url.trim_end_matches('/');
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ModelError::Config(format!("base url {base_url:?} is not http(s)")));
        }
        if config.max_attempts == 0 {
            return Err(ModelError::Config("max_attempts must be at least 1".to_owned()));
        }
        // reqwest is built without a default crypto provider; a second install is a no-op error.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|error| ModelError::Config(format!("http client: {}", error_chain(&error))))?;
        Ok(Self {
            client,
            endpoint: format!("{base_url}/chat/completions"),
            api_key: config.api_key,
            max_attempts: config.max_attempts,
        })
    }

    async fn attempt(&self, body: &WireRequest<'_>) -> Result<ChatResponse, ModelError> {
        let transport =
            |error: reqwest::Error| ModelError::Transport { url: self.endpoint.clone(), reason: error_chain(&error) };
        let mut http_request = self.client.post(&self.endpoint).json(body);
        if let Some(api_key) = &self.api_key {
            http_request = http_request.bearer_auth(api_key);
        }
        let mut response = http_request.send().await.map_err(transport)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_MODEL_RESPONSE_BYTES {
                return Err(ModelError::Decode(format!(
                    "answer is larger than the {MAX_MODEL_RESPONSE_BYTES}-byte limit (2 MiB)"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            let body = cut_to_boundary(&text, MAX_ERROR_BODY_BYTES).to_owned();
            return Err(ModelError::Http { status: status.as_u16(), body });
        }
        decode_response(&text)
    }
}

#[async_trait]
impl ModelProvider for OpenAiProvider {
    #[instrument(skip_all, fields(model = %request.model))]
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let body = WireRequest::from_request(request);
        let attempt = || self.attempt(&body);
        attempt
            .retry(retry_policy(self.max_attempts))
            .sleep(tokio::time::sleep)
            .when(ModelError::is_retryable)
            .notify(|error, delay| tracing::warn!(%error, ?delay, "model call failed, retrying"))
            .await
    }
}

/// Returns the retry policy of one call of at most `max_attempts` attempts: exponential backoff
/// from [`BACKOFF_BASE`] doubling to [`BACKOFF_CAP`], with jitter.
fn retry_policy(max_attempts: u32) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(BACKOFF_BASE)
        .with_max_delay(BACKOFF_CAP)
        .with_max_times(max_attempts.saturating_sub(1) as usize)
        .with_jitter()
}

/// Returns `error` with its sources, since reqwest's own text hides the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Returns the longest prefix of `text` of at most `max_bytes` ending on a char boundary.
fn cut_to_boundary(text: &str, max_bytes: usize) -> &str {
    let mut cut = max_bytes.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

fn decode_response(text: &str) -> Result<ChatResponse, ModelError> {
    let wire: WireResponse = serde_json::from_str(text)
        .map_err(|error| ModelError::Decode(format!("{error} in body starting {:?}", cut_to_boundary(text, 200))))?;
    let choice =
        wire.choices.into_iter().next().ok_or_else(|| ModelError::Decode("answer has no choices[0]".to_owned()))?;
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, call)| ToolCall {
            id: call.id.filter(|id| !id.is_empty()).unwrap_or_else(|| format!("call_{index}")),
            name: call.function.name,
            arguments: match call.function.arguments {
                Some(Value::String(text)) => text,
                None | Some(Value::Null) => "{}".to_owned(),
                // Some servers send the arguments as an object rather than JSON text.
                Some(other) => other.to_string(),
            },
        })
        .collect();
    let usage = wire.usage.map_or_else(Usage::default, |usage| Usage {
        prompt_tokens: usage.prompt_tokens.unwrap_or(0),
        completion_tokens: usage.completion_tokens.unwrap_or(0),
    });
    Ok(ChatResponse {
        message: Message::assistant(choice.message.content.unwrap_or_default(), tool_calls),
        usage,
        finish_reason: choice.finish_reason,
    })
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
}

impl<'a> WireRequest<'a> {
    fn from_request(request: &'a ChatRequest) -> Self {
        let messages = request.messages.iter().map(WireMessage::from_message).collect();
        let tools: Vec<_> = request
            .tools
            .iter()
            .map(|spec| WireTool {
                kind: "function",
                function: WireFunction {
                    name: &spec.name,
                    description: &spec.description,
                    parameters: &spec.parameters,
                },
            })
            .collect();
        let tool_choice = (!tools.is_empty()).then_some("auto");
        Self { model: &request.model, messages, tools, tool_choice, temperature: request.temperature }
    }
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    /// Serialized as `null` for an assistant message that only calls tools.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

impl<'a> WireMessage<'a> {
    fn from_message(message: &'a Message) -> Self {
        let only_calls =
            message.role == Role::Assistant && message.content.is_empty() && !message.tool_calls.is_empty();
        let tool_calls = message
            .tool_calls
            .iter()
            .map(|call| WireToolCall {
                id: &call.id,
                kind: "function",
                function: WireCall { name: &call.name, arguments: &call.arguments },
            })
            .collect();
        Self {
            role: message.role.as_str(),
            content: (!only_calls).then_some(message.content.as_str()),
            tool_calls,
            tool_call_id: message.tool_call_id.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireCall<'a>,
}

#[derive(Serialize)]
struct WireCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
}

#[derive(Deserialize)]
struct WireResponse {
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireAnswer,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireAnswer {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireAnswerCall>>,
}

#[derive(Deserialize)]
struct WireAnswerCall {
    #[serde(default)]
    id: Option<String>,
    function: WireAnswerFunction,
}

#[derive(Deserialize)]
struct WireAnswerFunction {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use serde_json::json;

    use super::*;
    use crate::model::ToolSpec;

    /// Canned answers, served in order, and the requests seen (auth header, JSON body).
    #[derive(Default)]
    struct Script {
        answers: Mutex<VecDeque<(u16, String)>>,
        requests: Mutex<Vec<(Option<String>, Value)>>,
    }

    async fn answer(State(script): State<Arc<Script>>, headers: HeaderMap, body: String) -> (StatusCode, String) {
        let auth = headers.get("authorization").and_then(|value| value.to_str().ok()).map(str::to_owned);
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        script.requests.lock().unwrap().push((auth, json));
        let (status, text) = script.answers.lock().unwrap().pop_front().unwrap_or((599, "script exhausted".into()));
        (StatusCode::from_u16(status).unwrap(), text)
    }

    async fn serve(answers: &[(u16, &str)], api_key: Option<&str>) -> (Arc<Script>, OpenAiProvider) {
        let answers = answers.iter().map(|(status, text)| (*status, text.to_string())).collect();
        let script = Arc::new(Script { answers: Mutex::new(answers), ..Script::default() });
        let router =
            axum::Router::new().route("/v1/chat/completions", axum::routing::post(answer)).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let config = OpenAiConfig {
            base_url: format!("http://{address}/v1/"),
            api_key: api_key.map(str::to_owned),
            timeout: Duration::from_secs(10),
            max_attempts: 3,
        };
        (script, OpenAiProvider::new(config).unwrap())
    }

    const STOP: &str = r#"{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;

    fn request(messages: Vec<Message>, tools: Vec<ToolSpec>) -> ChatRequest {
        ChatRequest { model: "gpt-test".into(), messages, tools, temperature: None }
    }

    #[tokio::test]
    async fn request_body_has_the_chat_completions_shape() {
        let (script, provider) = serve(&[(200, STOP)], Some("sk-test")).await;
        let call = ToolCall { id: "c1".into(), name: "echo".into(), arguments: r#"{"text":"x"}"#.into() };
        let messages = vec![
            Message::system("be brief"),
            Message::user("say x"),
            Message::assistant("", vec![call]),
            Message::tool_result("c1", "x"),
        ];
        let echo =
            ToolSpec { name: "echo".into(), description: "echoes".into(), parameters: json!({"type": "object"}) };
        provider.complete(&request(messages, vec![echo])).await.unwrap();

        let requests = script.requests.lock().unwrap();
        let (auth, body) = &requests[0];
        assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
        let expected = json!({
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "say x"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "echo", "arguments": "{\"text\":\"x\"}"}}
                ]},
                {"role": "tool", "content": "x", "tool_call_id": "c1"},
            ],
            "tools": [{"type": "function", "function": {"name": "echo", "description": "echoes", "parameters": {"type": "object"}}}],
            "tool_choice": "auto",
        });
        assert_eq!(body, &expected);
    }

    #[tokio::test]
    async fn no_tools_and_no_key_send_neither() {
        let (script, provider) = serve(&[(200, STOP)], None).await;
        let answer = provider.complete(&request(vec![Message::user("hi")], vec![])).await.unwrap();
        assert_eq!(answer.message, Message::assistant("hi", vec![]));
        assert_eq!(answer.usage, Usage::default());
        assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
        let requests = script.requests.lock().unwrap();
        let (auth, body) = &requests[0];
        assert_eq!(auth, &None);
        assert!(body.get("tools").is_none() && body.get("tool_choice").is_none(), "{body}");
    }

    #[tokio::test]
    async fn tool_calls_and_usage_are_parsed() {
        let answer = r#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"call_a","type":"function","function":{"name":"ls","arguments":"{}"}},
            {"type":"function","function":{"name":"echo","arguments":{"text":"x"}}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":12,"completion_tokens":7}}"#;
        let (_script, provider) = serve(&[(200, answer)], None).await;
        let response = provider.complete(&request(vec![Message::user("go")], vec![])).await.unwrap();
        let expected_calls = vec![
            ToolCall { id: "call_a".into(), name: "ls".into(), arguments: "{}".into() },
            ToolCall { id: "call_1".into(), name: "echo".into(), arguments: r#"{"text":"x"}"#.into() },
        ];
        assert_eq!(response.message, Message::assistant("", expected_calls));
        assert_eq!(response.usage, Usage { prompt_tokens: 12, completion_tokens: 7 });
        assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[tokio::test]
    async fn server_error_is_retried_until_success() {
        let (script, provider) = serve(&[(500, "busy"), (503, "busy"), (200, STOP)], None).await;
        let response = provider.complete(&request(vec![Message::user("hi")], vec![])).await.unwrap();
        assert_eq!(response.message.content, "hi");
        assert_eq!(script.requests.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn retries_stop_after_max_attempts() {
        let (script, provider) = serve(&[(500, "a"), (500, "b"), (500, "c"), (200, STOP)], None).await;
        let error = provider.complete(&request(vec![Message::user("hi")], vec![])).await.unwrap_err();
        assert!(matches!(error, ModelError::Http { status: 500, ref body } if body == "c"), "{error}");
        assert_eq!(script.requests.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn client_error_is_not_retried_and_body_is_cut_to_2_kib() {
        let long_body = "é".repeat(2000);
        let (script, provider) = serve(&[(400, &long_body), (200, STOP)], None).await;
        let error = provider.complete(&request(vec![Message::user("hi")], vec![])).await.unwrap_err();
        let ModelError::Http { status, body } = error else { panic!("expected http error, got {error}") };
        assert_eq!(status, 400);
        assert_eq!(body.len(), 2048);
        assert_eq!(script.requests.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_oversized_answer_is_refused_without_retry() {
        let huge =
            format!(r#"{{"choices":[{{"message":{{"role":"assistant","content":"{}"}}}}]}}"#, "x".repeat(3 << 20));
        let (script, provider) = serve(&[(200, &huge)], None).await;
        let error = provider.complete(&request(vec![Message::user("hi")], vec![])).await.unwrap_err();
        assert!(matches!(&error, ModelError::Decode(text) if text.contains("2097152-byte limit")), "{error}");
        assert_eq!(script.requests.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn garbage_is_a_decode_error_without_retry() {
        let (script, provider) = serve(&[(200, "<html>oops"), (200, r#"{"choices":[]}"#)], None).await;
        let error = provider.complete(&request(vec![Message::user("hi")], vec![])).await.unwrap_err();
        assert!(matches!(&error, ModelError::Decode(text) if text.contains("<html>oops")), "{error}");
        let error = provider.complete(&request(vec![Message::user("hi")], vec![])).await.unwrap_err();
        assert!(matches!(&error, ModelError::Decode(text) if text.contains("choices[0]")), "{error}");
        assert_eq!(script.requests.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn unreachable_server_is_a_transport_error_naming_the_url() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let config =
            OpenAiConfig { base_url: format!("http://{address}/v1"), max_attempts: 1, ..OpenAiConfig::default() };
        let provider = OpenAiProvider::new(config).unwrap();
        let error = provider.complete(&request(vec![Message::user("hi")], vec![])).await.unwrap_err();
        let ModelError::Transport { url, .. } = &error else { panic!("expected transport error, got {error}") };
        assert_eq!(url, &format!("http://{address}/v1/chat/completions"));
    }

    #[test]
    fn config_hides_the_key() {
        assert_eq!(OpenAiConfig::default().base_url, DEFAULT_BASE_URL);
        let config = OpenAiConfig {
            base_url: "http://127.0.0.1:8080/v1".into(),
            api_key: Some("sk-secret".into()),
            ..OpenAiConfig::default()
        };
        assert!(!format!("{config:?}").contains("sk-secret"));
        let provider = OpenAiProvider::new(config).unwrap();
        assert!(!format!("{provider:?}").contains("sk-secret"));
    }

    #[test]
    fn invalid_config_is_rejected() {
        let bad_url = OpenAiConfig { base_url: "localhost:8080".into(), ..OpenAiConfig::default() };
        assert!(matches!(OpenAiProvider::new(bad_url), Err(ModelError::Config(_))));
        let no_attempts = OpenAiConfig { max_attempts: 0, ..OpenAiConfig::default() };
        assert!(matches!(OpenAiProvider::new(no_attempts), Err(ModelError::Config(_))));
    }

    #[test]
    fn the_retry_policy_retries_max_attempts_minus_one_times_within_the_cap() {
        use backon::BackoffBuilder;
        let delays: Vec<Duration> = retry_policy(4).build().collect();
        assert_eq!(delays.len(), 3);
        // Jitter adds up to one more current delay.
        assert!(delays.iter().all(|delay| *delay <= BACKOFF_CAP * 2), "{delays:?}");
        assert_eq!(retry_policy(1).build().count(), 0, "one attempt means no retry");
    }
}
