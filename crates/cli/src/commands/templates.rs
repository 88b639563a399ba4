//! Placeholder.

/// `agentry templates list|show NAME` (placeholder).
#[derive(Debug, clap::Subcommand)]
pub enum TemplatesCommand {
    /// List the role templates the hub knows.
    List,
}

impl TemplatesCommand {
    /// Runs it.
    pub async fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("not written yet")
    }
}
