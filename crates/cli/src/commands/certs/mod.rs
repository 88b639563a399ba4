//! `agentry certs ...`: certificates for trying TLS and mutual TLS locally.

mod dev;

use clap::Subcommand;

/// Certificate commands.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Write a CA, a hub certificate and node and client certificates for local use (not for
    /// production: the CA key sits next to them), and print how to use them.
    Dev(dev::DevArgs),
}

impl CertsCommand {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Dev(args) => dev::run(&args),
        }
    }
}
