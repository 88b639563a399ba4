//! `agentry node ...`.

mod join;

use clap::Subcommand;

/// Node commands.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Join a hub and run agents until stopped (tasks arrive over NATS JetStream).
    Join(join::JoinArgs),
}

impl NodeCommand {
    /// Runs the command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Join(args) => join::run(args).await,
        }
    }
}
