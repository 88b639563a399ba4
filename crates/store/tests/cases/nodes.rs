//! Node membership and leases.

use agentry_core::{NodeId, NodeState};
use agentry_store::Store;

use super::{Harness, assert_not_found, node};

pub async fn list_nodes_oldest_first(harness: Harness) {
    let store = harness.store;
    assert!(store.list_nodes().await.unwrap().is_empty());
    let nodes = [node("first"), node("second"), node("third")];
    for info in &nodes {
        store.register_node(info.clone()).await.unwrap();
    }
    assert_eq!(store.list_nodes().await.unwrap(), nodes.to_vec());
}

pub async fn register_node_again_updates_it(harness: Harness) {
    let store = harness.store;
    let first = node("first");
    let second = node("second");
    store.register_node(first.clone()).await.unwrap();
    store.register_node(second.clone()).await.unwrap();
    let renamed =
        agentry_core::NodeInfo { name: "renamed".into(), state: NodeState::Draining, slots: 9, ..first.clone() };
    store.register_node(renamed.clone()).await.unwrap();
    // Still one entry, still first: re-registering keeps the join time.
    assert_eq!(store.list_nodes().await.unwrap(), vec![renamed, second]);
}

pub async fn heartbeat_extends_lease(harness: Harness) {
    let store = harness.store;
    let info = node("worker");
    let other = node("other");
    store.register_node(info.clone()).await.unwrap();
    store.register_node(other.clone()).await.unwrap();
    let later = info.last_heartbeat_ms + 1_000;
    let beaten = store.heartbeat(info.id, 3, later).await.unwrap();
    let expected = agentry_core::NodeInfo { running: 3, last_heartbeat_ms: later, ..info };
    assert_eq!(beaten, expected);
    assert_eq!(store.list_nodes().await.unwrap(), vec![expected, other]);
}

pub async fn heartbeat_of_unknown_node_is_not_found(harness: Harness) {
    let store: &dyn Store = harness.store.as_ref();
    let unknown = NodeId::generate();
    assert_not_found(store.heartbeat(unknown, 0, 1).await, "node", unknown);
    assert!(store.list_nodes().await.unwrap().is_empty());
}
