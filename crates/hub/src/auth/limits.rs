//! Per-token limits: [`RateLimiter`] (calls per second, GCRA via `governor`, keyed by actor
//! over a sharded map so concurrent callers do not contend on one lock) and [`StreamLimiter`]
//! (trace streams open at once).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use governor::{DefaultKeyedRateLimiter, Quota};
use tonic::Status;

use super::principal::Principal;

/// Calls per second each actor may make (`rate-limit`, bursts of `rate-limit-burst`). Cheap
/// to clone (shared state).
#[derive(Clone)]
pub struct RateLimiter {
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    rate: u32,
}

impl RateLimiter {
    /// Returns a limiter of `rate` calls per second with bursts of `burst` (at least 1);
    /// `rate` 0: unlimited.
    pub fn new(rate: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(rate).map(|per_second| {
            let burst = NonZeroU32::new(burst).unwrap_or(per_second);
            Arc::new(governor::RateLimiter::dashmap(Quota::per_second(per_second).allow_burst(burst)))
        });
        Self { limiter, rate }
    }

    /// Returns a limiter that admits everything.
    pub fn unlimited() -> Self {
        Self { limiter: None, rate: 0 }
    }

    /// Takes one call of `principal`'s allowance.
    ///
    /// Errors: RESOURCE_EXHAUSTED naming the limit when the allowance is spent.
    pub fn check(&self, principal: &Principal) -> Result<(), Status> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        limiter.check_key(&principal.actor).map_err(|_| {
            Status::resource_exhausted(format!(
                "rate limit of {} calls/s per token exceeded (hub.rate-limit); slow down and retry",
                self.rate
            ))
        })
    }

    /// Forgets actors whose allowance is full again (bounds the memory of many one-off
    /// callers; called periodically).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Trace streams each actor may hold open at once (`max-trace-streams`). Cheap to clone;
/// the lock is taken when a stream opens or closes, never per event.
#[derive(Clone)]
pub struct StreamLimiter {
    max: u32,
    open: OpenStreams,
}

/// Open streams by actor.
type OpenStreams = Arc<Mutex<HashMap<String, u32>>>;

impl StreamLimiter {
    /// Returns a limiter of `max` streams per actor; 0: unlimited.
    pub fn new(max: u32) -> Self {
        Self { max, open: Arc::default() }
    }

    /// Returns a limiter that admits every stream.
    pub fn unlimited() -> Self {
        Self::new(0)
    }

    /// Opens a stream of `principal`: hold the permit as long as the stream lives (see
    /// [`StreamPermit::attach`]).
    ///
    /// Errors: RESOURCE_EXHAUSTED naming the limit when the actor holds `max` streams.
    pub fn acquire(&self, principal: &Principal) -> Result<OwnedPermit, Status> {
        if self.max == 0 {
            return Ok(StreamPermit { held: None });
        }
        let mut open = self.open.lock().map_err(|_| Status::internal("the trace stream limiter is poisoned"))?;
        let count = open.entry(principal.actor.clone()).or_insert(0);
        if *count >= self.max {
            return Err(Status::resource_exhausted(format!(
                "{} trace streams open for this token (hub.max-trace-streams); close one first",
                self.max
            )));
        }
        *count += 1;
        Ok(StreamPermit { held: Some((Arc::clone(&self.open), principal.actor.clone())) })
    }

    /// Returns how many streams `actor` holds open.
    pub fn open(&self, actor: &str) -> u32 {
        self.open.lock().map(|open| open.get(actor).copied().unwrap_or(0)).unwrap_or(0)
    }
}

/// The contract's name of [`StreamPermit`].
pub type OwnedPermit = StreamPermit;

/// One open stream of [`StreamLimiter`]; dropping it closes the stream's slot.
#[must_use = "the stream's slot is freed when the permit is dropped"]
pub struct StreamPermit {
    held: Option<(OpenStreams, String)>,
}

impl StreamPermit {
    /// Returns `stream`, holding this permit until it is dropped.
    pub fn attach<S: Stream>(self, stream: S) -> impl Stream<Item = S::Item> {
        stream.map(move |item| {
            let _held = &self;
            item
        })
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let Some((open, actor)) = self.held.take() else { return };
        if let Ok(mut open) = open.lock()
            && let Some(count) = open.get_mut(&actor)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&actor);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthMethod, Role};

    fn caller(actor: &str) -> Principal {
        Principal { actor: actor.to_owned(), role: Role::Client, tenant: Some("t".into()), method: AuthMethod::Token }
    }

    #[test]
    fn a_token_is_throttled_after_its_burst_and_others_are_not() {
        let limiter = RateLimiter::new(1, 3);
        let (flood, other) = (caller("flood"), caller("other"));
        for call in 0..3 {
            assert!(limiter.check(&flood).is_ok(), "call {call} is within the burst");
        }
        let refused = limiter.check(&flood).expect_err("beyond the burst");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert_eq!(
            refused.message(),
            "rate limit of 1 calls/s per token exceeded (hub.rate-limit); slow down and retry"
        );
        assert!(limiter.check(&other).is_ok(), "another token has its own allowance");
        assert!(RateLimiter::new(0, 0).check(&flood).is_ok(), "0: unlimited");
    }

    #[test]
    fn streams_are_counted_per_actor_until_their_permit_drops() {
        let limiter = StreamLimiter::new(2);
        let alice = caller("alice");
        let first = limiter.acquire(&alice).expect("first");
        let _second = limiter.acquire(&alice).expect("second");
        let refused = limiter.acquire(&alice).err().expect("third refused");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().starts_with("2 trace streams open for this token (hub.max-trace-streams)"));
        assert!(limiter.acquire(&caller("bob")).is_ok(), "bob has his own streams");
        drop(first);
        assert_eq!(limiter.open("alice"), 1);
        assert!(limiter.acquire(&alice).is_ok());
        let unlimited = StreamLimiter::unlimited();
        let permits: Vec<_> = (0..100).map(|_| unlimited.acquire(&alice)).collect();
        assert!(permits.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn an_attached_permit_lives_as_long_as_its_stream() {
        let limiter = StreamLimiter::new(1);
        let alice = caller("alice");
        let stream = limiter.acquire(&alice).expect("permit").attach(futures::stream::iter([1, 2]));
        assert_eq!(limiter.open("alice"), 1);
        let items: Vec<i32> = stream.collect().await;
        assert_eq!(items, [1, 2]);
        assert_eq!(limiter.open("alice"), 0, "the consumed stream was dropped by collect");
    }
}
