//! Node identity under mutual TLS: a node joins with the name its client certificate's SPIFFE
//! ID gives (`spiffe://agentry/node/<name>`), and every later call that names a node id
//! (`Heartbeat`, `Lease`, `Leave`) must come with the certificate of that node's name. A
//! compromised node thus cannot beat, hold leases or leave for another node, so it cannot keep
//! another node's runs from moving or take them back.
//!
//! Node names are fixed for a node id's life, so the hub keeps them in memory once seen (at
//! `Join`, or read once from the store for a node that joined through another replica).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use agentry_core::NodeId;

use crate::auth::NodePeer;
use crate::error::{HubError, Result};
use crate::hub::Hub;

/// The names of the nodes this hub has seen, by node id. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct NodeNames(Arc<RwLock<HashMap<NodeId, String>>>);

impl NodeNames {
    /// Records that `node_id` is the node named `name`.
    pub fn remember(&self, node_id: NodeId, name: &str) {
        if let Ok(mut names) = self.0.write() {
            names.insert(node_id, name.to_owned());
        }
    }

    /// Returns the name of `node_id`, if seen.
    fn get(&self, node_id: NodeId) -> Option<String> {
        self.0.read().ok().and_then(|names| names.get(&node_id).cloned())
    }
}

/// Checks that a node whose certificate names `peer` may join as `name`.
///
/// Errors: PERMISSION_DENIED naming both names.
pub fn check_join(peer: Option<&NodePeer>, name: &str) -> Result<()> {
    match peer {
        Some(peer) if peer.name != name => Err(HubError::PermissionDenied(format!(
            "the client certificate is node {:?}'s; a node may join only under its certificate's name (--name {})",
            peer.name, peer.name
        ))),
        _ => Ok(()),
    }
}

impl Hub {
    /// Checks that the caller whose certificate names `peer` is the node `node_id`; without
    /// mutual TLS (`peer` is `None`) there is nothing to check. An unknown node id passes:
    /// the call itself then fails as for any unknown node.
    ///
    /// Errors: PERMISSION_DENIED naming the certificate's node; the store's.
    pub async fn check_node_peer(&self, peer: Option<&NodePeer>, node_id: NodeId) -> Result<()> {
        let Some(peer) = peer else { return Ok(()) };
        let name = match self.node_names.get(node_id) {
            Some(name) => name,
            None => match self.store.list_nodes().await?.into_iter().find(|node| node.id == node_id) {
                Some(node) => {
                    self.node_names.remember(node_id, &node.name);
                    node.name
                }
                None => return Ok(()),
            },
        };
        if name == peer.name {
            Ok(())
        } else {
            Err(HubError::PermissionDenied(format!(
                "node {node_id} is {name:?}; the client certificate is node {:?}'s, which may act only for itself",
                peer.name
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_joins_only_under_its_certificates_name() {
        let peer = NodePeer { name: "node-a".to_owned() };
        assert!(check_join(Some(&peer), "node-a").is_ok());
        assert!(check_join(None, "anything").is_ok());
        let refused = check_join(Some(&peer), "node-b").unwrap_err();
        assert!(matches!(refused, HubError::PermissionDenied(_)), "{refused}");
        assert!(refused.to_string().contains("--name node-a"), "{refused}");
    }

    #[test]
    fn names_are_remembered_by_id() {
        let names = NodeNames::default();
        let id = NodeId::generate();
        assert_eq!(names.get(id), None);
        names.remember(id, "node-a");
        assert_eq!(names.get(id).as_deref(), Some("node-a"));
    }
}
