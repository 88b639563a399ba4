//! Spread: the least-loaded candidate, so load evens out across nodes (and a node failure
//! affects as few runs as possible).

use agentry_core::NodeId;

use super::{NodeView, PlacementRequest, PlacementStrategy, SchedulerState};

/// Returns the candidate with the lowest load; ties go to the most free slots, then to the
/// lowest id.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Spread;

impl PlacementStrategy for Spread {
    fn name(&self) -> &'static str {
        "spread"
    }

    fn choose(&self, _request: &PlacementRequest, candidates: &[&NodeView], _state: &SchedulerState) -> NodeId {
        debug_assert!(!candidates.is_empty());
        let chosen =
            candidates.iter().min_by_key(|node| (node.load, std::cmp::Reverse(node.slots - node.load), node.id));
        chosen.expect("place passes at least one candidate").id
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;

    use proptest::prelude::{prop_assert, prop_assert_eq, proptest};
    use proptest::strategy::Strategy as _;

    use super::super::testing::{
        arb_labels, arb_nodes, empty_nodes, loads, model_candidates, node, place_many, place_one,
    };
    use super::super::{PlacementRequest, SchedulerState, Strategy, place};

    #[test]
    fn six_placements_on_three_nodes_of_four_slots_give_two_each() {
        let mut nodes = empty_nodes(3, 4);
        place_many(Strategy::Spread, &PlacementRequest::default(), &mut nodes, 6);
        assert_eq!(loads(&nodes), [2, 2, 2]);
    }

    #[test]
    fn ties_go_to_most_free_slots_then_lowest_id() {
        let mut nodes = vec![node(0, 2, 1), node(1, 4, 1), node(2, 4, 1), node(3, 8, 3)];
        let mut state = SchedulerState::default();
        let request = PlacementRequest::default();
        assert_eq!(place_one(Strategy::Spread, &request, &mut nodes, &mut state), Ok(nodes[1].id));
        assert_eq!(place_one(Strategy::Spread, &request, &mut nodes, &mut state), Ok(nodes[2].id));
        assert_eq!(place_one(Strategy::Spread, &request, &mut nodes, &mut state), Ok(nodes[0].id));
        // All carry 2 except node 3 (3); node 1 and 2 have 2 free, node 0 is full.
        assert_eq!(place_one(Strategy::Spread, &request, &mut nodes, &mut state), Ok(nodes[1].id));
        assert_eq!(loads(&nodes), [2, 3, 2, 3]);
    }

    #[test]
    fn fills_the_emptiest_node_first() {
        let mut nodes = vec![node(0, 4, 3), node(1, 4, 0), node(2, 4, 1)];
        place_many(Strategy::Spread, &PlacementRequest::default(), &mut nodes, 3);
        assert_eq!(loads(&nodes), [3, 2, 2]);
    }

    proptest! {
        /// From empty nodes with equal slots, loads differ by at most one after any number of
        /// placements.
        #[test]
        fn keeps_loads_within_one(count in 1usize..=20, slots in 1u32..=8, placements in 0usize..=170) {
            let mut nodes = empty_nodes(count, slots);
            let mut state = SchedulerState::default();
            for _ in 0..placements {
                if place_one(Strategy::Spread, &PlacementRequest::default(), &mut nodes, &mut state).is_err() {
                    break;
                }
                let max = nodes.iter().map(|node| node.load).max().unwrap();
                let min = nodes.iter().map(|node| node.load).min().unwrap();
                prop_assert!(max - min <= 1, "loads {:?}", loads(&nodes));
            }
        }

        /// On arbitrary nodes, the choice is a least-loaded candidate, and among those one with
        /// the most free slots; the round-robin cursor plays no part.
        #[test]
        fn chooses_a_least_loaded_candidate(
            (nodes, last) in arb_nodes(None).prop_flat_map(|nodes| {
                let count = nodes.len();
                (proptest::strategy::Just(nodes), 0..count)
            }),
            selector in arb_labels(1),
        ) {
            let request = PlacementRequest { node_selector: selector, preferred_node: None };
            let Ok(candidates) = model_candidates(&request, &nodes) else { return Ok(()) };
            let view = |id| nodes.iter().find(|node| node.id == id).unwrap();
            let best = candidates.iter().map(|id| (view(*id).load, Reverse(view(*id).slots - view(*id).load))).min();
            let mut state = SchedulerState { last_placed: Some(nodes[last].id) };
            let chosen = view(place(Strategy::Spread, &request, &nodes, &mut state).unwrap());
            prop_assert_eq!(Some((chosen.load, Reverse(chosen.slots - chosen.load))), best);
            let fresh = place(Strategy::Spread, &request, &nodes, &mut SchedulerState::default());
            prop_assert_eq!(fresh, Ok(chosen.id));
        }
    }
}
