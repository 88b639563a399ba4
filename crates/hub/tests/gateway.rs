//! The console's gateway on the hub's HTTP listener, over real HTTP against an in-process hub
//! (SQLite in memory, in-process broker): unary methods as Connect JSON calls answer what gRPC
//! answers, errors are Connect errors with the gRPC code and message and write nothing, the
//! trace streams as server-sent events that resume after `Last-Event-ID` with no gap and no
//! duplicate and follow live events, and the console's page and assets are served.

mod common;

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

use common::TestHub;

use agentry_core::limits::MAX_GRPC_MESSAGE_BYTES;
use agentry_proto::v1 as pb;

/// How long a test waits for an event it expects.
const PATIENCE: Duration = Duration::from_secs(20);

/// The hub under test, and an HTTP client of its listener.
struct Gateway {
    hub: TestHub,
    http: reqwest::Client,
}

impl Gateway {
    async fn start() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self { hub: TestHub::start().await, http: reqwest::Client::new() }
    }

    /// Calls `method` with a JSON `body`; returns the HTTP status and the JSON answer.
    async fn call(&self, method: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/agentry.v1.AgentHub/{method}", self.hub.http_base))
            .json(body)
            .send()
            .await
            .expect("the gateway answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// Returns the events of `GET /api/v1/trace?{query}` (with `Last-Event-ID` when given) as
    /// (event name, id, data) until the stream ends.
    async fn sse(&self, query: &str, last_event_id: Option<u64>) -> Vec<(String, String, String)> {
        let mut request = self.http.get(format!("{}/api/v1/trace?{query}", self.hub.http_base));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("the gateway answers");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let events = response.bytes_stream().eventsource().map(|event| {
            let event = event.expect("a well-formed event stream");
            (event.event, event.id, event.data)
        });
        tokio::time::timeout(PATIENCE, events.collect()).await.expect("the replay ends")
    }

    async fn stop(self) {
        self.hub.stop().await;
    }
}

/// Imports a trace of `count` events (seqs 1..=count) as a new agent; returns its id.
async fn imported_agent(hub: &Gateway, count: u64) -> String {
    let events = (1..=count)
        .map(|seq| pb::ImportedEvent {
            seq,
            r#type: if seq == count { "run_finished".to_owned() } else { "step_start".to_owned() },
            agent_id: "source-agent".to_owned(),
            run_id: "source-run".to_owned(),
            data: json!({ "step": seq }).to_string(),
            ..Default::default()
        })
        .collect();
    let request = pb::ImportTraceRequest { source: "gateway.jsonl".to_owned(), events, ..Default::default() };
    hub.hub.client.clone().import_trace(request).await.expect("importing a trace").into_inner().agent_id
}

fn seqs(events: &[(String, String, String)]) -> Vec<u64> {
    events
        .iter()
        .filter(|(name, _, _)| name == "trace")
        .map(|(_, id, data)| {
            let event: Value = serde_json::from_str(data).expect("a JSON event");
            let seq: u64 = event["seq"].as_str().expect("seq as a string (uint64)").parse().expect("a number");
            assert_eq!(id, &seq.to_string(), "the SSE id is the seq");
            seq
        })
        .collect()
}

#[tokio::test]
async fn unary_methods_answer_what_grpc_answers_in_canonical_json() {
    let hub = Gateway::start().await;
    let spawn = json!({ "spec": { "model": "openai:gpt-4o-mini", "tools": ["echo"] }, "labels": { "team": "search" } });
    let (status, spawned) = hub.call("Spawn", &spawn).await;
    assert_eq!(status, 200, "{spawned}");
    let agent_id = spawned["agentId"].as_str().expect("agentId").to_owned();

    let (status, over_http) = hub.call("GetAgent", &json!({ "agentId": agent_id })).await;
    assert_eq!(status, 200);
    let over_grpc = hub.hub.client.clone().get_agent(pb::GetAgentRequest { agent_id: agent_id.clone() }).await.unwrap();
    assert_eq!(over_http, serde_json::to_value(over_grpc.get_ref()).unwrap());
    assert_eq!(over_http["agent"]["spec"]["model"], "openai:gpt-4o-mini");
    assert_eq!(over_http["agent"]["labels"]["team"], "search");

    let (status, listed) = hub.call("ListAgents", &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(listed["agents"][0]["agentId"], agent_id.as_str());
    // An empty body is the empty request.
    let response = hub
        .http
        .post(format!("{}/agentry.v1.AgentHub/ListNodes", hub.hub.http_base))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}), "no nodes: the default message");
    hub.stop().await;
}

#[tokio::test]
async fn refusals_are_connect_errors_and_write_nothing() {
    let hub = Gateway::start().await;
    let cases = [
        ("GetAgent", json!({ "agentId": "x" }), 400, "invalid_argument", "agent_id"),
        ("GetAgent", json!({ "agentId": "0193a4f2-6c1e-7d3a-9b8e-2f1c0d4e5a6b" }), 404, "not_found", "not found"),
        ("Spawn", json!({ "spec": { "model": "" } }), 400, "invalid_argument", "model"),
        ("Spawn", json!({ "spec": { "model": "m" }, "labelz": {} }), 400, "invalid_argument", "labelz"),
        ("Launch", json!({}), 501, "unimplemented", "no method \"Launch\""),
        ("Trace", json!({}), 501, "unimplemented", "GET /api/v1/trace"),
    ];
    for (method, body, http_status, code, needle) in cases {
        let (status, error) = hub.call(method, &body).await;
        assert_eq!(status, http_status, "{method} {body}: {error}");
        assert_eq!(error["code"], code, "{method} {body}: {error}");
        let message = error["message"].as_str().expect("a message");
        assert!(message.contains(needle), "{method} {body}: {message:?} should name {needle:?}");
    }

    let url = format!("{}/agentry.v1.AgentHub/Spawn", hub.hub.http_base);
    let text = hub.http.post(&url).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(text.status().as_u16(), 415);
    let broken =
        hub.http.post(&url).header("content-type", "application/json").body("{\"spec\":").send().await.unwrap();
    assert_eq!(broken.status().as_u16(), 400);
    let huge = vec![b' '; MAX_GRPC_MESSAGE_BYTES + 1];
    let too_big = hub.http.post(&url).header("content-type", "application/json").body(huge).send().await.unwrap();
    assert_eq!(too_big.status().as_u16(), 413);

    let (_, listed) = hub.call("ListAgents", &json!({})).await;
    assert_eq!(listed, json!({}), "no agent was created by a refused call");
    let whoami: Value =
        hub.http.get(format!("{}/api/v1/whoami", hub.hub.http_base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(whoami, json!({ "identity": "anonymous", "role": "admin", "tenant": null, "authenticated": false }));
    hub.stop().await;
}

#[tokio::test]
async fn the_trace_replays_then_resumes_after_the_last_event_id() {
    let hub = Gateway::start().await;
    let agent_id = imported_agent(&hub, 5).await;

    let all = hub.sse(&format!("agent_id={agent_id}"), None).await;
    assert_eq!(seqs(&all), [1, 2, 3, 4, 5]);
    assert_eq!(all.last().map(|(name, _, _)| name.as_str()), Some("end"), "a replay without follow ends");
    let first: Value = serde_json::from_str(&all[0].2).unwrap();
    assert_eq!(first["type"], "step_start");
    assert_eq!(serde_json::from_str::<Value>(first["data"].as_str().unwrap()).unwrap(), json!({ "step": 1 }));

    // A reconnecting EventSource sends the last id it saw: no gap, no duplicate.
    assert_eq!(seqs(&hub.sse(&format!("agent_id={agent_id}"), Some(3)).await), [4, 5]);
    // The larger of after_seq and Last-Event-ID wins.
    assert_eq!(seqs(&hub.sse(&format!("agent_id={agent_id}&after_seq=2"), Some(4)).await), [5]);
    assert_eq!(seqs(&hub.sse(&format!("agent_id={agent_id}&after_seq=4"), Some(1)).await), [5]);

    let unknown = hub.http.get(format!("{}/api/v1/trace?agent_id=nope", hub.hub.http_base)).send().await.unwrap();
    assert_eq!(unknown.status().as_u16(), 400);
    let error: Value = unknown.json().await.unwrap();
    assert_eq!(error["code"], "invalid_argument");
    let typo = hub.http.get(format!("{}/api/v1/trace?agent={agent_id}", hub.hub.http_base)).send().await.unwrap();
    assert_eq!(typo.status().as_u16(), 400, "an unknown query field is refused, not ignored");
    hub.stop().await;
}

#[tokio::test]
async fn a_followed_trace_receives_events_as_they_are_committed() {
    let hub = Gateway::start().await;
    let spawn = json!({ "spec": { "model": "openai:gpt-4o-mini" }, "input": "hello" });
    let (status, spawned) = hub.call("Spawn", &spawn).await;
    assert_eq!(status, 200, "{spawned}");
    let (agent_id, run_id) = (spawned["agentId"].as_str().unwrap(), spawned["runId"].as_str().unwrap());

    let response = hub
        .http
        .get(format!("{}/api/v1/trace?agent_id={agent_id}&follow=true", hub.hub.http_base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut events = response.bytes_stream().eventsource();
    // No node runs it: the run waits queued, its trace is empty until the hub commits the
    // cancellation, which must arrive on the open stream.
    let (status, cancelled) =
        hub.call("CancelRun", &json!({ "runId": run_id, "reason": "from the gateway test" })).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["run"]["status"], "RUN_STATUS_CANCELLED");
    let live = tokio::time::timeout(PATIENCE, async {
        loop {
            let event = events.next().await.expect("the stream stays open").expect("a well-formed event");
            if event.event == "trace" {
                return event;
            }
        }
    })
    .await
    .expect("the cancellation arrives live");
    let data: Value = serde_json::from_str(&live.data).unwrap();
    assert_eq!(data["type"], "run_cancelled");
    assert_eq!(data["runId"], run_id);
    assert_eq!(live.id, data["seq"].as_str().unwrap());
    drop(events);
    hub.stop().await;
}

#[tokio::test]
async fn the_console_page_and_every_asset_it_references_are_served() {
    let hub = Gateway::start().await;
    let page = hub.http.get(format!("{}/", hub.hub.http_base)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    // Relative (`assets/app.css`) or absolute (`/assets/app.css`) references, from `/`.
    let assets: Vec<&str> =
        html.split('"').filter_map(|part| part.trim_start_matches('/').strip_prefix("assets/")).collect();
    assert!(!assets.is_empty(), "the page loads its scripts and styles from assets/: {html}");
    for asset in assets {
        let response = hub.http.get(format!("{}/assets/{asset}", hub.hub.http_base)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{asset}");
    }
    hub.stop().await;
}
