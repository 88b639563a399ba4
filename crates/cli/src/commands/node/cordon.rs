//! `agentry node cordon|uncordon NODE`: stop or resume placing new runs on a node.

use clap::Args;

use crate::commands::HubArgs;
use crate::commands::node::resolve;

/// Options of `agentry node cordon` and `agentry node uncordon`.
#[derive(Debug, Args)]
pub struct CordonArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// Node id or name.
    node: String,
}

/// Cordons (or, with `uncordon`, makes ready again) the node and prints its new state.
pub async fn run(args: CordonArgs, uncordon: bool) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let node_id = resolve::node_id(&client, &args.node).await?;
    let node = if uncordon { client.uncordon_node(node_id).await? } else { client.cordon_node(node_id).await? };
    let state = if uncordon { "ready" } else { "cordoned" };
    println!("{} {} {state}", node.node_id, node.name);
    Ok(())
}
