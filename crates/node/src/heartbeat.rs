//! The node's lease: one `Lease` stream to the hub carrying a beat every heartbeat interval
//! (the node's load and the runs it executes), revocations in the answers, and detection of a
//! lost membership.
//!
//! The lease runs on an OS thread of its own, with a single-threaded tokio runtime and a
//! connection to the hub of its own ([`hold_lease_on_own_thread`]): agent loops and tools that
//! starve the node's main runtime cannot delay its beats, so a busy node is not taken for a
//! dead one. When the stream breaks the node opens a new one at once, then with a backoff; the
//! hub keeps the node's runs if a beat arrives within its confirmation window.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use agentry_core::{ErrorCode, Heartbeat, NodeId};

use crate::hub_client::{HubCallError, HubClient, LeaseStream};
use crate::leases::Leases;

/// Name of the lease's OS thread.
pub const LEASE_THREAD_NAME: &str = "agentry-lease";
/// First delay before opening a stream again after a failed attempt (the first reopening after
/// a stream that carried beats is immediate); doubles per failure, with jitter.
const REOPEN_MIN_DELAY: Duration = Duration::from_millis(50);
/// Largest delay between two attempts to open a stream.
const REOPEN_MAX_DELAY: Duration = Duration::from_secs(1);
/// How long a node that stops beating waits for the hub to end the stream.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What holding the lease needs: the hub, the node and its lease terms.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Hub URL (`http://` or `https://`).
    pub hub_url: String,
    /// TLS settings of an `https://` hub (`None`: the system's CAs, no client certificate).
    pub tls: Option<agentry_tls::ClientTls>,
    /// The node's identity for this membership.
    pub node_id: NodeId,
    /// Time between two beats.
    pub interval: Duration,
    /// The hub's lease TTL: a beat not answered within it (or the interval, if longer) counts
    /// as a broken stream.
    pub lease_ttl: Duration,
}

/// How one stream ended.
enum Held {
    /// `stop` was cancelled.
    Stopped,
    /// The hub no longer knows the node as a member.
    Lost,
    /// The stream failed; `beaten`: it carried at least one answered beat.
    Broke { error: HubCallError, beaten: bool },
}

/// Holds the lease ([`heartbeat_loop`]) on its own OS thread, with its own runtime and
/// connection to the hub, until `stop` is cancelled, the membership is lost, or this future is
/// dropped (the thread then closes its stream and ends). A panic on the thread is resumed here,
/// so that the node's supervisor sees it.
pub async fn hold_lease_on_own_thread(
    settings: LeaseSettings,
    leases: Leases,
    stop: CancellationToken,
    lost: CancellationToken,
) {
    let thread_stop = stop.child_token();
    let _stop_thread_when_dropped = thread_stop.clone().drop_guard();
    let (finished, outcome) = oneshot::channel();
    let spawned = std::thread::Builder::new().name(LEASE_THREAD_NAME.to_owned()).spawn(move || {
        let held = std::panic::catch_unwind(AssertUnwindSafe(|| hold_lease(settings, leases, thread_stop, lost)));
        let _ = finished.send(held);
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start the lease thread");
        return;
    }
    match outcome.await {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => tracing::error!("the lease thread ended without reporting"),
    }
}

/// Runs [`heartbeat_loop`] on a new current-thread runtime, blocking the calling thread.
fn hold_lease(settings: LeaseSettings, leases: Leases, stop: CancellationToken, lost: CancellationToken) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "could not build the lease runtime");
            return;
        }
    };
    runtime.block_on(async move {
        // Created here: the connection is driven by this runtime.
        match HubClient::with_tls(&settings.hub_url, settings.tls.as_ref()) {
            Ok(hub) => heartbeat_loop(hub, &settings, leases, stop, lost).await,
            Err(error) => tracing::error!(%error, "no hub client for the lease"),
        }
    });
}

/// Beats every `settings.interval` on a `Lease` stream until `stop`, opening a new stream when
/// one breaks (at once after a stream that carried beats, then with a backoff of 50 ms doubling
/// to 1 s). Revoked runs are stopped through `leases`. When the hub no longer knows the node as
/// a member (its lease expired: FAILED_PRECONDITION, or it is unknown: NOT_FOUND), `lost` is
/// cancelled with every lease revoked; the node must join again under a new identity. On
/// `stop` the stream is closed on purpose, which the hub does not take for a failure.
/// Returns only when `stop` is cancelled or the membership is lost.
pub async fn heartbeat_loop(
    hub: HubClient,
    settings: &LeaseSettings,
    leases: Leases,
    stop: CancellationToken,
    lost: CancellationToken,
) {
    let timeout = settings.lease_ttl.max(settings.interval);
    let mut delays = reopen_backoff();
    let mut reopen_at_once = true;
    loop {
        if !reopen_at_once {
            let delay = delays.next().unwrap_or(REOPEN_MAX_DELAY);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
        let opened = tokio::select! {
            () = stop.cancelled() => return,
            opened = hub.open_lease(timeout) => opened,
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "opening the lease stream failed; retrying");
                reopen_at_once = false;
                continue;
            }
        };
        match hold(&mut stream, settings, timeout, &leases, &stop, &lost).await {
            Held::Stopped => {
                stream.close(CLOSE_TIMEOUT).await;
                return;
            }
            Held::Lost => return,
            Held::Broke { error, beaten } => {
                tracing::warn!(%error, "lease stream broke; opening another");
                if beaten {
                    delays = reopen_backoff();
                }
                reopen_at_once = beaten;
            }
        }
    }
}

/// Beats on `stream` until it breaks, `stop` is cancelled or the membership is lost.
async fn hold(
    stream: &mut LeaseStream,
    settings: &LeaseSettings,
    timeout: Duration,
    leases: &Leases,
    stop: &CancellationToken,
    lost: &CancellationToken,
) -> Held {
    // The first tick is immediate: a new stream beats at once.
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beaten = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Held::Stopped,
            error = stream.broken() => return Held::Broke { error, beaten },
            _ = ticker.tick() => {}
        }
        let held = leases.snapshot();
        let beat = Heartbeat { node_id: settings.node_id, running: held.len() as u32, leases: held };
        match stream.beat(&beat, timeout).await {
            Ok(revoked) => {
                beaten = true;
                if !revoked.is_empty() {
                    let stopped = leases.revoke(&revoked);
                    tracing::info!(revoked = revoked.len(), stopped, "hub revoked run leases");
                }
            }
            Err(error) if error.is_fenced() || error.code == ErrorCode::NotFound => {
                tracing::warn!(%error, "membership lost: stopping every run and joining again");
                leases.revoke_all();
                lost.cancel();
                return Held::Lost;
            }
            Err(error) => return Held::Broke { error, beaten },
        }
    }
}

/// Returns the delays between failed attempts to open a stream.
fn reopen_backoff() -> impl Iterator<Item = Duration> + Send {
    ExponentialBuilder::default()
        .with_min_delay(REOPEN_MIN_DELAY)
        .with_max_delay(REOPEN_MAX_DELAY)
        .with_jitter()
        .without_max_times()
        .build()
}
