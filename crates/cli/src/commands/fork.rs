//! Placeholder.

/// `agentry fork` (placeholder).
#[derive(Debug, clap::Args)]
pub struct ForkArgs {}

/// Runs it.
pub async fn run(_args: ForkArgs) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
