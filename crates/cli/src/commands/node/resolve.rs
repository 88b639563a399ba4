//! Finding a node by id or by name, for the operator commands.

use agentry_sdk::Client;
use agentry_sdk::proto::{Node, NodeState};

/// Returns the id of the node that `reference` names: a node id, or the name of exactly one node
/// that is not dead.
pub async fn node_id(client: &Client, reference: &str) -> anyhow::Result<String> {
    let nodes = client.list_nodes().await?;
    pick(&nodes, reference).map(|node| node.node_id.clone())
}

fn pick<'a>(nodes: &'a [Node], reference: &str) -> anyhow::Result<&'a Node> {
    if let Some(node) = nodes.iter().find(|node| node.node_id == reference) {
        return Ok(node);
    }
    let named: Vec<&Node> = nodes
        .iter()
        .filter(|node| {
            node.name == reference && !matches!(NodeState::try_from(node.state), Ok(NodeState::Dead | NodeState::Left))
        })
        .collect();
    match named.as_slice() {
        [node] => Ok(node),
        [] => anyhow::bail!("no node has the id or name {reference:?} (see `agentry nodes`)"),
        several => anyhow::bail!(
            "{} nodes are named {reference:?}; give a node id ({})",
            several.len(),
            several.iter().map(|node| node.node_id.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, name: &str, state: NodeState) -> Node {
        Node { node_id: id.into(), name: name.into(), state: state as i32, ..Node::default() }
    }

    #[test]
    fn picks_by_id_then_by_unique_live_name() {
        let nodes =
            [node("a", "n1", NodeState::Dead), node("b", "n1", NodeState::Ready), node("c", "n2", NodeState::Ready)];
        assert_eq!(pick(&nodes, "a").unwrap().node_id, "a");
        assert_eq!(pick(&nodes, "n1").unwrap().node_id, "b", "dead namesakes are ignored");
        assert!(pick(&nodes, "zz").unwrap_err().to_string().contains("no node has the id or name \"zz\""));
        let twins = [node("a", "n", NodeState::Ready), node("b", "n", NodeState::Cordoned)];
        assert!(pick(&twins, "n").unwrap_err().to_string().contains("2 nodes are named \"n\""));
    }
}
