//! [`Client::follow_trace`](crate::Client::follow_trace): a trace stream that survives hub
//! restarts.
//!
//! A followed trace that breaks (the hub restarts or shuts down, the connection drops) is
//! reopened with `after_seq` = the last `seq` yielded, after a backoff, until
//! [`FollowOptions::give_up_after`] passes without progress. The hub replays from its store, so
//! nothing is skipped; persisted events at or below the last `seq` are dropped, so nothing is
//! yielded twice.
//!
//! Layout: [`TraceCursor`] (resume point, duplicates, end of the watched run) and [`Reconnect`]
//! (backoff and give-up window) are plain state machines, unit-tested here; [`Follower`] drives
//! them over the wire.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use futures::StreamExt;
use tokio::time::Instant;

use agentry_proto::v1::{TraceEvent, TraceRequest};

use crate::client::{Client, TraceStream};
use crate::error::ClientError;
use crate::event_kind::{RUN_PAUSED, ends_run};

/// How [`Client::follow_trace_with`](crate::Client::follow_trace_with) reconnects and when it
/// ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowOptions {
    /// How long a broken trace is retried without progress before the stream ends with
    /// [`ClientError::TraceInterrupted`]; zero disables reconnecting. Progress is an event
    /// received, or a reopened stream that stayed up for at least `backoff_max`.
    pub give_up_after: Duration,
    /// First delay before reopening a broken trace; doubles up to `backoff_max`.
    pub backoff_start: Duration,
    /// Longest delay between two attempts.
    pub backoff_max: Duration,
    /// With a `run_id`, end the stream after the run's `run_paused` instead of waiting, on the
    /// same stream, for it to be resumed (and then finish) or cancelled.
    pub end_on_pause: bool,
}

impl Default for FollowOptions {
    /// Gives up after 60 s without progress; backoff 200 ms doubling to 4 s; keeps following a
    /// paused run.
    fn default() -> Self {
        Self {
            give_up_after: Duration::from_secs(60),
            backoff_start: Duration::from_millis(200),
            backoff_max: Duration::from_secs(4),
            end_on_pause: false,
        }
    }
}

/// Returns the stream of [`Client::follow_trace_with`](crate::Client::follow_trace_with).
pub(crate) fn follow(client: Client, request: TraceRequest, options: FollowOptions) -> TraceStream {
    let follower = Follower {
        cursor: TraceCursor::new(&request, options.end_on_pause),
        reconnect: Reconnect::new(&options),
        client,
        request,
        open: None,
        finished: false,
    };
    futures::stream::unfold(follower, |mut follower| async move {
        let item = follower.next_item().await?;
        Some((item, follower))
    })
    .boxed()
}

/// The state of a followed trace between two items.
struct Follower {
    client: Client,
    request: TraceRequest,
    cursor: TraceCursor,
    reconnect: Reconnect,
    open: Option<OpenStream>,
    finished: bool,
}

/// A `Trace` call the hub accepted.
struct OpenStream {
    events: TraceStream,
    opened_at: Instant,
}

impl Follower {
    /// Returns the next event to yield, the error that ends the stream, or `None` at its end.
    async fn next_item(&mut self) -> Option<Result<TraceEvent, ClientError>> {
        loop {
            if self.finished {
                return None;
            }
            let Some(open) = self.open.as_mut() else {
                match self.client.open_trace(self.cursor.resume_request(&self.request)).await {
                    Ok(events) => self.open = Some(OpenStream { events, opened_at: Instant::now() }),
                    Err(error) => {
                        if let Some(fatal) = self.broke(error, None).await {
                            return Some(Err(fatal));
                        }
                    }
                }
                continue;
            };
            let next = open.events.next().await;
            let connected_for = open.opened_at.elapsed();
            match next {
                Some(Ok(event)) => match self.cursor.accept(&event) {
                    Seen::Duplicate => {}
                    Seen::New => {
                        self.reconnect.progressed();
                        return Some(Ok(event));
                    }
                    Seen::Last => {
                        self.finished = true;
                        return Some(Ok(event));
                    }
                },
                Some(Err(error)) => {
                    self.open = None;
                    if let Some(fatal) = self.broke(error, Some(connected_for)).await {
                        return Some(Err(fatal));
                    }
                }
                None if !self.request.follow => {
                    self.finished = true;
                    return None;
                }
                None => {
                    self.open = None;
                    // A hub may end a run's stream at `run_paused`; the run continues once
                    // resumed, so wait for that on a new stream.
                    if self.cursor.take_pause() {
                        continue;
                    }
                    let ended = ClientError::Status(tonic::Status::unavailable("the trace stream ended unexpectedly"));
                    if let Some(fatal) = self.broke(ended, Some(connected_for)).await {
                        return Some(Err(fatal));
                    }
                }
            }
        }
    }

    /// Handles a refused call or a broken stream: waits before the next attempt and returns
    /// `None`, or returns the error that ends the stream.
    async fn broke(&mut self, error: ClientError, connected_for: Option<Duration>) -> Option<ClientError> {
        if !self.request.follow || !is_disconnect(&error) {
            self.finished = true;
            return Some(error);
        }
        let last_seq = self.cursor.last_seq;
        match self.reconnect.broke(Instant::now(), connected_for) {
            Some(delay) => {
                tracing::warn!(%error, last_seq, retry_in = ?delay, "trace stream broke; reconnecting");
                tokio::time::sleep(delay).await;
                None
            }
            None => {
                self.finished = true;
                let gave_up_after = self.reconnect.give_up_after;
                Some(ClientError::TraceInterrupted { last_seq, gave_up_after, source: Box::new(error) })
            }
        }
    }
}

/// Returns whether `error` means the connection broke or the hub is going away (worth
/// reconnecting) rather than that the hub refused the request.
pub(crate) fn is_disconnect(error: &ClientError) -> bool {
    match error {
        ClientError::Unreachable { .. } => true,
        // A status made on this side from a transport error (reset stream, closed connection)
        // carries that error as its source; statuses sent by the hub have none.
        ClientError::Status(status) => {
            status.code() == tonic::Code::Unavailable || std::error::Error::source(status).is_some()
        }
        // Refusals (credentials, role, limits) and a failed TLS handshake do not heal by
        // reconnecting.
        ClientError::Tls { .. }
        | ClientError::Unauthenticated { .. }
        | ClientError::PermissionDenied { .. }
        | ClientError::ResourceExhausted { .. }
        | ClientError::InvalidUrl { .. }
        | ClientError::InvalidToken { .. }
        | ClientError::TraceInterrupted { .. } => false,
    }
}

/// What the cursor makes of a received event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Already yielded (a replay overlapping what was received): drop it.
    Duplicate,
    /// Yield it.
    New,
    /// Yield it and end the stream: it ends the watched run.
    Last,
}

/// Where a followed trace resumes, and whether the watched run has ended or paused.
#[derive(Debug, Clone)]
pub(crate) struct TraceCursor {
    /// The highest `seq` yielded (or the request's `after_seq`).
    last_seq: u64,
    /// The request's `run_id`, whose end ends the stream.
    watched_run: Option<String>,
    end_on_pause: bool,
    /// The last persisted event of the watched run was `run_paused`.
    paused: bool,
}

impl TraceCursor {
    pub(crate) fn new(request: &TraceRequest, end_on_pause: bool) -> Self {
        let watched_run = (!request.run_id.is_empty()).then(|| request.run_id.clone());
        Self { last_seq: request.after_seq, watched_run, end_on_pause, paused: false }
    }

    /// Returns `request` resuming after the last event yielded.
    pub(crate) fn resume_request(&self, request: &TraceRequest) -> TraceRequest {
        TraceRequest { after_seq: self.last_seq, ..request.clone() }
    }

    /// Records a received event and says whether to yield it.
    pub(crate) fn accept(&mut self, event: &TraceEvent) -> Seen {
        // Ephemeral events (seq 0) are never replayed, so they cannot repeat.
        if event.seq == 0 {
            return Seen::New;
        }
        if event.seq <= self.last_seq {
            return Seen::Duplicate;
        }
        self.last_seq = event.seq;
        if self.watched_run.as_deref() != Some(event.run_id.as_str()) {
            return Seen::New;
        }
        self.paused = event.r#type == RUN_PAUSED;
        if ends_run(&event.r#type) || (self.paused && self.end_on_pause) { Seen::Last } else { Seen::New }
    }

    /// Returns whether the watched run was paused at its last event, once: a second clean end
    /// of the stream without new events is then unexpected.
    pub(crate) fn take_pause(&mut self) -> bool {
        std::mem::take(&mut self.paused)
    }
}

/// Backoff between attempts to reopen a broken trace (backon's exponential backoff with
/// jitter), and when to give up (our window: the give-up clock restarts on progress).
#[derive(Debug)]
pub(crate) struct Reconnect {
    give_up_after: Duration,
    backoff: ExponentialBuilder,
    /// A reopened stream that stayed up this long counts as a recovery.
    recovered_after: Duration,
    /// When the current run of failures began; `None` after progress.
    failing_since: Option<Instant>,
    delays: ExponentialBackoff,
}

impl Reconnect {
    pub(crate) fn new(options: &FollowOptions) -> Self {
        let backoff_max = options.backoff_max.max(options.backoff_start);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(options.backoff_start)
            .with_max_delay(backoff_max)
            .with_jitter()
            .without_max_times();
        Self {
            give_up_after: options.give_up_after,
            delays: backoff.build(),
            backoff,
            recovered_after: backoff_max,
            failing_since: None,
        }
    }

    /// Records progress (an event received): the next break starts a new window and backoff.
    pub(crate) fn progressed(&mut self) {
        self.failing_since = None;
        self.delays = self.backoff.build();
    }

    /// Records a break at `now` of a stream that was up for `connected_for` (`None`: the call
    /// failed) and returns how long to wait before the next attempt, or `None` to give up. The
    /// last wait is cut to end with the window, so the last attempt is made at its end.
    pub(crate) fn broke(&mut self, now: Instant, connected_for: Option<Duration>) -> Option<Duration> {
        // A stream that stayed up a while was a recovery, even if no event came (an idle or
        // paused trace): this break is a new one. One that broke at once was not.
        if connected_for.is_some_and(|connected| connected >= self.recovered_after) {
            self.progressed();
        }
        let failing_since = *self.failing_since.get_or_insert(now);
        let failing_for = now.saturating_duration_since(failing_since);
        let remaining = self.give_up_after.checked_sub(failing_for).filter(|remaining| !remaining.is_zero())?;
        let delay = self.delays.next().unwrap_or(self.recovered_after);
        Some(delay.min(remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, kind: &str, run_id: &str) -> TraceEvent {
        TraceEvent { seq, r#type: kind.to_owned(), run_id: run_id.to_owned(), ..TraceEvent::default() }
    }

    fn run_request(run_id: &str, after_seq: u64) -> TraceRequest {
        TraceRequest { run_id: run_id.to_owned(), after_seq, follow: true, ..TraceRequest::default() }
    }

    #[test]
    fn replayed_events_are_dropped_and_the_resume_point_advances() {
        let request = run_request("r1", 2);
        let mut cursor = TraceCursor::new(&request, false);
        assert_eq!(cursor.accept(&event(2, "step_start", "r1")), Seen::Duplicate, "at after_seq");
        assert_eq!(cursor.accept(&event(3, "step_start", "r1")), Seen::New);
        assert_eq!(cursor.accept(&event(4, "model_start", "r1")), Seen::New);
        assert_eq!(cursor.resume_request(&request).after_seq, 4);
        // A hub replaying from an older point: only what was not yielded passes.
        assert_eq!(cursor.accept(&event(3, "step_start", "r1")), Seen::Duplicate);
        assert_eq!(cursor.accept(&event(4, "model_start", "r1")), Seen::Duplicate);
        assert_eq!(cursor.accept(&event(5, "usage", "r1")), Seen::New);
        let resumed = cursor.resume_request(&request);
        assert_eq!((resumed.after_seq, resumed.run_id.as_str(), resumed.follow), (5, "r1", true));
    }

    #[test]
    fn ephemeral_events_pass_without_moving_the_resume_point() {
        let mut cursor = TraceCursor::new(&run_request("r1", 0), false);
        assert_eq!(cursor.accept(&event(1, "run_started", "r1")), Seen::New);
        assert_eq!(cursor.accept(&event(0, "token", "r1")), Seen::New);
        assert_eq!(cursor.accept(&event(0, "token", "r1")), Seen::New);
        assert_eq!(cursor.last_seq, 1);
    }

    #[test]
    fn the_watched_run_ends_the_trace_when_it_finishes_fails_or_is_cancelled() {
        for kind in ["run_finished", "run_failed", "run_cancelled"] {
            let mut cursor = TraceCursor::new(&run_request("r1", 0), false);
            assert_eq!(cursor.accept(&event(1, kind, "r2")), Seen::New, "another run's {kind}");
            assert_eq!(cursor.accept(&event(2, kind, "r1")), Seen::Last, "{kind}");
        }
        let mut agent_trace =
            TraceCursor::new(&TraceRequest { agent_id: "a1".into(), ..TraceRequest::default() }, false);
        assert_eq!(agent_trace.accept(&event(1, "run_finished", "r1")), Seen::New, "an agent trace goes on");
    }

    #[test]
    fn a_paused_run_is_followed_until_it_ends_unless_asked_otherwise() {
        let mut cursor = TraceCursor::new(&run_request("r1", 0), false);
        assert_eq!(cursor.accept(&event(1, "run_paused", "r1")), Seen::New);
        assert!(cursor.take_pause(), "a clean end after run_paused is expected once");
        assert!(!cursor.take_pause());
        assert_eq!(cursor.accept(&event(2, "run_resumed", "r1")), Seen::New);
        assert!(!cursor.take_pause());
        assert_eq!(cursor.accept(&event(3, "run_finished", "r1")), Seen::Last);

        let mut ending = TraceCursor::new(&run_request("r1", 0), true);
        assert_eq!(ending.accept(&event(1, "run_paused", "r1")), Seen::Last);
    }

    fn options(give_up_ms: u64, start_ms: u64, max_ms: u64) -> FollowOptions {
        FollowOptions {
            give_up_after: Duration::from_millis(give_up_ms),
            backoff_start: Duration::from_millis(start_ms),
            backoff_max: Duration::from_millis(max_ms),
            end_on_pause: false,
        }
    }

    /// Returns whether `delay` is `base` plus at most one more `base` of jitter.
    fn jittered(delay: Option<Duration>, base_ms: u64) -> bool {
        delay.is_some_and(|delay| (base_ms..=2 * base_ms).contains(&(delay.as_millis() as u64)))
    }

    #[test]
    fn backoff_doubles_and_the_last_wait_ends_with_the_window() {
        let mut reconnect = Reconnect::new(&options(1_000, 100, 400));
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert!(jittered(reconnect.broke(at(0), None), 100));
        assert!(jittered(reconnect.broke(at(200), None), 200));
        assert_eq!(reconnect.broke(at(900), None), Some(Duration::from_millis(100)), "cut to the window");
        assert_eq!(reconnect.broke(at(1_000), None), None, "gave up");
    }

    #[test]
    fn progress_restarts_the_window_and_the_backoff() {
        let mut reconnect = Reconnect::new(&options(1_000, 100, 400));
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        reconnect.broke(at(0), None);
        reconnect.broke(at(100), None);
        reconnect.progressed();
        assert!(jittered(reconnect.broke(at(5_000), None), 100));
        assert!(reconnect.broke(at(5_900), None).is_some(), "the window restarted at 5 s");
    }

    #[test]
    fn only_a_stream_that_stayed_up_counts_as_recovery() {
        let mut reconnect = Reconnect::new(&options(1_000, 100, 400));
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        reconnect.broke(at(0), None);
        // Accepted, then broken at once (e.g. a hub shutting down): still failing since 0.
        assert!(reconnect.broke(at(600), Some(Duration::from_millis(10))).is_some());
        assert_eq!(reconnect.broke(at(1_000), Some(Duration::from_millis(10))), None);

        let mut reconnect = Reconnect::new(&options(1_000, 100, 400));
        reconnect.broke(at(0), None);
        // Up for an hour without events (a paused run), then the hub restarted: a new break.
        assert!(jittered(reconnect.broke(at(3_600_000), Some(Duration::from_secs(3_600))), 100));
    }

    #[test]
    fn a_zero_window_never_reconnects() {
        let mut reconnect = Reconnect::new(&options(0, 100, 400));
        assert_eq!(reconnect.broke(Instant::now(), None), None);
    }

    #[test]
    fn refusals_are_not_disconnects() {
        assert!(!is_disconnect(&ClientError::Status(tonic::Status::not_found("agent x not found"))));
        assert!(!is_disconnect(&ClientError::Status(tonic::Status::failed_precondition("run ended"))));
        assert!(is_disconnect(&ClientError::Status(tonic::Status::unavailable("hub shutting down"))));
        let unreachable = ClientError::Unreachable { url: "u".to_owned(), reason: "connection refused".to_owned() };
        assert!(is_disconnect(&unreachable));
        let reset = tonic::Status::from_error(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
        assert!(is_disconnect(&ClientError::Status(reset)), "a transport error made into a status");
    }
}
