//! Placeholder.

/// `agentry team run` (placeholder).
#[derive(Debug, clap::Subcommand)]
pub enum TeamCommand {
    /// Start an agent_0 with its team.
    Run,
}

impl TeamCommand {
    /// Runs it.
    pub async fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("not written yet")
    }
}
