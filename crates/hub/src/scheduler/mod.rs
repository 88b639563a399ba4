//! Placement: a pure function from a request and the nodes to a node (DESIGN.md §5).
//!
//! [`place`] filters the nodes to candidates (ready, live, labels match, a free slot), honours
//! the request's sticky preference, and otherwise lets the [`Strategy`] choose. It does no I/O
//! and reads no clock, so it is deterministic given its inputs; the only state carried between
//! placements, the round-robin cursor, lives in [`SchedulerState`], which the placer task owns.
//! See `README.md` next to this file for the model and how to add a strategy.
//!
//! Layout: one file per strategy (`round_robin.rs`, `binpack.rs`, `spread.rs`), each with its
//! own properties; cross-strategy properties in `tests.rs`, generators and helpers in `testing.rs`.

mod binpack;
mod round_robin;
mod spread;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use agentry_core::{NodeId, NodeInfo, NodeState};

/// A placement strategy, chosen in the hub configuration.
///
/// Adding one: a file implementing [`PlacementStrategy`], an arm here, in [`Strategy::NAMES`],
/// [`FromStr`] and [`Strategy::implementation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Strategy {
    /// Cycle through the candidates in id order.
    #[default]
    RoundRobin,
    /// Fill the most-loaded candidate first, leaving whole nodes free.
    Binpack,
    /// Place on the least-loaded candidate, evening out load.
    Spread,
}

impl Strategy {
    /// Canonical names, as written by [`fmt::Display`] and accepted by [`FromStr`].
    pub const NAMES: &'static [&'static str] = &["round_robin", "binpack", "spread"];

    /// Returns the implementation of this strategy.
    pub fn implementation(self) -> &'static dyn PlacementStrategy {
        match self {
            Self::RoundRobin => &round_robin::RoundRobin,
            Self::Binpack => &binpack::Binpack,
            Self::Spread => &spread::Spread,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.implementation().name())
    }
}

impl FromStr for Strategy {
    type Err = String;

    /// Parses a canonical name (or `round-robin`); the error lists the known names.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "round_robin" | "round-robin" => Ok(Self::RoundRobin),
            "binpack" => Ok(Self::Binpack),
            "spread" => Ok(Self::Spread),
            other => Err(format!("unknown scheduler {other:?}; known schedulers are {}", Self::NAMES.join(", "))),
        }
    }
}

impl TryFrom<String> for Strategy {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Strategy> for String {
    fn from(strategy: Strategy) -> Self {
        strategy.to_string()
    }
}

/// Chooses one node among candidates; implemented once per [`Strategy`].
pub trait PlacementStrategy: Send + Sync {
    /// Returns the strategy's canonical name (one of [`Strategy::NAMES`]).
    fn name(&self) -> &'static str;

    /// Returns one of `candidates`, which [`place`] guarantees to be non-empty, sorted by id,
    /// and all able to take the run (ready, live, labels match, `load < slots`).
    fn choose(&self, request: &PlacementRequest, candidates: &[&NodeView], state: &SchedulerState) -> NodeId;
}

/// A node as the scheduler sees it: membership, lease, capacity, load and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// Its id.
    pub id: NodeId,
    /// Membership state; only `ready` nodes receive runs.
    pub state: NodeState,
    /// Whether its lease is current.
    pub live: bool,
    /// Maximum concurrent runs.
    pub slots: u32,
    /// Runs assigned to it and not finished. The caller increments it after each placement on
    /// this node, so that a batch of placements sees its own effect.
    pub load: u32,
    /// Labels that selectors are matched against.
    pub labels: BTreeMap<String, String>,
}

impl NodeView {
    /// Returns the view of `node` carrying `load` runs, at `now_ms` under a lease of
    /// `lease_ttl_ms`: live when its last heartbeat is at most `lease_ttl_ms` old.
    pub fn of(node: &NodeInfo, load: u32, now_ms: i64, lease_ttl_ms: i64) -> Self {
        Self {
            id: node.id,
            state: node.state,
            live: now_ms - node.last_heartbeat_ms <= lease_ttl_ms,
            slots: node.slots,
            load,
            labels: node.labels.clone(),
        }
    }

    /// Returns whether the node takes new runs at all: ready with a current lease.
    fn is_eligible(&self) -> bool {
        self.live && self.state == NodeState::Ready
    }

    /// Returns whether the node has every label of `selector`.
    fn matches(&self, selector: &BTreeMap<String, String>) -> bool {
        selector.iter().all(|(key, value)| self.labels.get(key) == Some(value))
    }

    /// Returns whether the node has a free slot.
    fn has_room(&self) -> bool {
        self.load < self.slots
    }
}

/// What is being placed: the constraints and preference of one run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlacementRequest {
    /// Labels the node must have (all of them, with these values); empty matches every node.
    pub node_selector: BTreeMap<String, String>,
    /// The node that ran the agent's previous run; chosen if it is a candidate (warm state).
    pub preferred_node: Option<NodeId>,
}

/// State carried from one placement to the next; owned by the placer task.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct SchedulerState {
    /// The node chosen by the previous placement (the round-robin cursor).
    pub last_placed: Option<NodeId>,
}

/// Why nothing could be placed; the text is shown to users as the reason a run waits `queued`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// No node is ready with a current lease.
    #[error(
        "no node is ready with a current lease; start one with `agentry node join`, \
         or check `agentry nodes` for cordoned, draining or silent nodes"
    )]
    NoEligibleNode,
    /// No ready, live node has all the selector's labels.
    #[error(
        "no ready node has labels {selector}; add such a node (`agentry node join --labels {selector}`) \
         or change the selector"
    )]
    NoMatchingNode {
        /// The selector, rendered `key=value,key=value` in key order.
        selector: String,
    },
    /// Every matching node's slots are in use.
    #[error(
        "all {slots} slots of the {matching} matching node(s) are in use; the run starts when one frees up, \
         or add capacity with `agentry node join`"
    )]
    NoCapacity {
        /// How many ready, live nodes match the selector.
        matching: usize,
        /// Their slots in total.
        slots: u32,
    },
}

/// Returns the node that should run `request`, and records it in `state.last_placed`.
///
/// Candidates are the nodes that are ready, live, have every label of the selector and a free
/// slot. If the preferred node is a candidate it is chosen, else `strategy` chooses. The caller
/// must increment the chosen node's `load` before placing more runs with the same `nodes`.
///
/// # Errors
/// In this order: [`PlacementError::NoEligibleNode`] when no node is ready and live,
/// [`PlacementError::NoMatchingNode`] when none of those matches the selector,
/// [`PlacementError::NoCapacity`] when every matching node is full.
pub fn place(
    strategy: Strategy,
    request: &PlacementRequest,
    nodes: &[NodeView],
    state: &mut SchedulerState,
) -> Result<NodeId, PlacementError> {
    let eligible: Vec<&NodeView> = nodes.iter().filter(|node| node.is_eligible()).collect();
    if eligible.is_empty() {
        return Err(PlacementError::NoEligibleNode);
    }
    let matching: Vec<&NodeView> = eligible.into_iter().filter(|node| node.matches(&request.node_selector)).collect();
    if matching.is_empty() {
        return Err(PlacementError::NoMatchingNode { selector: render_selector(&request.node_selector) });
    }
    let mut candidates: Vec<&NodeView> = matching.iter().copied().filter(|node| node.has_room()).collect();
    if candidates.is_empty() {
        let slots = matching.iter().map(|node| node.slots).sum();
        return Err(PlacementError::NoCapacity { matching: matching.len(), slots });
    }
    candidates.sort_by_key(|node| node.id);

    let preferred = request.preferred_node.filter(|id| candidates.iter().any(|node| node.id == *id));
    let chosen = preferred.unwrap_or_else(|| strategy.implementation().choose(request, &candidates, state));
    debug_assert!(
        candidates.iter().any(|node| node.id == chosen),
        "{strategy} chose {chosen}, which is not a candidate"
    );
    state.last_placed = Some(chosen);
    Ok(chosen)
}

/// Renders a selector as `key=value,key=value` in key order.
fn render_selector(selector: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = selector.iter().map(|(key, value)| format!("{key}={value}")).collect();
    pairs.join(",")
}
