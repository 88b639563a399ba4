//! Nodes: worker processes that execute runs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::ids::{NodeId, RunId};

/// Membership state of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Accepts new runs.
    Ready,
    /// Accepts no new runs; keeps running the ones it has.
    Cordoned,
    /// Finishing its runs before leaving.
    Draining,
    /// Its lease expired: the hub took its runs back and refuses its heartbeats and commits.
    Dead,
    /// It left the cluster gracefully (its runs were handed back).
    Left,
}

impl NodeState {
    /// Every state, in lifecycle order.
    pub const ALL: [NodeState; 5] = [Self::Ready, Self::Cordoned, Self::Draining, Self::Dead, Self::Left];

    /// Returns the lowercase name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Cordoned => "cordoned",
            Self::Draining => "draining",
            Self::Dead => "dead",
            Self::Left => "left",
        }
    }
}

impl NodeState {
    /// Returns whether the node is gone (dead or left): it holds no runs and never returns under
    /// this identity.
    pub fn is_gone(self) -> bool {
        matches!(self, Self::Dead | Self::Left)
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::Ready, Self::Cordoned, Self::Draining, Self::Dead, Self::Left]
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| format!("unknown node state {text:?}"))
    }
}

/// A node as the hub knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Identity for this membership.
    pub id: NodeId,
    /// Human-readable name (not unique across restarts).
    pub name: String,
    /// Membership state.
    pub state: NodeState,
    /// Maximum concurrent runs.
    pub slots: u32,
    /// Runs executing at the last heartbeat.
    pub running: u32,
    /// Labels, for placement constraints.
    pub labels: BTreeMap<String, String>,
    /// Last heartbeat (or join), milliseconds since the Unix epoch.
    pub last_heartbeat_ms: i64,
}

/// One heartbeat of a node: who it is, its load, and the runs it executes with the epoch each
/// executes under. It extends the node's lease; the answer names the runs it no longer owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The beating node.
    pub node_id: NodeId,
    /// Runs executing now.
    pub running: u32,
    /// `(run, epoch)` of every run the node executes.
    pub leases: Vec<(RunId, u64)>,
}
