//! Placeholder.

/// `agentry tree` (placeholder).
#[derive(Debug, clap::Args)]
pub struct TreeArgs {}

/// Runs it.
pub async fn run(_args: TreeArgs) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
