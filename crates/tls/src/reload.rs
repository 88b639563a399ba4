//! Watching a [`ServerTls`]'s files: polled (modification time, length, inode), so that it
//! works the same for files written in place, renamed over, or swapped by a Kubernetes Secret
//! volume (a symlink flip), without a file-notification dependency.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::PoisonError;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::server::{ServerTls, ServerTlsFiles};

/// Shortest interval between two looks at the files.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// What identifies one version of a file: its modification time, length and inode; `None`
/// while the file cannot be read.
pub(crate) type Fingerprint = Option<(SystemTime, u64, u64)>;

fn fingerprint(path: &Path) -> Fingerprint {
    // `metadata` follows symlinks: a Secret volume's flipped `..data` link shows as a change.
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len(), metadata.ino()))
}

/// Returns the fingerprints of the certificate, the key and the client CA (if any) of `files`.
pub(crate) fn fingerprints(files: &ServerTlsFiles) -> Vec<Fingerprint> {
    [Some(&files.cert), Some(&files.key), files.client_ca.as_ref()]
        .into_iter()
        .flatten()
        .map(|path| fingerprint(path))
        .collect()
}

impl ServerTls {
    /// Watches the files in a task of its own until `stop`: every `every` (at least 10 ms) it
    /// compares their modification times, lengths and inodes with those of the configuration
    /// in use and, on a change, reloads ([`ServerTls::reload`]). A change that does not make a
    /// valid configuration (a broken file, or a certificate written before its key) is logged
    /// as a warning and the configuration in use is kept; the next change is tried again.
    ///
    /// Must be called within a tokio runtime.
    pub fn spawn_reloader(&self, every: Duration, stop: CancellationToken) {
        let tls = self.clone();
        let mut ticks = tokio::time::interval(every.max(MIN_INTERVAL));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let now = fingerprints(&tls.files);
                if now == *tls.seen.lock().unwrap_or_else(PoisonError::into_inner) {
                    continue;
                }
                if let Err(error) = tls.reload() {
                    tracing::warn!(%error, "TLS files changed but do not make a valid configuration; keeping the one in use");
                    *tls.seen.lock().unwrap_or_else(PoisonError::into_inner) = now;
                }
            }
        });
    }
}
