//! Test helpers: node builders, proptest generators, a reference model of the candidate filter,
//! and a driver that places a sequence of runs the way the placer does (incrementing load).

use std::collections::BTreeMap;

use agentry_core::{NodeId, NodeState};
use proptest::prelude::{Just, prop, prop_oneof};
use proptest::strategy::Strategy as Generator;
use uuid::Uuid;

use super::{NodeView, PlacementError, PlacementRequest, SchedulerState, Strategy, place};

/// Every strategy, for properties that hold for all of them.
pub(super) const ALL: [Strategy; 3] = [Strategy::RoundRobin, Strategy::Binpack, Strategy::Spread];

/// Label keys and values that generated nodes and selectors draw from: small, so selectors
/// often match some nodes and often not.
const KEYS: [&str; 2] = ["gpu", "zone"];
const VALUES: [&str; 2] = ["a", "b"];

/// Returns a node id ordered by `rank`, made unique by `index`.
pub(super) fn node_id(rank: u64, index: usize) -> NodeId {
    NodeId::from(Uuid::from_u128((u128::from(rank) << 64) | index as u128))
}

/// Returns a ready, live, unlabelled node whose id sorts by `index`.
pub(super) fn node(index: usize, slots: u32, load: u32) -> NodeView {
    NodeView { id: node_id(0, index), state: NodeState::Ready, live: true, slots, load, labels: BTreeMap::new() }
}

/// Returns `count` empty nodes of `slots` each, in id order.
pub(super) fn empty_nodes(count: usize, slots: u32) -> Vec<NodeView> {
    (0..count).map(|index| node(index, slots, 0)).collect()
}

/// Returns `key=value` pairs as a label or selector map.
pub(super) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
}

/// Generates a label map (or selector) of up to `max` pairs from the small alphabet.
pub(super) fn arb_labels(max: usize) -> impl Generator<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop::sample::select(&KEYS[..]).prop_map(str::to_owned),
        prop::sample::select(&VALUES[..]).prop_map(str::to_owned),
        0..=max,
    )
}

/// Generates a node state, mostly `ready`.
fn arb_state() -> impl Generator<Value = NodeState> {
    prop_oneof![
        6 => Just(NodeState::Ready),
        1 => Just(NodeState::Cordoned),
        1 => Just(NodeState::Draining),
        1 => Just(NodeState::Dead),
    ]
}

/// Generates 1–20 nodes with random id order, slots 1–8 (or exactly `slots`), loads up to
/// their slots, states, liveness and labels.
pub(super) fn arb_nodes(slots: Option<u32>) -> impl Generator<Value = Vec<NodeView>> {
    let slots = match slots {
        Some(slots) => Just(slots).boxed(),
        None => (1u32..=8).boxed(),
    };
    let node = (slots.prop_flat_map(|slots| (Just(slots), 0..=slots)), prop::num::u64::ANY, arb_state()).prop_flat_map(
        |((slots, load), rank, state)| (Just((slots, load, rank, state)), prop::bool::weighted(0.85), arb_labels(2)),
    );
    prop::collection::vec(node, 1..=20).prop_map(|nodes| {
        nodes
            .into_iter()
            .enumerate()
            .map(|(index, ((slots, load, rank, state), live, labels))| NodeView {
                id: node_id(rank, index),
                state,
                live,
                slots,
                load,
                labels,
            })
            .collect()
    })
}

/// Generates a request against `node_count` nodes: a selector, and sometimes a preferred node
/// (by index, or an unknown id).
pub(super) fn arb_request(node_count: usize) -> impl Generator<Value = (BTreeMap<String, String>, Option<usize>)> {
    (arb_labels(2), prop::option::weighted(0.5, 0..=node_count))
}

/// Returns the request for a generated selector and preferred index (`node_count` = unknown).
pub(super) fn request(
    nodes: &[NodeView],
    selector: BTreeMap<String, String>,
    preferred: Option<usize>,
) -> PlacementRequest {
    let preferred_node =
        preferred.map(|index| nodes.get(index).map_or_else(|| node_id(u64::MAX, usize::MAX), |n| n.id));
    PlacementRequest { node_selector: selector, preferred_node }
}

/// The reference model of [`place`]'s filter: the candidates for `request`, or the error.
pub(super) fn model_candidates(request: &PlacementRequest, nodes: &[NodeView]) -> Result<Vec<NodeId>, PlacementError> {
    let eligible: Vec<&NodeView> = nodes.iter().filter(|node| node.state == NodeState::Ready && node.live).collect();
    if eligible.is_empty() {
        return Err(PlacementError::NoEligibleNode);
    }
    let matching: Vec<&NodeView> = eligible
        .into_iter()
        .filter(|node| request.node_selector.iter().all(|(key, value)| node.labels.get(key) == Some(value)))
        .collect();
    if matching.is_empty() {
        let selector: Vec<String> = request.node_selector.iter().map(|(key, value)| format!("{key}={value}")).collect();
        return Err(PlacementError::NoMatchingNode { selector: selector.join(",") });
    }
    let candidates: Vec<NodeId> = matching.iter().filter(|node| node.load < node.slots).map(|node| node.id).collect();
    if candidates.is_empty() {
        return Err(PlacementError::NoCapacity {
            matching: matching.len(),
            slots: matching.iter().map(|node| node.slots).sum(),
        });
    }
    Ok(candidates)
}

/// Places one run like the placer does: on success, increments the chosen node's load.
pub(super) fn place_one(
    strategy: Strategy,
    request: &PlacementRequest,
    nodes: &mut [NodeView],
    state: &mut SchedulerState,
) -> Result<NodeId, PlacementError> {
    let chosen = place(strategy, request, nodes, state)?;
    let node = nodes.iter_mut().find(|node| node.id == chosen).expect("place returns one of the nodes");
    node.load += 1;
    Ok(chosen)
}

/// Places `count` runs of `request` one after the other, stopping at the first error.
pub(super) fn place_many(strategy: Strategy, request: &PlacementRequest, nodes: &mut [NodeView], count: usize) {
    let mut state = SchedulerState::default();
    for _ in 0..count {
        if place_one(strategy, request, nodes, &mut state).is_err() {
            break;
        }
    }
}

/// Returns the loads of `nodes`, in their order.
pub(super) fn loads(nodes: &[NodeView]) -> Vec<u32> {
    nodes.iter().map(|node| node.load).collect()
}

/// Returns how many nodes are partially used: some load, not full.
pub(super) fn partially_used(nodes: &[NodeView]) -> usize {
    nodes.iter().filter(|node| node.load > 0 && node.load < node.slots).count()
}
