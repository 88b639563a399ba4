//! Binpack: the most-loaded candidate, so runs pile onto few nodes and whole nodes stay free
//! (for large jobs, or to scale down).
//!
//! With equal slots, filling from empty leaves at most one node partially used. Ranking by load
//! rather than by free slots is deliberate (DESIGN.md §5, "fill the most-loaded node"); with
//! unequal slots a busy large node wins over a nearly full small one (see the tests).

use std::cmp::Reverse;

use agentry_core::NodeId;

use super::{NodeView, PlacementRequest, PlacementStrategy, SchedulerState};

/// Returns the candidate with the highest load; ties go to the fewest free slots, then to the
/// lowest id.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Binpack;

impl PlacementStrategy for Binpack {
    fn name(&self) -> &'static str {
        "binpack"
    }

    fn choose(&self, _request: &PlacementRequest, candidates: &[&NodeView], _state: &SchedulerState) -> NodeId {
        debug_assert!(!candidates.is_empty());
        // `min_by_key` keeps the first of equal keys; the key ends with the id anyway so the
        // choice does not depend on the order.
        let chosen = candidates.iter().min_by_key(|node| (Reverse(node.load), node.slots - node.load, node.id));
        chosen.expect("place passes at least one candidate").id
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{prop_assert, proptest};
    use proptest::strategy::Strategy as _;

    use super::super::testing::{
        arb_labels, arb_nodes, empty_nodes, loads, node, partially_used, place_many, place_one,
    };
    use super::super::{PlacementRequest, SchedulerState, Strategy};

    #[test]
    fn six_placements_on_three_nodes_of_four_slots_fill_the_first() {
        let mut nodes = empty_nodes(3, 4);
        place_many(Strategy::Binpack, &PlacementRequest::default(), &mut nodes, 6);
        assert_eq!(loads(&nodes), [4, 2, 0]);
    }

    #[test]
    fn ties_go_to_fewest_free_slots_then_lowest_id() {
        let mut nodes = vec![node(0, 8, 2), node(1, 4, 2), node(2, 4, 2), node(3, 8, 1)];
        let mut state = SchedulerState::default();
        let request = PlacementRequest::default();
        assert_eq!(place_one(Strategy::Binpack, &request, &mut nodes, &mut state), Ok(nodes[1].id));
        assert_eq!(place_one(Strategy::Binpack, &request, &mut nodes, &mut state), Ok(nodes[1].id));
        // Node 1 is full: nodes 0 and 2 both carry 2, node 2 has fewer free slots.
        assert_eq!(place_one(Strategy::Binpack, &request, &mut nodes, &mut state), Ok(nodes[2].id));
    }

    /// Documents the trade-off of ranking by load: with unequal slots, a busy large node wins
    /// over a nearly full small one, so binpack can leave more nodes partially used than spread.
    #[test]
    fn ranks_by_load_not_by_free_slots() {
        let start = vec![node(0, 8, 2), node(1, 2, 1)];
        let mut binpack = start.clone();
        place_many(Strategy::Binpack, &PlacementRequest::default(), &mut binpack, 1);
        let mut spread = start;
        place_many(Strategy::Spread, &PlacementRequest::default(), &mut spread, 1);
        assert_eq!((loads(&binpack), partially_used(&binpack)), (vec![3, 1], 2));
        assert_eq!((loads(&spread), partially_used(&spread)), (vec![2, 2], 1));
    }

    proptest! {
        /// From empty nodes with equal slots, at most one node is partially used after any
        /// number of placements.
        #[test]
        fn fills_from_empty_leaving_at_most_one_partial_node(
            count in 1usize..=20,
            slots in 1u32..=8,
            placements in 0usize..=170,
        ) {
            let mut nodes = empty_nodes(count, slots);
            let mut state = SchedulerState::default();
            for _ in 0..placements {
                if place_one(Strategy::Binpack, &PlacementRequest::default(), &mut nodes, &mut state).is_err() {
                    break;
                }
                prop_assert!(partially_used(&nodes) <= 1, "loads {:?}", loads(&nodes));
            }
        }

        /// With equal slots but otherwise arbitrary nodes (initial loads, states, liveness,
        /// labels) and the same requests, binpack never leaves more nodes partially used than
        /// the other strategies. (With unequal slots it can: `ranks_by_load_not_by_free_slots`.)
        #[test]
        fn leaves_no_more_partial_nodes_than_other_strategies(
            nodes in (1u32..=8).prop_flat_map(|slots| arb_nodes(Some(slots))),
            selector in arb_labels(1),
            placements in 0usize..=40,
        ) {
            let request = PlacementRequest { node_selector: selector, preferred_node: None };
            for k in 0..=placements {
                let [round_robin, binpack, spread] = [Strategy::RoundRobin, Strategy::Binpack, Strategy::Spread].map(|strategy| {
                    let mut nodes = nodes.clone();
                    place_many(strategy, &request, &mut nodes, k);
                    partially_used(&nodes)
                });
                prop_assert!(binpack <= round_robin && binpack <= spread, "after {k}: {binpack} vs {round_robin}, {spread}");
            }
        }
    }
}
