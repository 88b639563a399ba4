//! Placeholder.

/// `agentry rerun` (placeholder).
#[derive(Debug, clap::Args)]
pub struct RerunArgs {}

/// Runs it.
pub async fn run(_args: RerunArgs) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
