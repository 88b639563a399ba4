//! `agentry node drain NODE`: no new runs; runs placed there but not started move elsewhere;
//! running runs finish on the node.

use clap::Args;

use crate::commands::HubArgs;
use crate::commands::node::resolve;

/// Options of `agentry node drain`.
#[derive(Debug, Args)]
pub struct DrainArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// Node id or name.
    node: String,
}

/// Drains the node and prints how many runs moved.
pub async fn run(args: DrainArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let node_id = resolve::node_id(&client, &args.node).await?;
    let (node, moved) = client.drain_node(node_id).await?;
    println!(
        "{} {} draining ({moved} queued run{} moved; {} running)",
        node.node_id,
        node.name,
        if moved == 1 { "" } else { "s" },
        node.running
    );
    Ok(())
}
