//! Round-robin: the candidate after the previously chosen node, in id order.
//!
//! Keyed on the previous node's id rather than an index, so that nodes joining or leaving
//! between placements do not make it skip or repeat a node.

use agentry_core::NodeId;

use super::{NodeView, PlacementRequest, PlacementStrategy, SchedulerState};

/// Returns the first candidate whose id is greater than `state.last_placed`, wrapping to the
/// first candidate.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RoundRobin;

impl PlacementStrategy for RoundRobin {
    fn name(&self) -> &'static str {
        "round_robin"
    }

    fn choose(&self, _request: &PlacementRequest, candidates: &[&NodeView], state: &SchedulerState) -> NodeId {
        debug_assert!(!candidates.is_empty() && candidates.is_sorted_by_key(|node| node.id));
        let next = state.last_placed.and_then(|last| candidates.iter().find(|node| node.id > last));
        next.unwrap_or(&candidates[0]).id
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use agentry_core::NodeState;
    use proptest::prelude::{prop, prop_assert, proptest};

    use super::super::testing::{empty_nodes, loads, node_id, place_many, place_one};
    use super::super::{NodeView, PlacementError, PlacementRequest, SchedulerState, Strategy, place};
    use super::NodeId;

    #[test]
    fn cycles_through_nodes_in_id_order() {
        let nodes = empty_nodes(3, 10);
        let mut state = SchedulerState::default();
        let picks: Vec<NodeId> = (0..6)
            .map(|_| place(Strategy::RoundRobin, &PlacementRequest::default(), &nodes, &mut state).unwrap())
            .collect();
        let ids: Vec<NodeId> = nodes.iter().map(|node| node.id).collect();
        assert_eq!(picks[..3], ids);
        assert_eq!(picks[3..], ids);
    }

    #[test]
    fn six_placements_on_three_nodes_of_four_slots_give_two_each() {
        let mut nodes = empty_nodes(3, 4);
        place_many(Strategy::RoundRobin, &PlacementRequest::default(), &mut nodes, 6);
        assert_eq!(loads(&nodes), [2, 2, 2]);
    }

    #[test]
    fn skips_dead_stale_cordoned_and_full_nodes() {
        let mut nodes = empty_nodes(4, 2);
        nodes[0].live = false;
        nodes[1].state = NodeState::Cordoned;
        nodes[2].load = 2;
        let mut state = SchedulerState::default();
        let request = PlacementRequest::default();
        for _ in 0..2 {
            assert_eq!(place_one(Strategy::RoundRobin, &request, &mut nodes, &mut state), Ok(nodes[3].id));
        }
        assert_eq!(
            place(Strategy::RoundRobin, &request, &nodes, &mut state),
            Err(PlacementError::NoCapacity { matching: 2, slots: 4 })
        );
        nodes[3].state = NodeState::Dead;
        nodes[2].state = NodeState::Draining;
        assert_eq!(place(Strategy::RoundRobin, &request, &nodes, &mut state), Err(PlacementError::NoEligibleNode));
    }

    #[test]
    fn a_node_joining_or_leaving_neither_skips_nor_repeats_others() {
        let mut nodes = empty_nodes(3, 10);
        let request = PlacementRequest::default();
        let mut state = SchedulerState::default();
        assert_eq!(place(Strategy::RoundRobin, &request, &nodes, &mut state), Ok(nodes[0].id));
        // The node that would come next leaves: its successor is next, not the one after.
        let left = nodes.remove(1);
        assert_eq!(place(Strategy::RoundRobin, &request, &nodes, &mut state), Ok(nodes[1].id));
        // A node sorting before the cursor (re)appears: it is reached after wrapping, not skipped.
        nodes.push(left.clone());
        assert_eq!(place(Strategy::RoundRobin, &request, &nodes, &mut state), Ok(nodes[0].id));
        assert_eq!(place(Strategy::RoundRobin, &request, &nodes, &mut state), Ok(left.id));
    }

    proptest! {
        /// On a fixed set of empty nodes with room to spare, per-node counts differ by at most
        /// one after any number of placements, whatever the ids.
        #[test]
        fn fair_within_one(ranks in prop::collection::vec(prop::num::u64::ANY, 1..=20), placements in 0usize..120) {
            let mut nodes: Vec<NodeView> = ranks
                .iter()
                .enumerate()
                .map(|(index, rank)| NodeView { id: node_id(*rank, index), ..empty_nodes(1, 200)[0].clone() })
                .collect();
            let mut state = SchedulerState::default();
            let mut counts: HashMap<NodeId, usize> = HashMap::new();
            for _ in 0..placements {
                let chosen = place_one(Strategy::RoundRobin, &PlacementRequest::default(), &mut nodes, &mut state).unwrap();
                *counts.entry(chosen).or_default() += 1;
                let max = nodes.iter().map(|node| counts.get(&node.id).copied().unwrap_or(0)).max().unwrap();
                let min = nodes.iter().map(|node| counts.get(&node.id).copied().unwrap_or(0)).min().unwrap();
                prop_assert!(max - min <= 1, "counts {counts:?}");
            }
        }
    }
}
