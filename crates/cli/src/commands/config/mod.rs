//! `agentry config ...`: inspect the layered configuration.

mod print;

use std::path::PathBuf;

use clap::Subcommand;

/// Config commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the merged configuration (defaults, `--config` file, `AGENTRY_*` environment) as
    /// TOML, with secrets redacted.
    Print(print::PrintArgs),
}

impl ConfigCommand {
    /// Runs the command.
    pub async fn run(self, config_file: Option<PathBuf>) -> anyhow::Result<()> {
        match self {
            Self::Print(args) => print::run(args, config_file),
        }
    }
}
