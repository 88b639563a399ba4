//! [`AuditLog`]: records audit records without ever blocking an RPC — into a bounded channel
//! that one writer task drains in batches into [`Store::append_audit`]. A full channel drops
//! the record (counted in `agentry_audit_records_dropped_total{reason="overflow"}`, warned);
//! a batch the store keeps refusing after retries is dropped too (`reason="store"`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use agentry_store::{AuditRecord, Store};
use agentry_telemetry::prometheus::{IntCounterVec, Opts};

/// Records the channel holds before it drops new ones.
pub const AUDIT_CHANNEL_CAPACITY: usize = 8192;
/// Most records written in one store call.
pub const AUDIT_BATCH: usize = 256;
/// Delays between the attempts of a failing batch.
const RETRY_DELAYS: [Duration; 3] = [Duration::from_millis(100), Duration::from_millis(500), Duration::from_secs(2)];

/// Name of the counter of dropped records.
pub const DROPPED_METRIC: &str = "agentry_audit_records_dropped_total";

/// The audit trail's entry point. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sender: Option<mpsc::Sender<AuditRecord>>,
    /// The receiving end until [`AuditLog::spawn_writer`] takes it.
    parked: Arc<Mutex<Option<mpsc::Receiver<AuditRecord>>>>,
    /// Stops the writer ([`AuditLog::close`]).
    stop: CancellationToken,
    dropped: IntCounterVec,
    overflowed: Arc<AtomicU64>,
}

impl AuditLog {
    /// Returns a log that queues records (up to [`AUDIT_CHANNEL_CAPACITY`]) for the writer
    /// [`AuditLog::spawn_writer`] starts.
    pub fn new() -> Self {
        let (sender, receiver) = mpsc::channel(AUDIT_CHANNEL_CAPACITY);
        Self { parked: Arc::new(Mutex::new(Some(receiver))), ..Self::with_sender(Some(sender)) }
    }

    /// Returns a log that records nothing (authentication and auditing off, tests).
    pub fn discard() -> Self {
        Self::with_sender(None)
    }

    /// Returns a log sending into a channel of `capacity` records, and the channel's receiving
    /// end (for [`run_writer`], or a test that reads the records).
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<AuditRecord>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (Self::with_sender(Some(sender)), receiver)
    }

    fn with_sender(sender: Option<mpsc::Sender<AuditRecord>>) -> Self {
        Self {
            sender,
            parked: Arc::default(),
            stop: CancellationToken::new(),
            dropped: dropped_counter(),
            overflowed: Arc::default(),
        }
    }

    /// Starts the task writing this log's records into `store` (see [`run_writer`]); it
    /// stops after [`AuditLog::close`], once it has written what was recorded until then —
    /// await the handle to know. A log of [`AuditLog::discard`] or [`AuditLog::channel`], or one
    /// whose writer runs already, gets a task that ends at once.
    pub fn spawn_writer(&self, store: Arc<dyn Store>) -> JoinHandle<()> {
        let receiver = self.parked.lock().ok().and_then(|mut parked| parked.take());
        let Some(receiver) = receiver else {
            return tokio::spawn(async {});
        };
        tokio::spawn(run_writer(store, receiver, self.stop.clone(), self.dropped.clone()))
    }

    /// Stops the writer after it has written what is queued; later records are dropped.
    pub fn close(&self) {
        self.stop.cancel();
    }

    /// Returns whether records go anywhere.
    pub fn is_active(&self) -> bool {
        self.sender.is_some()
    }

    /// Records `record` (its `id` is assigned by the store). Never waits: when the writer is
    /// behind by [`AUDIT_CHANNEL_CAPACITY`] records, the record is dropped and counted.
    pub fn record(&self, record: AuditRecord) {
        let Some(sender) = &self.sender else { return };
        if sender.try_send(record).is_err() {
            self.dropped.with_label_values(&["overflow"]).inc();
            let overflowed = self.overflowed.fetch_add(1, Ordering::Relaxed);
            if overflowed.is_multiple_of(1000) {
                tracing::warn!(dropped = overflowed + 1, "audit log full or stopped: records dropped");
            }
        }
    }

    /// Returns the counter of dropped records (`agentry_audit_records_dropped_total{reason}`),
    /// to register on the hub's registry.
    pub fn dropped_counter(&self) -> IntCounterVec {
        self.dropped.clone()
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        Self::new()
    }
}

/// Returns a new (unregistered) counter of dropped records.
fn dropped_counter() -> IntCounterVec {
    let opts =
        Opts::new(DROPPED_METRIC, "Audit records dropped: the log was full (overflow) or the store refused them");
    // The name and label are constants: construction cannot fail.
    IntCounterVec::new(opts, &["reason"]).unwrap_or_else(|error| unreachable!("invalid audit metric: {error}"))
}

/// Writes what `receiver` gets into `store`, in batches of up to [`AUDIT_BATCH`], until `stop`;
/// then writes what is still queued and returns. Batches the store keeps refusing are counted
/// in `dropped{reason="store"}`.
pub async fn run_writer(
    store: Arc<dyn Store>,
    mut receiver: mpsc::Receiver<AuditRecord>,
    stop: CancellationToken,
    dropped: IntCounterVec,
) {
    let mut batch = Vec::with_capacity(AUDIT_BATCH);
    loop {
        let first = tokio::select! {
            biased;
            record = receiver.recv() => match record {
                Some(record) => record,
                None => break,
            },
            _ = stop.cancelled() => break,
        };
        batch.push(first);
        while batch.len() < AUDIT_BATCH {
            match receiver.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        write(store.as_ref(), &mut batch, &stop, &dropped).await;
    }
    receiver.close();
    while let Ok(record) = receiver.try_recv() {
        batch.push(record);
        if batch.len() == AUDIT_BATCH {
            write(store.as_ref(), &mut batch, &stop, &dropped).await;
        }
    }
    write(store.as_ref(), &mut batch, &stop, &dropped).await;
}

/// Appends `batch` (emptied), retrying a failure while not stopping.
async fn write(store: &dyn Store, batch: &mut Vec<AuditRecord>, stop: &CancellationToken, dropped: &IntCounterVec) {
    if batch.is_empty() {
        return;
    }
    let mut delays = RETRY_DELAYS.iter();
    loop {
        match store.append_audit(batch).await {
            Ok(()) => break,
            Err(error) => match delays.next() {
                Some(delay) if !stop.is_cancelled() => {
                    tracing::warn!(%error, records = batch.len(), "writing audit records failed; retrying");
                    tokio::time::sleep(*delay).await;
                }
                _ => {
                    tracing::error!(%error, records = batch.len(), "audit records dropped: the store refused them");
                    dropped.with_label_values(&["store"]).inc_by(batch.len() as u64);
                    break;
                }
            },
        }
    }
    batch.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str) -> AuditRecord {
        AuditRecord { action: action.to_owned(), actor: "a".into(), outcome: "OK".into(), ..AuditRecord::default() }
    }

    #[tokio::test]
    async fn a_full_log_drops_and_counts_instead_of_blocking() {
        let (log, mut receiver) = AuditLog::channel(2);
        for action in ["Spawn", "Fork", "Approve"] {
            log.record(record(action));
        }
        assert_eq!(log.dropped_counter().with_label_values(&["overflow"]).get(), 1);
        assert_eq!(receiver.recv().await.map(|record| record.action), Some("Spawn".into()));
        let discard = AuditLog::discard();
        discard.record(record("Spawn"));
        assert!(!discard.is_active());
    }

    #[tokio::test]
    async fn the_writer_appends_everything_recorded_before_stop() {
        let store = agentry_store::connect("sqlite::memory:").await.expect("sqlite store");
        let log = AuditLog::new();
        for index in 0..(AUDIT_BATCH + 10) {
            log.record(record(&format!("Call{index}")));
        }
        let writer = log.spawn_writer(Arc::clone(&store));
        log.close();
        writer.await.expect("writer");
        log.record(record("late"));
        assert_eq!(log.dropped_counter().with_label_values(&["overflow"]).get(), 1, "the closed log drops");
        let written = store.list_audit(&agentry_store::AuditQuery::newest(1000)).await.expect("list");
        assert_eq!(written.len(), AUDIT_BATCH + 10);
        assert_eq!(written.first().map(|record| record.action.as_str()), Some("Call265"), "newest first");
        assert_eq!(log.dropped_counter().with_label_values(&["store"]).get(), 0);
    }
}
