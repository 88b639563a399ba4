//! Waiting until a condition holds, for tests and harnesses that watch other tasks or processes.
//!
//! A *probe* looks once and reports what it saw as an [`Observed`]: the awaited value, "not yet"
//! with a description of the state it saw, or a failure that makes further waiting pointless.
//! [`eventually`] calls the probe every [`POLL_INTERVAL`] (or every `interval` with
//! [`eventually_every`]) until it yields a value or `timeout` passes; the timeout error names
//! what was awaited and quotes the last state seen:
//!
//! ```text
//! timed out after 30s (61 probes) waiting for node-a to be ready; last seen: [{"state":"joining"}]
//! ```
//!
//! [`eventually_blocking`] is the same for synchronous probes (harnesses that block a thread).
//! The async variants measure time with [`tokio::time::Instant`], so they follow paused time.

use std::future::Future;
use std::time::Duration;

/// Default time between two probes of [`eventually`]: 50 ms.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What one probe saw.
#[derive(Debug)]
pub enum Observed<T> {
    /// The condition holds; the wait returns this value.
    Ready(T),
    /// Not yet; the text describes the state seen and is quoted if the wait times out.
    NotYet(String),
    /// The condition can no longer hold (e.g. the process exited, the run failed); the wait
    /// returns this error at once, without waiting for the timeout.
    Failed(anyhow::Error),
}

impl<T> Observed<T> {
    /// Returns `Ready(value)` for `Some(value)`, else `NotYet(state())`.
    pub fn from_option(value: Option<T>, state: impl FnOnce() -> String) -> Self {
        match value {
            Some(value) => Self::Ready(value),
            None => Self::NotYet(state()),
        }
    }

    /// Returns what `result` observed, or `Failed(error)`: for probes that use `?`.
    pub fn from_result(result: anyhow::Result<Self>) -> Self {
        result.unwrap_or_else(Self::Failed)
    }
}

/// Calls `probe` every [`POLL_INTERVAL`] until it yields a value, for up to `timeout`.
///
/// `what` completes "waiting for …" in the error message. See [`eventually_every`].
pub async fn eventually<T, Probe, Look>(what: &str, timeout: Duration, probe: Probe) -> anyhow::Result<T>
where
    Probe: FnMut() -> Look,
    Look: Future<Output = Observed<T>>,
{
    eventually_every(what, timeout, POLL_INTERVAL, probe).await
}

/// Calls `probe` at once, then every `interval` until it yields a value, for up to `timeout`.
///
/// The last probe runs at the deadline; a probe still running at the deadline is dropped.
///
/// Errors when a probe reports [`Observed::Failed`] (that error, with `what` as context), or
/// when `timeout` passes, naming `what`, the number of probes and the last state seen.
pub async fn eventually_every<T, Probe, Look>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut probe: Probe,
) -> anyhow::Result<T>
where
    Probe: FnMut() -> Look,
    Look: Future<Output = Observed<T>>,
{
    use tokio::time::Instant;
    let deadline = Instant::now() + timeout;
    let mut last_seen = Waited::default();
    loop {
        let Ok(observed) = tokio::time::timeout_at(deadline, probe()).await else {
            last_seen.state.push_str(" (then a probe was still running at the deadline)");
            return Err(last_seen.timed_out(what, timeout));
        };
        if let Some(result) = last_seen.record(observed, what) {
            return result;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(last_seen.timed_out(what, timeout));
        }
        tokio::time::sleep_until(deadline.min(now + interval)).await;
    }
}

/// Calls the blocking `probe` at once, then every `interval` (sleeping the thread) until it
/// yields a value, for up to `timeout`.
///
/// Errors as [`eventually_every`]; a probe that blocks is not interrupted.
pub fn eventually_blocking<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> Observed<T>,
) -> anyhow::Result<T> {
    use std::time::Instant;
    let deadline = Instant::now() + timeout;
    let mut last_seen = Waited::default();
    loop {
        if let Some(result) = last_seen.record(probe(), what) {
            return result;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(last_seen.timed_out(what, timeout));
        }
        std::thread::sleep(deadline.min(now + interval) - now);
    }
}

/// The probes made so far and the last state seen.
#[derive(Default)]
struct Waited {
    probes: usize,
    state: String,
}

impl Waited {
    /// Counts a probe; returns the wait's result when it is `Ready` or `Failed`.
    fn record<T>(&mut self, observed: Observed<T>, what: &str) -> Option<anyhow::Result<T>> {
        self.probes += 1;
        match observed {
            Observed::Ready(value) => Some(Ok(value)),
            Observed::Failed(error) => Some(Err(error.context(format!("gave up waiting for {what}")))),
            Observed::NotYet(state) => {
                self.state = state;
                None
            }
        }
    }

    fn timed_out(&self, what: &str, timeout: Duration) -> anyhow::Error {
        let state = if self.probes == 0 { "nothing (no probe finished)" } else { &self.state };
        anyhow::anyhow!("timed out after {timeout:?} ({} probes) waiting for {what}; last seen: {state}", self.probes)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::time::Instant;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_the_value_once_the_probe_yields_it() {
        let probes = AtomicUsize::new(0);
        let started = Instant::now();
        let value = eventually("the third probe", Duration::from_secs(1), || async {
            let probe = probes.fetch_add(1, Ordering::SeqCst) + 1;
            if probe == 3 { Observed::Ready(probe) } else { Observed::NotYet(format!("probe {probe}")) }
        })
        .await
        .expect("ready before the timeout");
        assert_eq!(value, 3);
        assert_eq!(started.elapsed(), 2 * POLL_INTERVAL, "one interval between probes");
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_naming_what_and_the_last_state_seen() {
        let probes = AtomicUsize::new(0);
        let started = Instant::now();
        let error = eventually_every("the moon", Duration::from_millis(250), Duration::from_millis(100), || async {
            Observed::<()>::NotYet(format!("probe {}", probes.fetch_add(1, Ordering::SeqCst) + 1))
        })
        .await
        .expect_err("never ready");
        assert_eq!(started.elapsed(), Duration::from_millis(250), "the last probe runs at the deadline");
        assert_eq!(probes.load(Ordering::SeqCst), 4, "at 0, 100, 200 and 250 ms");
        assert_eq!(error.to_string(), "timed out after 250ms (4 probes) waiting for the moon; last seen: probe 4");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_ends_the_wait_at_once() {
        let started = Instant::now();
        let error = eventually("a run to complete", Duration::from_secs(10), || async {
            Observed::<()>::Failed(anyhow::anyhow!("the run failed"))
        })
        .await
        .expect_err("failed");
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(format!("{error:#}"), "gave up waiting for a run to complete: the run failed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_probe_is_dropped_at_the_deadline() {
        let probes = AtomicUsize::new(0);
        let started = Instant::now();
        let error = eventually("an answer", Duration::from_secs(1), || async {
            if probes.fetch_add(1, Ordering::SeqCst) == 0 {
                Observed::<()>::NotYet("no answer".to_owned())
            } else {
                std::future::pending().await
            }
        })
        .await
        .expect_err("the second probe hangs");
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        assert!(error.to_string().ends_with("last seen: no answer (then a probe was still running at the deadline)"));
    }

    #[test]
    fn from_option_describes_the_missing_value() {
        assert!(matches!(Observed::from_option(Some(1), || unreachable!()), Observed::Ready(1)));
        let missing = Observed::<u8>::from_option(None, || "empty".to_owned());
        assert!(matches!(missing, Observed::NotYet(state) if state == "empty"));
    }

    #[test]
    fn from_result_turns_an_error_into_a_failure() {
        assert!(matches!(Observed::from_result(Ok(Observed::Ready(1))), Observed::Ready(1)));
        let failed = Observed::<u8>::from_result(Err(anyhow::anyhow!("gone")));
        assert!(matches!(failed, Observed::Failed(error) if error.to_string() == "gone"));
    }

    #[test]
    fn the_blocking_variant_polls_until_ready_or_timeout() {
        let mut probes = 0;
        let ready = eventually_blocking("the second probe", Duration::from_secs(5), Duration::from_millis(1), || {
            probes += 1;
            if probes == 2 { Observed::Ready(probes) } else { Observed::NotYet("first".to_owned()) }
        });
        assert_eq!(ready.expect("ready"), 2);
        let error = eventually_blocking("nothing", Duration::from_millis(5), Duration::from_millis(1), || {
            Observed::<()>::NotYet("still nothing".to_owned())
        })
        .expect_err("never ready");
        assert!(error.to_string().contains("waiting for nothing; last seen: still nothing"), "{error}");
    }
}
