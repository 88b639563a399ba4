//! Placement: a pure function from a request and the live nodes to a node (DESIGN.md §5).
//!
//! [`place`] is deterministic given its inputs; the only state, the round-robin cursor, is
//! passed in and returned through [`SchedulerState`], so the placer task owns it and tests can
//! drive any sequence.

mod round_robin;

use std::fmt;
use std::str::FromStr;

use agentry_core::{NodeId, NodeInfo, NodeState};

/// A placement strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Cycle through the eligible nodes in id order.
    #[default]
    RoundRobin,
}

impl Strategy {
    /// Names accepted by [`FromStr`].
    pub const NAMES: &'static [&'static str] = &["round_robin"];
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RoundRobin => f.write_str("round_robin"),
        }
    }
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "round_robin" | "round-robin" => Ok(Self::RoundRobin),
            other => Err(format!("unknown scheduler {other:?}; known schedulers are {}", Self::NAMES.join(", "))),
        }
    }
}

/// A node as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// Its id.
    pub id: NodeId,
    /// Membership state; only `ready` nodes receive runs.
    pub state: NodeState,
    /// Whether its lease is current.
    pub live: bool,
}

impl NodeView {
    /// Returns the view of `node` at `now_ms` under a lease of `lease_ttl_ms`.
    pub fn of(node: &NodeInfo, now_ms: i64, lease_ttl_ms: i64) -> Self {
        Self { id: node.id, state: node.state, live: now_ms - node.last_heartbeat_ms <= lease_ttl_ms }
    }

    fn is_eligible(&self) -> bool {
        self.live && self.state == NodeState::Ready
    }
}

/// What is being placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlacementRequest;

/// Mutable scheduler state carried between placements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerState {
    /// The node that received the previous round-robin placement.
    pub last_placed: Option<NodeId>,
}

/// Why nothing could be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// No node is ready with a current lease.
    #[error("no ready node with a current lease")]
    NoEligibleNode,
}

/// Returns the node that should run `request`, updating `state`.
pub fn place(
    strategy: Strategy,
    request: &PlacementRequest,
    nodes: &[NodeView],
    state: &mut SchedulerState,
) -> Result<NodeId, PlacementError> {
    let mut eligible: Vec<&NodeView> = nodes.iter().filter(|node| node.is_eligible()).collect();
    if eligible.is_empty() {
        return Err(PlacementError::NoEligibleNode);
    }
    eligible.sort_by_key(|node| node.id);
    let chosen = match strategy {
        Strategy::RoundRobin => round_robin::choose(request, &eligible, state),
    };
    state.last_placed = Some(chosen);
    Ok(chosen)
}
