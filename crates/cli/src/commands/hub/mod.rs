//! `agentry hub ...`.

mod serve;

use clap::Subcommand;

/// Hub commands.
#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Serve the hub: the client and node gRPC APIs, scheduling and trace fan-out.
    Serve(serve::ServeArgs),
}

impl HubCommand {
    /// Runs the command; `config_file` is the global `--config`.
    pub async fn run(self, config_file: Option<std::path::PathBuf>) -> anyhow::Result<()> {
        match self {
            Self::Serve(args) => serve::run(args, config_file).await,
        }
    }
}
