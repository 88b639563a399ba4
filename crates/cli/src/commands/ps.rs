//! `agentry ps`: agents with their latest runs.

use std::time::SystemTime;

use anyhow::Context;
use clap::Args;

use crate::commands::HubArgs;
use crate::output::{ListFormat, agents_json, agents_table, print_line};

/// Options of `agentry ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ListFormat::Table)]
    output: ListFormat,
}

/// Prints the agents, newest first.
pub async fn run(args: PsArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let agents = client.list_agents(0).await?;
    let text = match args.output {
        ListFormat::Table => agents_table(&agents, SystemTime::now()),
        ListFormat::Json => agents_json(&agents).context("encoding agents as JSON")?,
    };
    print_line(&text).context("writing to stdout")
}
