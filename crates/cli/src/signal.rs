//! Shutdown on SIGINT/SIGTERM: the first signal cancels a token (graceful), a second one exits
//! the process at once.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Exit code after a second signal (128 + SIGINT).
const EXIT_FORCED: i32 = 130;

/// Returns a token cancelled at the first SIGINT or SIGTERM; the second one exits the process
/// with code 130 without waiting for the graceful shutdown.
pub fn shutdown_token() -> anyhow::Result<CancellationToken> {
    let mut interrupts = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminations = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let token = CancellationToken::new();
    let shutdown = token.clone();
    tokio::spawn(async move {
        let first = tokio::select! {
            _ = interrupts.recv() => "SIGINT",
            _ = terminations.recv() => "SIGTERM",
        };
        tracing::info!(signal = first, "shutting down gracefully; send the signal again to exit at once");
        shutdown.cancel();
        let second = tokio::select! {
            _ = interrupts.recv() => "SIGINT",
            _ = terminations.recv() => "SIGTERM",
        };
        tracing::warn!(signal = second, "second signal; exiting without waiting");
        std::process::exit(EXIT_FORCED);
    });
    Ok(token)
}
