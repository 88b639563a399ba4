//! Round-robin: the eligible node after the previously chosen one, in id order.
//!
//! Keyed on the previous node's id rather than an index, so that nodes joining or leaving
//! between placements do not make it skip or repeat a node.

use agentry_core::NodeId;

use super::{NodeView, PlacementRequest, SchedulerState};

/// Returns the first eligible node whose id is greater than the last placed one, wrapping.
/// `eligible` is non-empty and sorted by id.
pub(super) fn choose(_request: &PlacementRequest, eligible: &[&NodeView], state: &SchedulerState) -> NodeId {
    let next = state.last_placed.and_then(|last| eligible.iter().find(|node| node.id > last)).unwrap_or(&eligible[0]);
    next.id
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use agentry_core::NodeState;
    use proptest::prelude::{prop_assert, proptest};

    use super::super::{NodeView, PlacementError, PlacementRequest, SchedulerState, Strategy, place};
    use super::NodeId;

    fn nodes(count: usize) -> Vec<NodeView> {
        (0..count).map(|_| NodeView { id: NodeId::generate(), state: NodeState::Ready, live: true }).collect()
    }

    #[test]
    fn cycles_through_nodes() {
        let nodes = nodes(3);
        let mut state = SchedulerState::default();
        let picks: Vec<NodeId> =
            (0..6).map(|_| place(Strategy::RoundRobin, &PlacementRequest, &nodes, &mut state).unwrap()).collect();
        assert_eq!(picks[..3], picks[3..]);
        let mut distinct = picks[..3].to_vec();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3);
    }

    #[test]
    fn skips_dead_stale_and_cordoned_nodes() {
        let mut nodes = nodes(3);
        nodes[0].live = false;
        nodes[1].state = NodeState::Cordoned;
        let mut state = SchedulerState::default();
        for _ in 0..4 {
            assert_eq!(place(Strategy::RoundRobin, &PlacementRequest, &nodes, &mut state), Ok(nodes[2].id));
        }
        nodes[2].state = NodeState::Dead;
        assert_eq!(
            place(Strategy::RoundRobin, &PlacementRequest, &nodes, &mut state),
            Err(PlacementError::NoEligibleNode)
        );
    }

    proptest! {
        /// Over any number of placements on a fixed set, counts differ by at most one.
        #[test]
        fn fair_within_one(node_count in 1usize..8, placements in 0usize..100) {
            let nodes = nodes(node_count);
            let mut state = SchedulerState::default();
            let mut counts: HashMap<NodeId, usize> = HashMap::new();
            for _ in 0..placements {
                let node = place(Strategy::RoundRobin, &PlacementRequest, &nodes, &mut state).unwrap();
                *counts.entry(node).or_default() += 1;
            }
            let max = nodes.iter().map(|node| counts.get(&node.id).copied().unwrap_or(0)).max().unwrap();
            let min = nodes.iter().map(|node| counts.get(&node.id).copied().unwrap_or(0)).min().unwrap();
            prop_assert!(max - min <= 1);
        }
    }
}
