//! A scripted OpenAI-compatible chat completions server: a real HTTP server on loopback that
//! answers `POST /v1/chat/completions` from a script, so runs can be driven deterministically
//! over the real wire protocol.
//!
//! The reply is chosen by the request's *step*: the number of assistant messages after the last
//! user message. So one script serves any number of agents concurrently, and a resumed run
//! that (wrongly) asked again for a committed step would be counted twice in
//! [`ScriptedModel::requests_per_step`].
//!
//! Every reply waits a latency first: a constant ([`ScriptedModel::start`]), one per step
//! ([`ScriptedModel::start_with_step_latency`]) or one chosen per request from its user input and
//! step ([`ScriptedModel::start_with_latency_fn`], e.g. only the first request of a step is slow).
//! Each request is recorded ([`ScriptedModel::requests`]) with when it arrived and when its
//! answer was sent, so a test can wait for a given answer rather than sleep through its latency.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An assistant message calling tools: `(name, arguments JSON)` each.
    ToolCalls(Vec<(String, Value)>),
    /// A final text answer.
    Text(String),
    /// An HTTP error status with a body.
    Error(u16, String),
}

impl Reply {
    /// Returns a reply calling one tool.
    pub fn tool(name: &str, arguments: Value) -> Self {
        Self::ToolCalls(vec![(name.to_owned(), arguments)])
    }

    /// Returns a final text answer.
    pub fn text(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

/// A recorded request.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Step it asked for (0-based).
    pub step: usize,
    /// Content of the last user message (identifies the conversation in tests).
    pub user_input: String,
    /// The whole JSON body.
    pub body: Value,
    /// When it arrived; its answer is sent after the latency chosen for it.
    pub received_at: tokio::time::Instant,
    /// When its answer was handed to the HTTP server (after the latency); `None` while it waits.
    pub answered_at: Option<tokio::time::Instant>,
}

/// Chooses the latency of a request from its user input and step.
type LatencyFn = dyn Fn(&str, usize) -> Duration + Send + Sync;

#[derive(Clone)]
struct Shared {
    script: Arc<Vec<Reply>>,
    latency: Arc<LatencyFn>,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

/// The running server; stops on drop.
pub struct ScriptedModel {
    address: SocketAddr,
    shared: Shared,
    stop: CancellationToken,
}

impl ScriptedModel {
    /// Starts a server answering step *n* with `script[n]` (the last entry repeats past the
    /// end), after `latency`.
    pub async fn start(script: Vec<Reply>, latency: Duration) -> anyhow::Result<Self> {
        Self::start_with_latency_fn(script, move |_, _| latency).await
    }

    /// Like [`ScriptedModel::start`], answering step *n* after `latency(n)`.
    pub async fn start_with_step_latency(
        script: Vec<Reply>,
        latency: impl Fn(usize) -> Duration + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        Self::start_with_latency_fn(script, move |_, step| latency(step)).await
    }

    /// Like [`ScriptedModel::start`], answering each request after `latency(user_input, step)`.
    /// The function is called once per request, when it arrives (after it is recorded), so it
    /// may count calls, e.g. to make only the first request of a step slow.
    pub async fn start_with_latency_fn(
        script: Vec<Reply>,
        latency: impl Fn(&str, usize) -> Duration + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(!script.is_empty(), "a script needs at least one reply");
        let shared = Shared { script: Arc::new(script), latency: Arc::new(latency), requests: Arc::default() };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let app = Router::new().route("/v1/chat/completions", post(complete)).with_state(shared.clone());
        let stop = CancellationToken::new();
        let stopped = stop.clone().cancelled_owned();
        tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(stopped).await });
        Ok(Self { address, shared, stop })
    }

    /// Returns the base URL to use as `OPENAI_BASE_URL` (`http://127.0.0.1:<port>/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// Returns every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().expect("requests lock poisoned").clone()
    }

    /// Returns how many requests asked for each `(user input, step)`.
    pub fn requests_per_step(&self) -> HashMap<(String, usize), usize> {
        let mut counts = HashMap::new();
        for request in self.requests() {
            *counts.entry((request.user_input, request.step)).or_insert(0) += 1;
        }
        counts
    }
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn complete(State(shared): State<Shared>, Json(body): Json<Value>) -> Response {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last_user = messages.iter().rposition(|message| message["role"] == "user");
    let step = last_user
        .map_or(0, |position| messages[position + 1..].iter().filter(|message| message["role"] == "assistant").count());
    let user_input = last_user.and_then(|position| messages[position]["content"].as_str()).unwrap_or_default();
    let index = {
        let mut requests = shared.requests.lock().expect("requests lock poisoned");
        requests.push(RecordedRequest {
            step,
            user_input: user_input.to_owned(),
            body: body.clone(),
            received_at: tokio::time::Instant::now(),
            answered_at: None,
        });
        requests.len() - 1
    };
    let latency = (shared.latency)(user_input, step);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    shared.requests.lock().expect("requests lock poisoned")[index].answered_at = Some(tokio::time::Instant::now());
    let reply = shared.script.get(step).unwrap_or_else(|| shared.script.last().expect("script is not empty"));
    let message = match reply {
        Reply::Error(status, text) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, text.clone()).into_response();
        }
        Reply::Text(text) => json!({ "role": "assistant", "content": text }),
        Reply::ToolCalls(calls) => json!({
            "role": "assistant",
            "content": null,
            "tool_calls": calls.iter().enumerate().map(|(index, (name, arguments))| json!({
                "id": format!("call_{step}_{index}"),
                "type": "function",
                "function": { "name": name, "arguments": arguments.to_string() },
            })).collect::<Vec<_>>(),
        }),
    };
    let finish_reason = if matches!(reply, Reply::ToolCalls(_)) { "tool_calls" } else { "stop" };
    Json(json!({
        "id": format!("chatcmpl-{step}"),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": body["model"],
        "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason }],
        "usage": { "prompt_tokens": 10 + 5 * step, "completion_tokens": 7, "total_tokens": 17 + 5 * step },
    }))
    .into_response()
}
