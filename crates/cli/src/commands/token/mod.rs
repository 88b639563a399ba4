//! `agentry token ...`: bearer tokens for the hub's auth file.

mod hash;

use clap::Subcommand;

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print the SHA-256 (hex) of a token read from stdin, as the auth file's `sha256 = "..."`
    /// holds it; with `--generate`, make a new random token and print it with its hash.
    Hash(hash::HashArgs),
}

impl TokenCommand {
    /// Runs the command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Hash(args) => hash::run(&args).await,
        }
    }
}
