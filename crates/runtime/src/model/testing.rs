//! A scripted model server for the providers' and the router's tests: a real HTTP server on
//! loopback that answers POSTs with canned responses (status, headers, body — JSON or
//! server-sent events) in order, and records each request with its headers, JSON body and
//! arrival time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response};
use serde_json::Value;
use tokio::time::Instant;

/// One canned answer: status, headers, body.
pub(crate) type Canned = (u16, Vec<(&'static str, &'static str)>, String);

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) at: Instant,
}

/// Canned answers, served in order (then HTTP 599), and the requests seen.
#[derive(Default)]
pub(crate) struct Script {
    answers: Mutex<VecDeque<Canned>>,
    requests: Mutex<Vec<Recorded>>,
}

impl Script {
    /// Returns the requests seen so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn answer(State(script): State<Arc<Script>>, headers: HeaderMap, body: String) -> Response<Body> {
    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
    script.requests.lock().unwrap().push(Recorded { headers, body, at: Instant::now() });
    let (status, headers, text) =
        script.answers.lock().unwrap().pop_front().unwrap_or((599, Vec::new(), "script exhausted".into()));
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(name, value);
    }
    response.body(Body::from(text)).unwrap()
}

/// Serves `answers` at `path` (e.g. `/v1/chat/completions`); returns the script and the base URL
/// `http://ADDRESS/v1`.
pub(crate) async fn serve(path: &'static str, answers: Vec<Canned>) -> (Arc<Script>, String) {
    let script = Arc::new(Script { answers: Mutex::new(answers.into()), ..Script::default() });
    let router = axum::Router::new().route(path, axum::routing::post(answer)).with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (script, format!("http://{address}/v1"))
}

/// Returns a JSON answer with `status`.
pub(crate) fn json(status: u16, body: &Value) -> Canned {
    (status, vec![("content-type", "application/json")], body.to_string())
}

/// Returns a server-sent events answer with one `data:` line per element of `data` (and the
/// `event:` name when given).
pub(crate) fn sse(events: &[(Option<&str>, String)]) -> Canned {
    let body: String = events
        .iter()
        .map(|(name, data)| match name {
            Some(name) => format!("event: {name}\ndata: {data}\n\n"),
            None => format!("data: {data}\n\n"),
        })
        .collect();
    (200, vec![("content-type", "text/event-stream")], body)
}
