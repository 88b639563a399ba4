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

use crate::commands::{Cli, Command};

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return report::usage_error(&error),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return report::failure(&anyhow::Error::new(error).context("starting the async runtime")),
    };
    // The span exporter's gRPC channel lives on the runtime: init inside it.
    let entered = runtime.enter();
    let telemetry = match agentry_telemetry::init(&telemetry_config(&cli)) {
        Ok(telemetry) => telemetry,
        Err(error) => return report::failure(&anyhow::Error::new(error)),
    };
    let result = runtime.block_on(cli.command.run(cli.config));
    // Flushes the spans not exported yet (bounded) while the runtime still runs the exporter.
    telemetry.shutdown();
    drop(entered);
    // Commands await everything they need; whatever is left (e.g. a stdin read) is abandoned.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report::failure(&error),
    }
}

/// Returns what `agentry_telemetry::init` installs for `cli`: servers log at `info`, client
/// commands at `warn`; exported spans name the process's role unless `OTEL_SERVICE_NAME` does.
fn telemetry_config(cli: &Cli) -> agentry_telemetry::TelemetryConfig {
    let service_name = match &cli.command {
        Command::Hub(_) => "agentry-hub",
        Command::Node(_) => "agentry-node",
        Command::Dev(_) => "agentry-dev",
        _ => "agentry",
    };
    agentry_telemetry::TelemetryConfig {
        log_format: cli.log_format.into(),
        default_level: if cli.command.is_server() { "info" } else { "warn" },
        service_name,
    }
}
