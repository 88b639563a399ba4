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
    /// Runs the command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Serve(args) => serve::run(args).await,
        }
    }
}
