//! `Trace` as server-sent events (<https://html.spec.whatwg.org/multipage/server-sent-events.html>):
//! `GET /api/v1/trace?agent_id=ID[&run_id=RID][&after_seq=N][&follow=true][&include_ephemeral=true][&access_token=T]`.
//!
//! A browser's `EventSource` cannot set headers, so the caller's bearer token may come as the
//! `access_token` query parameter (RFC 6750 §2.3); the authentication layer reads it, this
//! handler ignores it. The caller context the layer inserted (principal, audit context) goes
//! with the `Trace` call as it does over gRPC.
//!
//! Each persisted event is `id: <seq>`, `event: trace`, `data: <TraceEvent as canonical proto3
//! JSON>`; an ephemeral one (`token`, seq 0) has no `id`. A browser's `EventSource` reconnects
//! by itself after a broken connection and sends the last id it saw as `Last-Event-ID`, which
//! replaces `after_seq`: the stream resumes with neither a gap nor a duplicate. Without
//! `follow`, the replay ends with `event: end`; a failure after the stream started is
//! `event: rpc_error` with `{"code", "message"}` (Connect names), then the end. A refusal
//! before any event (unknown agent, bad id) is an HTTP error with the same JSON body. While
//! idle, a `: keep-alive` comment goes out every [`KEEP_ALIVE`].

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt, stream};
use serde::Deserialize;
use tonic::Code;

use agentry_proto::v1 as pb;
use agentry_proto::v1::agent_hub_server::AgentHub;

use super::connect::{connect_code, error_response};
use super::{Gateway, grpc_request};
use crate::audit::CallOutcome;
use crate::grpc::record_rpc;

/// Interval of the keep-alive comments of an idle stream (below common proxy idle timeouts).
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How soon a browser reconnects after the stream broke (the `retry:` field).
pub const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The query of `GET /api/v1/trace`: the fields of `TraceRequest`, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceQuery {
    /// The agent whose trace to send.
    pub agent_id: String,
    /// Only this run's events.
    pub run_id: String,
    /// Only events after this seq (replaced by a larger `Last-Event-ID`).
    pub after_seq: u64,
    /// Keep the stream open and send events as they are committed.
    pub follow: bool,
    /// Also send ephemeral events (`token`).
    pub include_ephemeral: bool,
    /// The caller's bearer token (RFC 6750 §2.3), read by the authentication layer; accepted
    /// so that a query carrying it is valid, and discarded here (never kept nor logged).
    pub access_token: Option<serde::de::IgnoredAny>,
}

/// Answers `GET /api/v1/trace`; the answer carries the opening's [`CallOutcome`] in its
/// extensions (for the layer's audit record).
pub async fn trace(
    State(gateway): State<Gateway>,
    extensions: Extensions,
    headers: HeaderMap,
    Query(query): Query<TraceQuery>,
) -> Response {
    let started = Instant::now();
    let resumed_after = last_event_id(&headers);
    let follow = query.follow;
    let message = pb::TraceRequest {
        agent_id: query.agent_id,
        run_id: query.run_id,
        after_seq: query.after_seq.max(resumed_after.unwrap_or(0)),
        include_ephemeral: query.include_ephemeral,
        follow,
    };
    let opened = gateway.api.trace(grpc_request(message, &headers, extensions)).await;
    let code = opened.as_ref().err().map_or(Code::Ok, tonic::Status::code);
    record_rpc(&gateway.metrics, "AgentHub/Trace", started, code);
    let (outcome, mut response) = match opened {
        Ok(response) => {
            let events = events(response.into_inner(), follow);
            let first = stream::once(async { Ok(Event::default().retry(RECONNECT_AFTER)) });
            let sse = Sse::new(first.chain(events)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
            (CallOutcome { code: Code::Ok, message: String::new() }, sse.into_response())
        }
        Err(status) => {
            let outcome = CallOutcome { code: status.code(), message: status.message().to_owned() };
            (outcome, error_response(status.code(), status.message()))
        }
    };
    response.extensions_mut().insert(outcome);
    response
}

/// Returns the seq of a reconnecting `EventSource`'s `Last-Event-ID`, if it sent a valid one.
fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers.get("last-event-id")?.to_str().ok()?.trim().parse().ok()
}

/// Maps the trace to SSE events: stops after the first error; without `follow`, ends with
/// `event: end`.
fn events<S>(trace: S, follow: bool) -> impl Stream<Item = Result<Event, Infallible>>
where
    S: Stream<Item = Result<pb::TraceResponse, tonic::Status>> + Send + 'static,
{
    let mapped = trace.scan(false, |failed, item| {
        if *failed {
            return futures::future::ready(None);
        }
        let event = match item {
            Ok(response) => trace_event(response.event.unwrap_or_default()),
            Err(status) => {
                *failed = true;
                rpc_error(&status)
            }
        };
        futures::future::ready(Some(Ok(event)))
    });
    let end = stream::iter((!follow).then(|| Ok(Event::default().event("end").data("{}"))));
    mapped.chain(end)
}

/// `event: trace` with the event's JSON, and its seq as the id when it is persisted.
fn trace_event(event: pb::TraceEvent) -> Event {
    let json = serde_json::to_string(&event).unwrap_or_else(|error| {
        tracing::error!(%error, "encoding a trace event as JSON");
        "{}".to_owned()
    });
    let sse = Event::default().event("trace").data(json);
    if event.seq == 0 { sse } else { sse.id(event.seq.to_string()) }
}

/// `event: rpc_error` with the status as a Connect error.
fn rpc_error(status: &tonic::Status) -> Event {
    let (name, _) = connect_code(status.code());
    Event::default()
        .event("rpc_error")
        .data(serde_json::json!({ "code": name, "message": status.message() }).to_string())
}
