//! Placeholder.

/// `agentry diff` (placeholder).
#[derive(Debug, clap::Args)]
pub struct DiffArgs {}

/// Runs it.
pub async fn run(_args: DiffArgs) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
