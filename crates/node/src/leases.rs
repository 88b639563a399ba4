//! The runs this node executes, each under the epoch its task carried: reported in every
//! heartbeat, and revoked (their executors stopped) when the hub says the node no longer owns
//! them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use agentry_core::RunId;

/// Shared registry of executing runs; cheap to clone.
#[derive(Clone, Default)]
pub struct Leases {
    runs: Arc<Mutex<HashMap<RunId, Lease>>>,
}

struct Lease {
    epoch: u64,
    revoked: CancellationToken,
}

impl Leases {
    /// Registers `run_id` at `epoch`; returns the token cancelled when its lease is revoked.
    pub fn acquire(&self, run_id: RunId, epoch: u64) -> CancellationToken {
        let revoked = CancellationToken::new();
        let lease = Lease { epoch, revoked: revoked.clone() };
        if let Some(previous) = self.lock().insert(run_id, lease) {
            // A newer task of the same run (it moved away and back): the old executor must stop.
            previous.revoked.cancel();
        }
        revoked
    }

    /// Unregisters `run_id` if it is still held at `epoch`.
    pub fn release(&self, run_id: RunId, epoch: u64) {
        let mut runs = self.lock();
        if runs.get(&run_id).is_some_and(|lease| lease.epoch == epoch) {
            runs.remove(&run_id);
        }
    }

    /// Returns every `(run, epoch)` held, for a heartbeat.
    pub fn snapshot(&self) -> Vec<(RunId, u64)> {
        self.lock().iter().map(|(run_id, lease)| (*run_id, lease.epoch)).collect()
    }

    /// Returns how many runs are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Returns whether no run is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the executors of `run_ids`; returns how many were held.
    pub fn revoke(&self, run_ids: &[RunId]) -> usize {
        let runs = self.lock();
        run_ids.iter().filter_map(|run_id| runs.get(run_id)).map(|lease| lease.revoked.cancel()).count()
    }

    /// Stops every executor (the node lost its membership).
    pub fn revoke_all(&self) {
        for lease in self.lock().values() {
            lease.revoked.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, Lease>> {
        self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_cancels_only_the_named_runs() {
        let leases = Leases::default();
        let (first, second) = (RunId::generate(), RunId::generate());
        let first_token = leases.acquire(first, 1);
        let second_token = leases.acquire(second, 3);
        let mut held = leases.snapshot();
        held.sort();
        let mut expected = vec![(first, 1), (second, 3)];
        expected.sort();
        assert_eq!(held, expected);
        assert_eq!(leases.revoke(&[second, RunId::generate()]), 1);
        assert!(second_token.is_cancelled() && !first_token.is_cancelled());
        leases.release(second, 3);
        assert_eq!(leases.snapshot(), vec![(first, 1)]);
    }

    #[test]
    fn a_newer_epoch_replaces_and_stops_the_older_executor() {
        let leases = Leases::default();
        let run = RunId::generate();
        let old = leases.acquire(run, 1);
        let new = leases.acquire(run, 2);
        assert!(old.is_cancelled() && !new.is_cancelled());
        // The old executor's release does not drop the newer lease.
        leases.release(run, 1);
        assert_eq!(leases.snapshot(), vec![(run, 2)]);
        leases.revoke_all();
        assert!(new.is_cancelled());
    }
}
