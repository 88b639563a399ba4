//! agentry-supervisor: every background task of the hub and the node runs under a
//! [`Supervisor`], with a name and a [`Policy`] that says what happens when it panics or ends
//! while it was meant to run on — it is never a silent stop:
//! - [`Policy::Restart`]: the failure is logged with the task's name and counted, and the task
//!   is started again after an exponential backoff with jitter (100 ms doubling to 10 s; reset
//!   after a run that lasted longer than that). For tasks whose state lives elsewhere (the
//!   store, the broker), such as the hub's placer, reaper and hint relay.
//! - [`Policy::Fatal`]: the failure is logged and [`Supervisor::failed`] is cancelled, which the
//!   process's `run` turns into an error exit, so a process manager (systemd, Kubernetes)
//!   restarts it. For tasks without which the process must not go on, such as a node's
//!   heartbeat (without it the node's leases silently expire).
//!
//! A task ends normally only when its stop token is cancelled (or the supervisor shuts down).
//! The model follows restate's `TaskCenter` task kinds and Erlang/OTP supervisors' restart
//! intensity, reduced to what this project needs.

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// First restart delay; doubles per consecutive failure.
const RESTART_MIN_DELAY: Duration = Duration::from_millis(100);
/// Largest restart delay; a run longer than this resets the backoff.
const RESTART_MAX_DELAY: Duration = Duration::from_secs(10);

/// What happens when a task panics or ends before it was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Log, count, and start the task again after a backoff.
    Restart,
    /// Log and cancel [`Supervisor::failed`]: the process must stop with an error.
    Fatal,
}

/// How a supervised task failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// The task's name.
    pub task: &'static str,
    /// The panic message, or `ended unexpectedly`.
    pub reason: String,
    /// The policy applied.
    pub policy: Policy,
}

/// Runs named background tasks under policies. Cheap to clone; clones share the tasks.
#[derive(Clone)]
pub struct Supervisor {
    tracker: TaskTracker,
    failed: CancellationToken,
    failures: Arc<watch::Sender<Vec<TaskFailure>>>,
    restarts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    /// Returns a supervisor with no task.
    pub fn new() -> Self {
        Self {
            tracker: TaskTracker::new(),
            failed: CancellationToken::new(),
            failures: Arc::new(watch::channel(Vec::new()).0),
            restarts: Arc::default(),
        }
    }

    /// Starts `task` as the background task `name` under `policy`. `task` is called with `stop`
    /// (again after each restart) and must return once `stop` is cancelled; returning earlier,
    /// or panicking, is a failure handled by `policy`.
    pub fn spawn<F, Fut>(&self, name: &'static str, policy: Policy, stop: CancellationToken, mut task: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let supervisor = self.clone();
        self.tracker.spawn(async move {
            let mut backoff = restart_backoff();
            loop {
                let started = tokio::time::Instant::now();
                let outcome = tokio::spawn(task(stop.clone())).await;
                if stop.is_cancelled() && outcome.is_ok() {
                    return;
                }
                let reason = match outcome {
                    Ok(()) => "ended unexpectedly".to_owned(),
                    Err(error) if error.is_panic() => format!("panicked: {}", panic_message(error.into_panic())),
                    Err(error) => format!("was aborted: {error}"),
                };
                supervisor.report(TaskFailure { task: name, reason, policy });
                if policy == Policy::Fatal {
                    supervisor.failed.cancel();
                    return;
                }
                if started.elapsed() > RESTART_MAX_DELAY {
                    backoff = restart_backoff();
                }
                let delay = backoff.next().unwrap_or(RESTART_MAX_DELAY);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                *supervisor.lock_restarts().entry(name).or_default() += 1;
                tracing::info!(task = name, ?delay, "restarting task");
            }
        });
    }

    /// Returns a token cancelled when a [`Policy::Fatal`] task failed.
    pub fn failed(&self) -> CancellationToken {
        self.failed.clone()
    }

    /// Returns the first failure of a [`Policy::Fatal`] task, if one failed.
    pub fn fatal_failure(&self) -> Option<TaskFailure> {
        self.failures.borrow().iter().find(|failure| failure.policy == Policy::Fatal).cloned()
    }

    /// Returns a receiver of every failure so far, updated on each new one (for tests and
    /// health reporting: `receiver.wait_for(|failures| ...)` waits without polling).
    pub fn failures(&self) -> watch::Receiver<Vec<TaskFailure>> {
        self.failures.subscribe()
    }

    /// Returns how many times the task `name` was restarted.
    pub fn restarts(&self, name: &str) -> u64 {
        self.lock_restarts().get(name).copied().unwrap_or(0)
    }

    /// Waits until every task has returned; their stop tokens must have been cancelled.
    pub async fn join(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    fn report(&self, failure: TaskFailure) {
        match failure.policy {
            Policy::Restart => {
                tracing::error!(task = failure.task, reason = %failure.reason, "background task failed; restarting it")
            }
            Policy::Fatal => {
                tracing::error!(task = failure.task, reason = %failure.reason, "background task failed; stopping")
            }
        }
        self.failures.send_modify(|failures| failures.push(failure));
    }

    fn lock_restarts(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, u64>> {
        self.restarts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn restart_backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(RESTART_MIN_DELAY)
        .with_max_delay(RESTART_MAX_DELAY)
        .with_jitter()
        .without_max_times()
        .build()
}

/// Returns the text of a panic payload (`&str` or `String`), or a placeholder.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => {
            payload.downcast::<&str>().map_or_else(|_| "non-text panic".to_owned(), |text| (*text).to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_panicking_restartable_task_is_reported_and_restarted() {
        let supervisor = Supervisor::new();
        let stop = CancellationToken::new();
        let starts = Arc::new(AtomicU32::new(0));
        let restarted = Arc::new(tokio::sync::Notify::new());
        let (counted, signal) = (starts.clone(), restarted.clone());
        supervisor.spawn("placer", Policy::Restart, stop.clone(), move |stop| {
            let start = counted.fetch_add(1, Ordering::SeqCst);
            let signal = signal.clone();
            async move {
                if start == 0 {
                    panic!("injected");
                }
                signal.notify_one();
                stop.cancelled().await;
            }
        });
        let mut failures = supervisor.failures();
        let failures = failures.wait_for(|failures| !failures.is_empty()).await.expect("failures").clone();
        assert_eq!(
            failures,
            vec![TaskFailure { task: "placer", reason: "panicked: injected".into(), policy: Policy::Restart }]
        );
        // Paused time auto-advances through the restart backoff.
        restarted.notified().await;
        assert_eq!(supervisor.restarts("placer"), 1);
        assert!(!supervisor.failed().is_cancelled(), "a restartable task does not stop the process");
        stop.cancel();
        supervisor.join().await;
        assert_eq!(starts.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_fatal_task_that_ends_early_fails_the_supervisor() {
        let supervisor = Supervisor::new();
        supervisor.spawn("heartbeat", Policy::Fatal, CancellationToken::new(), |_stop| async {});
        supervisor.failed().cancelled().await;
        let failure = supervisor.fatal_failure().expect("a fatal failure");
        assert_eq!((failure.task, failure.reason.as_str()), ("heartbeat", "ended unexpectedly"));
        supervisor.join().await;
    }

    #[tokio::test]
    async fn a_task_told_to_stop_is_no_failure() {
        let supervisor = Supervisor::new();
        let stop = CancellationToken::new();
        supervisor.spawn("relay", Policy::Fatal, stop.clone(), |stop| async move { stop.cancelled().await });
        stop.cancel();
        supervisor.join().await;
        assert!(supervisor.failures().borrow().is_empty());
        assert!(!supervisor.failed().is_cancelled());
    }
}
