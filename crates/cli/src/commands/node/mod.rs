//! `agentry node ...`: run a node, and operator controls over nodes.

mod cordon;
mod drain;
mod join;
mod resolve;

use clap::Subcommand;

/// Node commands.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Join a hub and run agents until stopped (tasks arrive over NATS JetStream).
    Join(join::JoinArgs),
    /// Stop placing new runs on a node (its runs continue).
    Cordon(cordon::CordonArgs),
    /// Place new runs on a cordoned or draining node again.
    Uncordon(cordon::CordonArgs),
    /// Cordon a node and move its queued runs elsewhere; running runs finish there.
    Drain(drain::DrainArgs),
}

impl NodeCommand {
    /// Returns whether this runs a node process (rather than a client call).
    pub fn is_server(&self) -> bool {
        matches!(self, Self::Join(_))
    }

    /// Runs the command; `config_file` is the global `--config`.
    pub async fn run(self, config_file: Option<std::path::PathBuf>) -> anyhow::Result<()> {
        match self {
            Self::Join(args) => join::run(args, config_file).await,
            Self::Cordon(args) => cordon::run(args, false).await,
            Self::Uncordon(args) => cordon::run(args, true).await,
            Self::Drain(args) => drain::run(args).await,
        }
    }
}
