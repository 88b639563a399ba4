//! `agentry`: the Agentry Cloud binary — `dev`, `hub serve`, `node join` and the client
//! commands (`spawn`, `send`, `trace`, `ps`, `nodes`, `cancel`, `pause`, `resume`).
//!
//! Data goes to stdout; logs (`RUST_LOG`, `--log-format text|json`) and errors go to stderr. A failure prints one
//! `error: ...` line and exits 1, or 2 when the hub is unreachable (see `report.rs`).

mod commands;
mod config;
mod follow;
mod logging;
mod output;
mod report;
mod signal;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Cli;

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return report::usage_error(&error),
    };
    if let Err(error) = logging::init(cli.log_format, if cli.command.is_server() { "info" } else { "warn" }) {
        return report::failure(&anyhow::anyhow!(error));
    }
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
