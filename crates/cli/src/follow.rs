//! Printing a trace and telling how the watched run ended.
//!
//! The stream comes from [`Client::follow_trace`]: while following, it survives hub restarts
//! (reopened after the last `seq` printed, with backoff, for up to 60 s without progress), so
//! nothing is missed or printed twice. A paused run is followed on: its `run_paused` line is
//! printed and the command waits for it to be resumed (and end) or cancelled.

use futures::StreamExt;

use agentry_sdk::Client;
use agentry_sdk::event_kind::{RUN_CANCELLED, RUN_FAILED, RUN_FINISHED, TOKEN};
use agentry_sdk::proto::{TraceEvent, TraceRequest};

use crate::output::{EventFormat, event_line, print_inline, print_line};

/// How a printed trace ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEnd {
    /// The backlog was printed (not following), without the run's end.
    Done,
    /// The watched run completed.
    RunFinished,
    /// The watched run failed, with the reason.
    RunFailed(String),
    /// The watched run was cancelled, with the reason.
    RunCancelled(String),
}

/// Prints the events of `request` in `format` to stdout. With a `run_id`, returns once that
/// run's end was printed; otherwise, when following, runs until the caller drops it.
pub async fn print_trace(client: &Client, request: TraceRequest, format: EventFormat) -> anyhow::Result<TraceEnd> {
    let watched_run = request.run_id.clone();
    let mut events = client.follow_trace(request);
    // Whether streamed text was printed without its line's end yet.
    let mut mid_line = false;
    while let Some(event) = events.next().await {
        let event = event?;
        if event.r#type == TOKEN && format == EventFormat::Human {
            let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
            print_inline(data["text"].as_str().unwrap_or_default())?;
            mid_line = true;
            continue;
        }
        if std::mem::take(&mut mid_line) {
            print_line("")?;
        }
        print_line(&event_line(&event, format))?;
        if let Some(end) = run_end(&event, &watched_run) {
            return Ok(end);
        }
    }
    Ok(TraceEnd::Done)
}

/// Returns how the watched run ended when `event` ends it.
pub(crate) fn run_end(event: &TraceEvent, watched_run: &str) -> Option<TraceEnd> {
    if watched_run.is_empty() || event.run_id != watched_run {
        return None;
    }
    let data_field = |key: &str| {
        let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
        let text = data.get(key).and_then(|value| value.as_str()).unwrap_or_default();
        if text.is_empty() { "no reason given".to_owned() } else { text.to_owned() }
    };
    match event.r#type.as_str() {
        RUN_FINISHED => Some(TraceEnd::RunFinished),
        RUN_FAILED => Some(TraceEnd::RunFailed(data_field("error"))),
        RUN_CANCELLED => Some(TraceEnd::RunCancelled(data_field("reason"))),
        _ => None,
    }
}

/// Prints a watched run's trace and turns its end into the command's result: `Ok` only when
/// the run completed.
pub async fn follow_run(client: &Client, agent_id: &str, run_id: &str, format: EventFormat) -> anyhow::Result<()> {
    let request = TraceRequest {
        agent_id: agent_id.to_owned(),
        run_id: run_id.to_owned(),
        follow: true,
        include_ephemeral: true,
        ..TraceRequest::default()
    };
    match print_trace(client, request, format).await? {
        TraceEnd::RunFinished => Ok(()),
        TraceEnd::RunFailed(reason) => anyhow::bail!("run {run_id} failed: {reason}"),
        TraceEnd::RunCancelled(reason) => anyhow::bail!("run {run_id} cancelled: {reason}"),
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
        assert_eq!(run_end(&event("run_finished", "r1", "{}"), "r1"), Some(TraceEnd::RunFinished));
        assert_eq!(run_end(&event("run_finished", "r2", "{}"), "r1"), None);
        assert_eq!(run_end(&event("run_finished", "r1", "{}"), ""), None);
        assert_eq!(run_end(&event("run_paused", "r1", r#"{"reason":"later"}"#), "r1"), None);
        let failed = event("run_failed", "r1", r#"{"error":"model: timeout"}"#);
        assert_eq!(run_end(&failed, "r1"), Some(TraceEnd::RunFailed("model: timeout".to_owned())));
        let cancelled = event("run_cancelled", "r1", r#"{"reason":"too slow"}"#);
        assert_eq!(run_end(&cancelled, "r1"), Some(TraceEnd::RunCancelled("too slow".to_owned())));
        let silent = event("run_cancelled", "r1", r#"{"reason":""}"#);
        assert_eq!(run_end(&silent, "r1"), Some(TraceEnd::RunCancelled("no reason given".to_owned())));
    }
}
