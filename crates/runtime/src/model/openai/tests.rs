//! Tests against a local HTTP server speaking the chat completions wire format: JSON answers
//! and `data:` server-sent events ending in `[DONE]`, as api.openai.com and llama-server send
//! them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::model::ToolSpec;
use crate::model::testing::{self, Canned, Script};

async fn serve(answers: Vec<Canned>, api_key: Option<&str>) -> (Arc<Script>, OpenAiProvider) {
    let (script, base_url) = testing::serve("/v1/chat/completions", answers).await;
    let mut headers = BTreeMap::new();
    headers.insert("x-team".to_owned(), "agents".to_owned());
    let config = EndpointConfig {
        api_key: api_key.map(str::to_owned),
        headers,
        timeout: Duration::from_secs(10),
        ..EndpointConfig::new(format!("{base_url}/"))
    };
    (script, OpenAiProvider::new(&config).unwrap())
}

fn completion(message: Value, finish_reason: &str, usage: Option<(u32, u32)>) -> Canned {
    let mut body = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-test-2025",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    });
    if let Some((prompt, completion)) = usage {
        body["usage"] =
            json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
    }
    testing::json(200, &body)
}

fn stop(text: &str) -> Canned {
    completion(json!({"role": "assistant", "content": text}), "stop", None)
}

fn chunk(delta: Value, finish_reason: Option<&str>) -> (Option<&'static str>, String) {
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-test-2025",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    });
    (None, body.to_string())
}

fn usage_chunk(prompt: u32, completion: u32) -> (Option<&'static str>, String) {
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-test-2025",
        "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    });
    (None, body.to_string())
}

fn request(messages: Vec<Message>, tools: Vec<ToolSpec>, tool_choice: ToolChoice) -> ChatRequest {
    ChatRequest { model: "gpt-test".into(), messages, tools, tool_choice, temperature: Some(0.5) }
}

fn hi() -> ChatRequest {
    request(vec![Message::user("hi")], vec![], ToolChoice::Auto)
}

fn echo() -> ToolSpec {
    ToolSpec { name: "echo".into(), description: "echoes".into(), parameters: json!({"type": "object"}) }
}

#[tokio::test]
async fn request_body_has_the_chat_completions_shape() {
    let (script, provider) = serve(vec![stop("hi"); 4], Some("sk-test")).await;
    let call = ToolCall { id: "c1".into(), name: "echo".into(), arguments: r#"{"text":"x"}"#.into() };
    let messages = vec![
        Message::system("be brief"),
        Message::user("say x"),
        Message::assistant("", vec![call]),
        Message::tool_result("c1", "x"),
    ];
    provider.complete(&request(messages.clone(), vec![echo()], ToolChoice::Auto), None).await.unwrap();
    let choices = [ToolChoice::Required, ToolChoice::None, ToolChoice::Tool("echo".into())];
    for choice in choices {
        provider.complete(&request(messages.clone(), vec![echo()], choice), None).await.unwrap();
    }

    let requests = script.requests();
    let first = &requests[0];
    assert_eq!(first.headers["authorization"], "Bearer sk-test");
    assert_eq!(first.headers["x-team"], "agents", "configured headers are sent");
    let expected = json!({
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "say x"},
            {"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "echo", "arguments": "{\"text\":\"x\"}"}}
            ]},
            {"role": "tool", "content": "x", "tool_call_id": "c1"},
        ],
        "tools": [{"type": "function", "function": {"name": "echo", "description": "echoes", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
        "temperature": 0.5,
    });
    assert_eq!(first.body, expected);
    let sent: Vec<&Value> = requests[1..].iter().map(|request| &request.body["tool_choice"]).collect();
    assert_eq!(sent, [&json!("required"), &json!("none"), &json!({"type": "function", "function": {"name": "echo"}})]);
}

#[tokio::test]
async fn no_tools_and_no_key_send_neither() {
    let (script, provider) = serve(vec![stop("hi")], None).await;
    let answer = provider.complete(&hi(), None).await.unwrap();
    assert_eq!(answer.message, Message::assistant("hi", vec![]));
    assert_eq!((answer.usage, answer.finish_reason.as_deref()), (Usage::default(), Some("stop")));
    assert_eq!(answer.model.as_deref(), Some("gpt-test-2025"));
    let request = &script.requests()[0];
    assert!(request.headers.get("authorization").is_none());
    assert!(request.body.get("tools").is_none() && request.body.get("tool_choice").is_none(), "{}", request.body);
}

#[tokio::test]
async fn tool_calls_and_usage_are_parsed() {
    let message = json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "ls", "arguments": "{}"}},
        {"id": "", "type": "function", "function": {"name": "echo", "arguments": ""}}]});
    let (_script, provider) = serve(vec![completion(message, "tool_calls", Some((12, 7)))], None).await;
    let response = provider.complete(&hi(), None).await.unwrap();
    let expected_calls = vec![
        ToolCall { id: "call_a".into(), name: "ls".into(), arguments: "{}".into() },
        ToolCall { id: "call_1".into(), name: "echo".into(), arguments: "{}".into() },
    ];
    assert_eq!(response.message, Message::assistant("", expected_calls));
    assert_eq!(response.usage, Usage { prompt_tokens: 12, completion_tokens: 7 });
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
}

#[tokio::test]
async fn a_streamed_answer_hands_out_its_text_and_returns_it_whole_with_the_last_chunk_usage() {
    let events = vec![
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Hel"}), None),
        chunk(json!({"content": "lo"}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(9, 2),
        (None, "[DONE]".to_owned()),
    ];
    let (script, provider) = serve(vec![testing::sse(&events)], None).await;
    let pieces = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = pieces.clone();
    let deltas = move |text: &str| sink.lock().unwrap().push(text.to_owned());

    let response = provider.complete(&hi(), Some(&deltas)).await.unwrap();

    assert_eq!(*pieces.lock().unwrap(), ["Hel", "lo"]);
    assert_eq!(response.message, Message::assistant("Hello", vec![]));
    assert_eq!(response.usage, Usage { prompt_tokens: 9, completion_tokens: 2 });
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    let body = &script.requests()[0].body;
    assert_eq!((&body["stream"], &body["stream_options"]), (&json!(true), &json!({"include_usage": true})));
}

#[tokio::test]
async fn streamed_tool_call_arguments_are_joined_per_call() {
    let call = |index: u32, id: Option<&str>, name: Option<&str>, arguments: &str| {
        let mut function = json!({"arguments": arguments});
        if let Some(name) = name {
            function["name"] = json!(name);
        }
        let mut call = json!({"index": index, "function": function});
        if let Some(id) = id {
            call["id"] = json!(id);
            call["type"] = json!("function");
        }
        chunk(json!({"tool_calls": [call]}), None)
    };
    let events = vec![
        call(0, Some("call_1"), Some("bash"), ""),
        call(0, None, None, "{\"command\":"),
        call(1, Some("call_2"), Some("ls"), "{}"),
        call(0, None, None, " \"ls\"}"),
        chunk(json!({}), Some("tool_calls")),
        (None, "[DONE]".to_owned()),
    ];
    let (_script, provider) = serve(vec![testing::sse(&events)], None).await;
    let response = provider.complete(&hi(), Some(&|_: &str| {})).await.unwrap();
    let calls = vec![
        ToolCall { id: "call_1".into(), name: "bash".into(), arguments: "{\"command\": \"ls\"}".into() },
        ToolCall { id: "call_2".into(), name: "ls".into(), arguments: "{}".into() },
    ];
    assert_eq!(response.message, Message::assistant("", calls));
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
}

#[tokio::test]
async fn an_error_status_carries_its_retry_after_and_a_cut_body_without_retry() {
    let long_body = "é".repeat(2000);
    let answers = vec![(429, vec![("retry-after", "1")], "slow down".to_owned()), (400, vec![], long_body)];
    let (script, provider) = serve(answers, None).await;
    let error = provider.complete(&hi(), None).await.unwrap_err();
    assert!(
        matches!(&error, ModelError::Http { status: 429, retry_after: Some(wait), .. } if *wait == Duration::from_secs(1)),
        "{error}"
    );
    assert!(error.is_retryable());
    let error = provider.complete(&hi(), None).await.unwrap_err();
    let ModelError::Http { status, body, retry_after } = &error else { panic!("expected an http error, got {error}") };
    assert_eq!((*status, body.len(), *retry_after), (400, 2048, None));
    assert!(!error.is_retryable());
    assert_eq!(script.requests().len(), 2, "one attempt per call");
}

#[tokio::test]
async fn an_error_inside_the_event_stream_is_a_retryable_http_error_with_its_message() {
    let llama = json!({"error": {"code": 500, "message": "The model produced output that does not match the expected peg-native format", "type": "server_error"}});
    let answers = vec![
        testing::sse(&[chunk(json!({"content": "```json"}), None), (None, llama.to_string())]),
        testing::sse(&[(None, json!({"error": {"message": "overloaded", "code": "busy"}}).to_string())]),
    ];
    let (_script, provider) = serve(answers, None).await;
    let error = provider.complete(&hi(), Some(&|_: &str| {})).await.unwrap_err();
    let ModelError::Http { status, body, .. } = &error else { panic!("expected an http error, got {error}") };
    assert_eq!(*status, 500);
    assert_eq!(
        body,
        "error in the event stream: The model produced output that does not match the expected peg-native format"
    );
    assert!(error.is_retryable());
    let error = provider.complete(&hi(), Some(&|_: &str| {})).await.unwrap_err();
    assert!(matches!(&error, ModelError::Http { status: 500, body, .. } if body.ends_with("overloaded")), "{error}");
}

#[tokio::test]
async fn garbage_and_oversized_answers_are_readable_decode_errors() {
    let huge = format!(r#"{{"choices":[{{"message":{{"role":"assistant","content":"{}"}}}}]}}"#, "x".repeat(3 << 20));
    let answers = vec![
        (200, vec![], "<html>oops".to_owned()),
        testing::json(200, &json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []})),
        (200, vec![], huge),
        testing::sse(&[(None, "{not json".to_owned())]),
    ];
    let (_script, provider) = serve(answers, None).await;
    let error = provider.complete(&hi(), None).await.unwrap_err();
    assert!(matches!(&error, ModelError::Decode(text) if text.contains("<html>oops")), "{error}");
    let error = provider.complete(&hi(), None).await.unwrap_err();
    assert!(matches!(&error, ModelError::Decode(text) if text.contains("choices[0]")), "{error}");
    let error = provider.complete(&hi(), None).await.unwrap_err();
    assert!(matches!(&error, ModelError::Decode(text) if text.contains("2097152-byte limit")), "{error}");
    let error = provider.complete(&hi(), Some(&|_: &str| {})).await.unwrap_err();
    assert!(matches!(&error, ModelError::Decode(text) if text.contains("{not json")), "{error}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error_naming_the_url() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let provider = OpenAiProvider::new(&EndpointConfig::new(format!("http://{address}/v1"))).unwrap();
    let error = provider.complete(&hi(), None).await.unwrap_err();
    let ModelError::Transport { url, .. } = &error else { panic!("expected transport error, got {error}") };
    assert_eq!(url, &format!("http://{address}/v1/chat/completions"));
}

#[test]
fn bad_endpoints_are_refused_and_the_key_is_hidden() {
    assert!(matches!(OpenAiProvider::new(&EndpointConfig::new("localhost:8080")), Err(ModelError::Config(_))));
    let mut headers = BTreeMap::new();
    headers.insert("bad header".to_owned(), "x".to_owned());
    let bad_header = EndpointConfig { headers, ..EndpointConfig::new("http://x/v1") };
    assert!(matches!(OpenAiProvider::new(&bad_header), Err(ModelError::Config(text)) if text.contains("bad header")));
    let keyed = EndpointConfig { api_key: Some("sk-secret".into()), ..EndpointConfig::new("http://x/v1") };
    assert!(!format!("{:?}", OpenAiProvider::new(&keyed).unwrap()).contains("sk-secret"));
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_is_read_whole() {
    let (script, provider) = serve(vec![stop("whole answer")], None).await;
    let pieces = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = pieces.clone();
    let deltas = move |text: &str| sink.lock().unwrap().push(text.to_owned());

    let response = provider.complete(&hi(), Some(&deltas)).await.unwrap();

    assert_eq!(response.message.content, "whole answer");
    assert_eq!(*pieces.lock().unwrap(), ["whole answer"], "the text still reaches the stream's reader, at once");
    assert_eq!(script.requests()[0].body["stream"], json!(true));
}
