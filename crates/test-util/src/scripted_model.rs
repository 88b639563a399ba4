//! A scripted OpenAI-compatible chat completions server: a real HTTP server on loopback that
//! answers `POST /v1/chat/completions` from a script, so runs can be driven deterministically
//! over the real wire protocol.
//!
//! The reply is chosen by the request's *step*: the number of assistant messages after the last
//! user message. So one script serves any number of agents concurrently, and a resumed run
//! that (wrongly) asked again for a committed step would be counted twice in
//! [`ScriptedModel::requests_per_step`].
//!
//! A request with `"stream": true` is answered with server-sent events as OpenAI streams them:
//! text in word-sized `delta.content` pieces, each tool call in one `delta.tool_calls` chunk, a
//! chunk with the finish reason, one with `usage`, then `data: [DONE]`.
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

use agentry_runtime::context::SUMMARY_INSTRUCTION;
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
    /// A final text answer whose second part waits for `gate` (`Notify::notify_one`): streamed,
    /// `first` goes out at once and `rest` after the gate opens; whole, the answer waits.
    HeldText {
        /// Sent at once when streaming.
        first: String,
        /// Sent once the gate opened.
        rest: String,
        /// The gate.
        gate: Arc<tokio::sync::Notify>,
    },
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

/// A script: the reply of each step.
type Script = Arc<Vec<Reply>>;

/// Chooses the latency of a request from its user input and step.
type LatencyFn = dyn Fn(&str, usize) -> Duration + Send + Sync;

#[derive(Clone)]
struct Shared {
    script: Arc<Vec<Reply>>,
    latency: Arc<LatencyFn>,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    /// Steps whose next request waits for its gate (once).
    holds: Arc<Mutex<HashMap<usize, Arc<tokio::sync::Notify>>>>,
    /// Scripts of conversations whose user input starts with a prefix, checked in order
    /// before the default script ([`ScriptedModel::script_for`]).
    by_input: Arc<Mutex<Vec<(String, Script)>>>,
    /// Requests whose user input starts with a prefix wait until its gate is open (cancelled)
    /// ([`ScriptedModel::hold_inputs`]).
    held_inputs: Arc<Mutex<Vec<(String, CancellationToken)>>>,
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
        let shared = Shared {
            script: Arc::new(script),
            latency: Arc::new(latency),
            requests: Arc::default(),
            holds: Arc::default(),
            by_input: Arc::default(),
            held_inputs: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let app = Router::new().route("/v1/chat/completions", post(complete)).with_state(shared.clone());
        let stop = CancellationToken::new();
        let stopped = stop.clone().cancelled_owned();
        tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(stopped).await });
        Ok(Self { address, shared, stop })
    }

    /// Holds the answer to the next request for `step` until `gate` opens
    /// (`Notify::notify_one`); later requests for it are answered as usual.
    pub fn hold_step(&self, step: usize, gate: Arc<tokio::sync::Notify>) {
        self.shared.holds.lock().expect("holds lock poisoned").insert(step, gate);
    }

    /// Answers conversations whose last user input starts with `prefix` from `script` instead
    /// of the default one (e.g. a delegating agent and its sub-agents, told apart by their
    /// inputs); the first matching prefix wins.
    pub fn script_for(&self, prefix: &str, script: Vec<Reply>) {
        assert!(!script.is_empty(), "a script needs at least one reply");
        self.shared.by_input.lock().expect("scripts lock poisoned").push((prefix.to_owned(), Arc::new(script)));
    }

    /// Holds every request whose last user input starts with `prefix` (arriving now or later)
    /// until `gate` is cancelled; then they, and later ones, are answered as usual. Lets a test
    /// act (kill a node, read the cluster's state) while those conversations are mid-step.
    pub fn hold_inputs(&self, prefix: &str, gate: CancellationToken) {
        self.shared.held_inputs.lock().expect("holds lock poisoned").push((prefix.to_owned(), gate));
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
    if messages.first().and_then(|message| message["content"].as_str()) == Some(SUMMARY_INSTRUCTION) {
        return summarise(&shared, &body, &messages);
    }
    let last_user = messages.iter().rposition(|message| message["role"] == "user");
    // After a summary, the steps it covers count too.
    let summarised = last_user.and_then(|position| messages[position]["content"].as_str()).map_or(0, steps_in_summary);
    let step = summarised
        + last_user.map_or(0, |position| {
            messages[position + 1..].iter().filter(|message| message["role"] == "assistant").count()
        });
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
    let held_by: Vec<CancellationToken> = shared
        .held_inputs
        .lock()
        .expect("holds lock poisoned")
        .iter()
        .filter(|(prefix, _)| user_input.starts_with(prefix.as_str()))
        .map(|(_, gate)| gate.clone())
        .collect();
    for gate in held_by {
        gate.cancelled().await;
    }
    let hold = shared.holds.lock().expect("holds lock poisoned").remove(&step);
    if let Some(gate) = hold {
        gate.notified().await;
    }
    shared.requests.lock().expect("requests lock poisoned")[index].answered_at = Some(tokio::time::Instant::now());
    let script = shared
        .by_input
        .lock()
        .expect("scripts lock poisoned")
        .iter()
        .find(|(prefix, _)| user_input.starts_with(prefix.as_str()))
        .map_or_else(|| shared.script.clone(), |(_, script)| script.clone());
    let reply = script.get(step).unwrap_or_else(|| script.last().expect("script is not empty"));
    let streamed = body["stream"] == json!(true);
    let usage = json!({ "prompt_tokens": 10 + 5 * step, "completion_tokens": 7, "total_tokens": 17 + 5 * step });
    let envelope = |object: &str, choices: Value| {
        json!({
            "id": format!("chatcmpl-{step}"),
            "object": object,
            "created": 1_700_000_000,
            "model": body["model"],
            "choices": choices,
        })
    };
    let calls = |calls: &[(String, Value)]| -> Vec<Value> {
        calls
            .iter()
            .enumerate()
            .map(|(index, (name, arguments))| {
                json!({
                    "index": index,
                    "id": format!("call_{step}_{index}"),
                    "type": "function",
                    "function": { "name": name, "arguments": arguments.to_string() },
                })
            })
            .collect()
    };
    let (pieces, tool_calls, gate, rest): (Vec<String>, Vec<Value>, _, String) = match reply {
        Reply::Error(status, text) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, text.clone()).into_response();
        }
        Reply::Text(text) => (words(text), Vec::new(), None, String::new()),
        Reply::ToolCalls(list) => (Vec::new(), calls(list), None, String::new()),
        Reply::HeldText { first, rest, gate } => (vec![first.clone()], Vec::new(), Some(gate.clone()), rest.clone()),
    };
    let finish_reason = if tool_calls.is_empty() { "stop" } else { "tool_calls" };
    if !streamed {
        if let Some(gate) = &gate {
            gate.notified().await;
        }
        let content = format!("{}{rest}", pieces.concat());
        let message = if tool_calls.is_empty() {
            json!({ "role": "assistant", "content": content })
        } else {
            let tool_calls: Vec<Value> = tool_calls
                .into_iter()
                .map(|mut call| {
                    call.as_object_mut().map(|call| call.remove("index"));
                    call
                })
                .collect();
            json!({ "role": "assistant", "content": null, "tool_calls": tool_calls })
        };
        let mut answer =
            envelope("chat.completion", json!([{ "index": 0, "message": message, "finish_reason": finish_reason }]));
        answer["usage"] = usage;
        return Json(answer).into_response();
    }
    let chunk = |delta: Value, finish: Option<&str>| {
        let choices = json!([{ "index": 0, "delta": delta, "finish_reason": finish }]);
        format!("data: {}\n\n", envelope("chat.completion.chunk", choices))
    };
    let mut head = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    head.extend(pieces.iter().map(|piece| chunk(json!({ "content": piece }), None)));
    head.extend(tool_calls.into_iter().map(|call| chunk(json!({ "tool_calls": [call] }), None)));
    let mut tail = Vec::new();
    if !rest.is_empty() {
        tail.push(chunk(json!({ "content": rest }), None));
    }
    tail.push(chunk(json!({}), Some(finish_reason)));
    let mut last = envelope("chat.completion.chunk", json!([]));
    last["usage"] = usage;
    tail.push(format!("data: {last}\n\ndata: [DONE]\n\n"));
    let Some(gate) = gate else {
        // One write: two would meet Nagle's algorithm and the client's delayed ACK (40 ms).
        let body = format!("{}{}", head.concat(), tail.concat());
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(axum::body::Body::from(body))
            .expect("a valid response");
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<String, std::convert::Infallible>>(8);
    tokio::spawn(async move {
        let _ = sender.send(Ok(head.concat())).await;
        gate.notified().await;
        let _ = sender.send(Ok(tail.concat())).await;
    });
    let stream =
        futures::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
        );
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(axum::body::Body::from_stream(stream))
        .expect("a valid response")
}

/// Answers a summarisation request of the agent loop (its system prompt is the runtime's
/// [`SUMMARY_INSTRUCTION`]) with `summary of N steps`, N counting the assistant messages of the
/// transcript and those of the earlier summary it holds; recorded like any request (step 0).
fn summarise(shared: &Shared, body: &Value, messages: &[Value]) -> Response {
    let transcript = messages.get(1).and_then(|message| message["content"].as_str()).unwrap_or_default();
    let steps = steps_in_summary(transcript) + transcript.lines().filter(|line| line.starts_with("assistant")).count();
    let now = tokio::time::Instant::now();
    shared.requests.lock().expect("requests lock poisoned").push(RecordedRequest {
        step: 0,
        user_input: transcript.to_owned(),
        body: body.clone(),
        received_at: now,
        answered_at: Some(now),
    });
    Json(json!({
        "id": "chatcmpl-summary",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": body["model"],
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": format!("summary of {steps} steps") }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 40, "completion_tokens": 5, "total_tokens": 45 },
    }))
    .into_response()
}

/// Returns N of the first `summary of N steps` in `text` (0 when absent).
fn steps_in_summary(text: &str) -> usize {
    let Some(start) = text.find("summary of ") else { return 0 };
    let digits: String = text[start + "summary of ".len()..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// Splits `text` into word-sized pieces (each word with the space after it).
fn words(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_owned).collect()
}
