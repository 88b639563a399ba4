//! Properties and examples that hold for every strategy: the filter, sticky preference, errors,
//! and the strategy names.

use std::collections::BTreeMap;

use agentry_core::{NodeInfo, NodeState};
use proptest::prelude::{prop, prop_assert, prop_assert_eq, proptest};
use proptest::strategy::Strategy as _;

use super::testing::{ALL, arb_nodes, arb_request, labels, model_candidates, node, place_one, request};
use super::{NodeView, PlacementError, PlacementRequest, SchedulerState, Strategy, place};

#[test]
fn strategy_names_round_trip() {
    for strategy in ALL {
        assert_eq!(strategy.to_string().parse::<Strategy>(), Ok(strategy));
        assert_eq!(strategy.implementation().name(), strategy.to_string());
    }
    let names: Vec<String> = ALL.iter().map(ToString::to_string).collect();
    assert_eq!(names, Strategy::NAMES);
    assert_eq!("round-robin".parse::<Strategy>(), Ok(Strategy::RoundRobin));
    assert_eq!(Strategy::default(), Strategy::RoundRobin);
    let error = "fastest".parse::<Strategy>().unwrap_err();
    assert_eq!(error, "unknown scheduler \"fastest\"; known schedulers are round_robin, binpack, spread");
}

#[test]
fn node_view_is_live_within_the_lease() {
    let info = NodeInfo {
        id: node(0, 1, 0).id,
        name: "n".to_owned(),
        state: NodeState::Ready,
        slots: 4,
        running: 3,
        labels: labels(&[("gpu", "a100")]),
        last_heartbeat_ms: 1_000,
    };
    let view = NodeView::of(&info, 2, 6_000, 5_000);
    assert_eq!(
        view,
        NodeView { id: info.id, state: NodeState::Ready, live: true, slots: 4, load: 2, labels: info.labels.clone() }
    );
    assert!(!NodeView::of(&info, 2, 6_001, 5_000).live);
}

#[test]
fn no_ready_live_node_is_no_eligible_node() {
    let mut nodes = vec![node(0, 4, 0), node(1, 4, 0), node(2, 4, 0), node(3, 4, 0)];
    nodes[0].state = NodeState::Cordoned;
    nodes[1].state = NodeState::Draining;
    nodes[2].state = NodeState::Dead;
    nodes[3].live = false;
    for strategy in ALL {
        let error = place(strategy, &PlacementRequest::default(), &nodes, &mut SchedulerState::default());
        assert_eq!(error, Err(PlacementError::NoEligibleNode));
        assert_eq!(place(strategy, &PlacementRequest::default(), &[], &mut SchedulerState::default()), error);
    }
    assert_eq!(
        PlacementError::NoEligibleNode.to_string(),
        "no node is ready with a current lease; start one with `agentry node join`, \
         or check `agentry nodes` for cordoned, draining or silent nodes"
    );
}

#[test]
fn no_node_with_the_labels_is_no_matching_node() {
    let mut nodes = vec![node(0, 4, 0), node(1, 4, 0), node(2, 4, 0)];
    nodes[0].labels = labels(&[("gpu", "a100"), ("zone", "eu-1")]);
    nodes[0].state = NodeState::Cordoned;
    nodes[1].labels = labels(&[("gpu", "h100"), ("zone", "eu-1")]);
    nodes[2].labels = labels(&[("gpu", "a100")]);
    let request =
        PlacementRequest { node_selector: labels(&[("zone", "eu-1"), ("gpu", "a100")]), preferred_node: None };
    let error = place(Strategy::Spread, &request, &nodes, &mut SchedulerState::default()).unwrap_err();
    assert_eq!(error, PlacementError::NoMatchingNode { selector: "gpu=a100,zone=eu-1".to_owned() });
    assert_eq!(
        error.to_string(),
        "no ready node has labels gpu=a100,zone=eu-1; add such a node \
         (`agentry node join --labels gpu=a100,zone=eu-1`) or change the selector"
    );
}

#[test]
fn full_matching_nodes_are_no_capacity() {
    let mut nodes = vec![node(0, 4, 4), node(1, 2, 2), node(2, 8, 1)];
    nodes[0].labels = labels(&[("gpu", "a100")]);
    nodes[1].labels = labels(&[("gpu", "a100"), ("zone", "eu-1")]);
    let request = PlacementRequest { node_selector: labels(&[("gpu", "a100")]), preferred_node: Some(nodes[0].id) };
    let error = place(Strategy::Binpack, &request, &nodes, &mut SchedulerState::default()).unwrap_err();
    assert_eq!(error, PlacementError::NoCapacity { matching: 2, slots: 6 });
    assert_eq!(
        error.to_string(),
        "all 6 slots of the 2 matching node(s) are in use; the run starts when one frees up, \
         or add capacity with `agentry node join`"
    );
}

#[test]
fn sticky_preference_wins_when_the_node_fits() {
    let nodes = vec![node(0, 4, 0), node(1, 4, 3), node(2, 4, 1)];
    for strategy in ALL {
        let request = PlacementRequest { node_selector: BTreeMap::new(), preferred_node: Some(nodes[2].id) };
        let mut state = SchedulerState::default();
        assert_eq!(place(strategy, &request, &nodes, &mut state), Ok(nodes[2].id), "{strategy}");
        assert_eq!(state.last_placed, Some(nodes[2].id));
    }
}

#[test]
fn sticky_preference_is_ignored_when_the_node_is_full_cordoned_or_dead() {
    let start = vec![node(0, 4, 1), node(1, 4, 0), node(2, 4, 2)];
    let request = PlacementRequest { node_selector: BTreeMap::new(), preferred_node: Some(start[2].id) };
    let unavailable: [fn(&mut NodeView); 4] = [
        |node| node.load = node.slots,
        |node| node.state = NodeState::Cordoned,
        |node| node.state = NodeState::Dead,
        |node| node.live = false,
    ];
    for make_unavailable in unavailable {
        let mut nodes = start.clone();
        make_unavailable(&mut nodes[2]);
        for strategy in ALL {
            let with = place(strategy, &request, &nodes, &mut SchedulerState::default());
            let without = place(strategy, &PlacementRequest::default(), &nodes, &mut SchedulerState::default());
            assert_eq!(with, without, "{strategy}");
            assert_ne!(with, Ok(nodes[2].id), "{strategy}");
        }
    }
}

proptest! {
    /// For every strategy and any sequence of requests, each placement goes to a node that is
    /// ready, live, has the selector's labels and a free slot; a node is chosen whenever such a
    /// candidate exists, and otherwise the error names the right reason. Hence no placement
    /// ever exceeds a node's slots.
    #[test]
    fn placements_respect_the_filter_and_capacity(
        (nodes, requests) in arb_nodes(None).prop_flat_map(|nodes| {
            let count = nodes.len();
            (proptest::strategy::Just(nodes), prop::collection::vec(arb_request(count), 0..=40))
        }),
    ) {
        for strategy in ALL {
            let mut nodes = nodes.clone();
            let mut state = SchedulerState::default();
            for (selector, preferred) in &requests {
                let request = request(&nodes, selector.clone(), *preferred);
                let expected = model_candidates(&request, &nodes);
                let chosen = place_one(strategy, &request, &mut nodes, &mut state);
                match (&expected, &chosen) {
                    (Ok(candidates), Ok(id)) => {
                        prop_assert!(candidates.contains(id), "{strategy} chose {id}, not in {candidates:?}");
                        prop_assert_eq!(state.last_placed, Some(*id));
                    }
                    _ => prop_assert_eq!(expected.map(|_| ()), chosen.map(|_| ()), "{}", strategy),
                }
                prop_assert!(nodes.iter().all(|node| node.load <= node.slots));
            }
        }
    }

    /// The preferred node is chosen exactly when it is a candidate; otherwise the choice is
    /// the one the strategy makes without a preference.
    #[test]
    fn sticky_preference_is_honoured_exactly_when_it_fits(
        (nodes, (selector, preferred)) in arb_nodes(None).prop_flat_map(|nodes| {
            let count = nodes.len();
            (proptest::strategy::Just(nodes), arb_request(count))
        }),
        last in prop::option::of(0usize..20),
    ) {
        let request = request(&nodes, selector.clone(), preferred);
        let state = SchedulerState { last_placed: last.and_then(|index| nodes.get(index)).map(|node| node.id) };
        let fits = match (model_candidates(&request, &nodes), request.preferred_node) {
            (Ok(candidates), Some(preferred)) => candidates.contains(&preferred),
            _ => false,
        };
        for strategy in ALL {
            let with = place(strategy, &request, &nodes, &mut state.clone());
            let plain = PlacementRequest { node_selector: selector.clone(), preferred_node: None };
            let without = place(strategy, &plain, &nodes, &mut state.clone());
            if fits {
                prop_assert_eq!(with, Ok(request.preferred_node.unwrap()));
            } else {
                prop_assert_eq!(with, without);
            }
        }
    }
}
