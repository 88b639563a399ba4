//! `agentry nodes`: the nodes known to the hub.

use std::time::SystemTime;

use anyhow::Context;
use clap::Args;

use crate::commands::HubArgs;
use crate::output::{ListFormat, nodes_json, nodes_table, print_line};

/// Options of `agentry nodes`.
#[derive(Debug, Args)]
pub struct NodesArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ListFormat::Table)]
    output: ListFormat,
}

/// Prints the nodes.
pub async fn run(args: NodesArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let nodes = client.list_nodes().await?;
    let text = match args.output {
        ListFormat::Table => nodes_table(&nodes, SystemTime::now()),
        ListFormat::Json => nodes_json(&nodes).context("encoding nodes as JSON")?,
    };
    print_line(&text).context("writing to stdout")
}
