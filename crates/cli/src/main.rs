//! `agentry`: the Agentry Cloud binary — `dev`, `hub serve`, `node join` and the client
//! commands (`spawn`, `send`, `trace`, `ps`, `nodes`, `cancel`, `pause`, `resume`).
//!
//! Data goes to stdout; logs (`RUST_LOG`) and errors go to stderr. A failure prints one
//! `error: ...` line and exits 1, or 2 when the hub is unreachable (see `report.rs`).

mod commands;
mod config;
mod follow;
mod output;
mod report;
mod signal;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::commands::Cli;

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return report::usage_error(&error),
    };
    init_logging(if cli.command.is_server() { "info" } else { "warn" });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return report::failure(&anyhow::Error::new(error).context("starting the async runtime")),
    };
    let result = runtime.block_on(cli.command.run(cli.config));
    // Commands await everything they need; whatever is left (e.g. a stdin read) is abandoned.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report::failure(&error),
    }
}

/// Logs to stderr at `RUST_LOG`, else at `default_level`.
fn init_logging(default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
