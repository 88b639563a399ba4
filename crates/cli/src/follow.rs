//! Printing a trace, resuming after a broken connection without gaps or repeats.
//!
//! While following, a stream that breaks (hub restarting, network blip) is reopened with
//! `after_seq` = the last `seq` printed, with backoff, for up to [`RECONNECT_WINDOW`]; the hub
//! replays from the store, so nothing is missed or printed twice.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use agentry_sdk::proto::{TraceEvent, TraceRequest};
use agentry_sdk::{Client, ClientError, TraceStream};

use crate::output::{EventFormat, event_line, print_line};

/// How long a broken trace stream is retried before giving up.
const RECONNECT_WINDOW: Duration = Duration::from_secs(30);
/// First delay before reconnecting; doubles up to [`BACKOFF_MAX`].
const BACKOFF_START: Duration = Duration::from_millis(200);
/// Longest delay between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(4);

/// How a printed trace ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEnd {
    /// The backlog was printed (not following).
    Done,
    /// The watched run completed.
    RunFinished,
    /// The watched run failed, with the reason.
    RunFailed(String),
}

/// Prints the events of `request` in `format` to stdout. With `watch_run`, returns once that
/// run's `run_finished` or `run_failed` was printed; otherwise, when following, runs until the
/// caller drops it.
pub async fn print_trace(
    client: &Client,
    request: TraceRequest,
    format: EventFormat,
    watch_run: Option<&str>,
) -> anyhow::Result<TraceEnd> {
    let mut last_seq = request.after_seq;
    let mut disconnected_since: Option<Instant> = None;
    let mut backoff = BACKOFF_START;
    loop {
        let resumed = TraceRequest { after_seq: last_seq, ..request.clone() };
        let broken = match client.open_trace(resumed).await {
            Ok(mut events) => {
                // The hub accepted the call: the connection is back.
                disconnected_since = None;
                backoff = BACKOFF_START;
                match next_break(&mut events, &request, &mut last_seq, format, watch_run).await? {
                    Break::Ended(end) => return Ok(end),
                    Break::Broken(error) => error,
                }
            }
            Err(error) if request.follow && is_disconnect(&error) => error,
            Err(error) => return Err(error.into()),
        };
        let since = *disconnected_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= RECONNECT_WINDOW {
            return Err(anyhow::Error::new(broken).context(format!(
                "trace interrupted after seq {last_seq}; gave up reconnecting after {}s",
                RECONNECT_WINDOW.as_secs()
            )));
        }
        tracing::warn!(error = %broken, last_seq, retry_in = ?backoff, "trace stream broke; reconnecting");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Why reading one opened stream stopped.
enum Break {
    /// The trace ended as it should.
    Ended(TraceEnd),
    /// The connection broke while following.
    Broken(ClientError),
}

/// Prints events from `events` until the trace ends or the stream breaks while following.
async fn next_break(
    events: &mut TraceStream,
    request: &TraceRequest,
    last_seq: &mut u64,
    format: EventFormat,
    watch_run: Option<&str>,
) -> anyhow::Result<Break> {
    loop {
        match events.next().await {
            Some(Ok(event)) => {
                // Ephemeral events (seq 0) are printed as they come; persisted ones once.
                if event.seq != 0 && event.seq <= *last_seq {
                    continue;
                }
                *last_seq = (*last_seq).max(event.seq);
                print_line(&event_line(&event, format))?;
                if let Some(end) = run_end(&event, watch_run) {
                    return Ok(Break::Ended(end));
                }
            }
            Some(Err(error)) if request.follow && is_disconnect(&error) => return Ok(Break::Broken(error)),
            Some(Err(error)) => return Err(error.into()),
            None if !request.follow => return Ok(Break::Ended(TraceEnd::Done)),
            // A followed stream only ends when the hub goes away (or after the watched run's
            // end, handled above).
            None => {
                let ended = tonic::Status::unavailable("the trace stream ended unexpectedly");
                return Ok(Break::Broken(ClientError::Status(ended)));
            }
        }
    }
}

/// Returns how the watched run ended when `event` ends it.
fn run_end(event: &TraceEvent, watch_run: Option<&str>) -> Option<TraceEnd> {
    if watch_run != Some(event.run_id.as_str()) {
        return None;
    }
    match event.r#type.as_str() {
        "run_finished" => Some(TraceEnd::RunFinished),
        "run_failed" => {
            let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
            let reason = data.get("error").and_then(|error| error.as_str()).unwrap_or("no reason given");
            Some(TraceEnd::RunFailed(reason.to_owned()))
        }
        _ => None,
    }
}

/// Returns whether `error` means the connection broke (worth reconnecting) rather than that the
/// hub refused the request.
fn is_disconnect(error: &ClientError) -> bool {
    match error {
        ClientError::Unreachable { .. } => true,
        // A status made on this side from a transport error (reset stream, closed connection)
        // carries that error as its source; statuses sent by the hub have none.
        ClientError::Status(status) => {
            status.code() == tonic::Code::Unavailable || std::error::Error::source(status).is_some()
        }
        ClientError::InvalidUrl { .. } => false,
    }
}

/// Prints a watched run's trace and turns its end into the command's result: `Ok` only when
/// the run completed.
pub async fn follow_run(client: &Client, agent_id: &str, run_id: &str, format: EventFormat) -> anyhow::Result<()> {
    let request = TraceRequest {
        agent_id: agent_id.to_owned(),
        run_id: run_id.to_owned(),
        follow: true,
        ..TraceRequest::default()
    };
    match print_trace(client, request, format, Some(run_id)).await? {
        TraceEnd::RunFinished => Ok(()),
        TraceEnd::RunFailed(reason) => anyhow::bail!("run {run_id} failed: {reason}"),
        TraceEnd::Done => anyhow::bail!("the trace of run {run_id} ended before the run did"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, run_id: &str, data: &str) -> TraceEvent {
        TraceEvent {
            r#type: kind.to_owned(),
            run_id: run_id.to_owned(),
            data: data.to_owned(),
            ..TraceEvent::default()
        }
    }

    #[test]
    fn only_the_watched_run_ends_the_trace() {
        assert_eq!(run_end(&event("run_finished", "r1", "{}"), Some("r1")), Some(TraceEnd::RunFinished));
        assert_eq!(run_end(&event("run_finished", "r2", "{}"), Some("r1")), None);
        assert_eq!(run_end(&event("run_finished", "r1", "{}"), None), None);
        let failed = event("run_failed", "r1", r#"{"error":"model: timeout"}"#);
        assert_eq!(run_end(&failed, Some("r1")), Some(TraceEnd::RunFailed("model: timeout".to_owned())));
    }

    #[test]
    fn hub_refusals_are_not_disconnects() {
        assert!(!is_disconnect(&ClientError::Status(tonic::Status::not_found("agent x not found"))));
        assert!(is_disconnect(&ClientError::Status(tonic::Status::unavailable("hub shutting down"))));
        let unreachable = ClientError::Unreachable { url: "u".to_owned(), reason: "connection refused".to_owned() };
        assert!(is_disconnect(&unreachable));
    }
}
