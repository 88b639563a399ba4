//! A circuit breaker per model (the pattern of Nygard's "Release It!", as in Hystrix and
//! resilience4j): closed while calls succeed; open after `failures` consecutive failed calls,
//! refusing calls for `cooldown`; then half-open, letting one probe call through — its success
//! closes the breaker, its failure opens it for another `cooldown`.
//!
//! A plain state machine over explicit instants, so its rules are tested without waiting.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker of one model; shared by every run of the node.
#[derive(Debug)]
pub struct Breaker {
    failures: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Consecutive failed calls.
    consecutive: u32,
    /// While open: until when calls are refused.
    open_until: Option<Instant>,
    /// Whether the one probe of the half-open state is out.
    probing: bool,
}

impl Breaker {
    /// Returns a closed breaker that opens after `failures` (at least 1) consecutive failures.
    pub fn new(failures: u32, cooldown: Duration) -> Self {
        Self { failures: failures.max(1), cooldown, state: Mutex::default() }
    }

    /// Asks to make a call at `now`: `Ok` lets it through (as the probe when half-open), `Err`
    /// says how long until a probe will be let through.
    pub fn admit(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        match state.open_until {
            None => Ok(()),
            Some(until) if now < until => Err(until - now),
            Some(_) if state.probing => Err(self.cooldown),
            Some(_) => {
                state.probing = true;
                Ok(())
            }
        }
    }

    /// Records the outcome of an admitted call that ended at `now`.
    pub fn record(&self, succeeded: bool, now: Instant) {
        let mut state = self.lock();
        if succeeded {
            *state = State::default();
            return;
        }
        state.consecutive = state.consecutive.saturating_add(1);
        if state.probing || state.consecutive >= self.failures {
            if state.open_until.is_none_or(|until| now >= until) {
                tracing::warn!(consecutive = state.consecutive, cooldown = ?self.cooldown, "circuit breaker opened");
            }
            state.open_until = Some(now + self.cooldown);
            state.probing = false;
        }
    }

    /// Returns whether the breaker refuses calls at `now`.
    pub fn is_open(&self, now: Instant) -> bool {
        self.lock().open_until.is_some_and(|until| now < until)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is one assignment.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_a_success_resets_the_count() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        breaker.record(false, t0);
        breaker.record(false, t0);
        breaker.record(true, t0);
        breaker.record(false, t0);
        breaker.record(false, t0);
        assert_eq!(breaker.admit(t0), Ok(()), "two failures after a success do not open it");
        breaker.record(false, t0);
        assert_eq!(breaker.admit(t0 + Duration::from_secs(4)), Err(Duration::from_secs(6)));
        assert!(breaker.is_open(t0));
    }

    #[test]
    fn half_open_lets_one_probe_through_whose_outcome_decides() {
        let breaker = Breaker::new(1, Duration::from_secs(10));
        let t0 = Instant::now();
        breaker.record(false, t0);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(breaker.admit(later), Ok(()), "the probe");
        assert!(breaker.admit(later).is_err(), "only one probe at a time");
        breaker.record(false, later);
        assert!(breaker.is_open(later + Duration::from_secs(9)), "a failed probe opens it again");
        let again = later + Duration::from_secs(10);
        assert_eq!(breaker.admit(again), Ok(()));
        breaker.record(true, again);
        assert_eq!(breaker.admit(again), Ok(()), "a good probe closes it");
        assert_eq!(breaker.admit(again), Ok(()));
    }
}
