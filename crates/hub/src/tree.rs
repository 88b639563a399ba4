//! Delegation trees (`AgentHub.GetTree`): an agent and its sub-agents, depth first, each with
//! its latest run and what its model calls used.

use crate::auth::Principal;
use tonic::Status;

use agentry_core::AgentId;
use agentry_proto::convert::types::agent;
use agentry_proto::v1 as pb;
use agentry_store::TreeEntry;

use crate::error::Result;
use crate::hub::Hub;
use crate::validate;

impl Hub {
    /// Returns `agent_id` and its sub-agents (through `parent_id`), depth first, children oldest
    /// first, each with its latest run and its model use (calls, tokens, USD); at most 10000
    /// entries.
    ///
    /// Errors: NOT_FOUND for an unknown agent; the store's.
    pub async fn agent_tree(&self, agent_id: AgentId) -> Result<Vec<TreeEntry>> {
        let tree = self.store.agent_tree(agent_id).await?;
        tracing::debug!(%agent_id, agents = tree.len(), "agent tree");
        Ok(tree)
    }
}

/// `AgentHub.GetTree`.
///
/// Errors: INVALID_ARGUMENT for a missing or malformed `agent_id`, NOT_FOUND for an unknown
/// agent.
pub(crate) async fn get_tree(
    hub: &Hub,
    principal: &Principal,
    request: pb::GetTreeRequest,
) -> Result<pb::GetTreeResponse, Status> {
    let agent_id = validate::id::<AgentId>("agent_id", &request.agent_id)?;
    hub.agent_in_scope(principal, agent_id).await?;
    let tree = hub.agent_tree(agent_id).await?;
    Ok(pb::GetTreeResponse { nodes: tree.iter().map(tree_node).collect() })
}

/// Returns the wire form of one entry of a tree.
fn tree_node(entry: &TreeEntry) -> pb::TreeNode {
    pb::TreeNode {
        agent: Some(agent(&entry.summary.agent, entry.summary.latest_run.as_ref())),
        depth: entry.depth,
        calls: entry.calls,
        total_tokens: entry.total_tokens,
        cost_usd: entry.cost_usd,
    }
}

#[cfg(test)]
mod tests {

    use tonic::Code;

    use agentry_broker::Broker;

    use super::*;
    use crate::config::HubConfig;

    /// A hub on an in-memory SQLite store, without background tasks.
    async fn hub() -> Hub {
        let config = HubConfig::for_test("sqlite::memory:");
        let store = agentry_store::connect(&config.database_url).await.expect("an in-memory store");
        Hub::new(config, store, Broker::in_process())
    }

    /// Spawns an agent under `parent_id` with a first run.
    async fn spawn(hub: &Hub, parent_id: Option<AgentId>) -> AgentId {
        let command = crate::test_support::scripted_spawn(parent_id);
        hub.spawn(command).await.expect("spawn").0.id
    }

    #[tokio::test]
    async fn get_tree_returns_the_agents_depth_first() {
        let hub = hub().await;
        let root = spawn(&hub, None).await;
        let child = spawn(&hub, Some(root)).await;
        let grandchild = spawn(&hub, Some(child)).await;
        let sibling = spawn(&hub, Some(root)).await;

        let response =
            get_tree(&hub, &Principal::anonymous(), pb::GetTreeRequest { agent_id: root.to_string() }).await.unwrap();
        let nodes: Vec<(String, String, u32, String)> = response
            .nodes
            .iter()
            .map(|node| {
                let wire = node.agent.as_ref().expect("an agent");
                let status = wire.latest_run.as_ref().map(|run| run.status().as_str_name().to_owned());
                (wire.agent_id.clone(), wire.parent_id.clone(), node.depth, status.unwrap_or_default())
            })
            .collect();
        let queued = "RUN_STATUS_QUEUED".to_owned();
        assert_eq!(
            nodes,
            vec![
                (root.to_string(), String::new(), 0, queued.clone()),
                (child.to_string(), root.to_string(), 1, queued.clone()),
                (grandchild.to_string(), child.to_string(), 2, queued.clone()),
                (sibling.to_string(), root.to_string(), 1, queued),
            ]
        );
        assert!(response.nodes.iter().all(|node| node.calls == 0 && node.total_tokens == 0 && node.cost_usd == 0.0));
    }

    #[tokio::test]
    async fn get_tree_refuses_bad_and_unknown_ids() {
        let hub = hub().await;
        let missing =
            get_tree(&hub, &Principal::anonymous(), pb::GetTreeRequest { agent_id: String::new() }).await.unwrap_err();
        assert_eq!((missing.code(), missing.message()), (Code::InvalidArgument, "agent_id is required"));
        let malformed =
            get_tree(&hub, &Principal::anonymous(), pb::GetTreeRequest { agent_id: "nope".into() }).await.unwrap_err();
        assert_eq!(malformed.code(), Code::InvalidArgument);
        assert!(malformed.message().contains("agent_id"), "{}", malformed.message());
        let unknown = AgentId::generate();
        let status = get_tree(&hub, &Principal::anonymous(), pb::GetTreeRequest { agent_id: unknown.to_string() })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.message().contains(&unknown.to_string()), "{}", status.message());
    }
}
