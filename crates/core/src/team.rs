//! Teams: an agent delegates to role agents (sub-agents) with the `agent` and `parallel_agents`
//! tools (agentry's names), and its run waits durably for their answers.
//!
//! The delegating run commits the call's `tool_start` together with the [`Delegation`]s (the
//! sub-agents' agents and first runs are created in that commit's transaction) and the status
//! `waiting_children`: it holds no node. When the last of its sub-agents ends, the store queues
//! it again; on resume, [`LoadedRun::delegations`](crate::LoadedRun::delegations) carries how each
//! ended and the loop commits the call's result ([`call_output`]). A `tool_start` of a
//! delegation call is therefore never run twice: it is the record that the sub-agents exist.

use std::collections::BTreeMap;

mod calls;

pub use calls::{Task, all_ended, call_output, parse_call, tool_schemas};

use serde::{Deserialize, Serialize};

use crate::agent::AgentSpec;
use crate::ids::{AgentId, RunId};
use crate::run::RunStatus;

/// The tool that delegates one task to one role agent: arguments `{"agent": ROLE, "input":
/// TASK}`; its result is the sub-agent's final answer.
pub const AGENT_TOOL: &str = "agent";

/// The tool that delegates several tasks at once: arguments `{"tasks": [{"agent": ROLE,
/// "input": TASK}, …]}`; its result lists the answers in the order of the tasks.
pub const PARALLEL_AGENTS_TOOL: &str = "parallel_agents";

/// Returns whether `name` is one of the delegation tools.
pub fn is_delegation_tool(name: &str) -> bool {
    name == AGENT_TOOL || name == PARALLEL_AGENTS_TOOL
}

/// Label of a sub-agent naming its team role (set by the store when a delegation creates it).
pub const ROLE_LABEL: &str = "agentry.role";

/// Label of an agent spawned from a role template, naming the template.
pub const TEMPLATE_LABEL: &str = "agentry.template";

/// Longest role name, bytes.
pub const MAX_ROLE_NAME_BYTES: usize = 64;

/// Largest `max_parallel` of a team: tasks one `parallel_agents` call may start.
pub const MAX_PARALLEL_AGENTS: u32 = 64;

/// Deepest nesting of teams in one spec (a role's spec with a team of its own is one level).
pub const MAX_TEAM_DEPTH: usize = 8;

/// The role agents an agent may delegate to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    /// By role name (`[a-z0-9_-]`, at most [`MAX_ROLE_NAME_BYTES`]).
    pub roles: BTreeMap<String, TeamRole>,
    /// Most sub-agents one delegation may start (at least 1).
    pub max_parallel: u32,
}

/// One role of a [`Team`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamRole {
    /// One line shown to the delegating model.
    #[serde(default)]
    pub description: String,
    /// The spec of every sub-agent started for this role.
    pub spec: AgentSpec,
}

/// One sub-agent started by a run's delegation call (a row of the store's `delegations`), and
/// — when read back for a resumed run — how it ended so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Delegation {
    /// The delegating tool call.
    pub tool_call_id: String,
    /// Position among the call's sub-agents (0 for `agent`; the task's index for
    /// `parallel_agents`).
    pub position: u32,
    /// Team role.
    pub role: String,
    /// The sub-agent's task: its first run's input.
    pub input: String,
    /// The sub-agent (chosen by the delegating node, so that retries of the commit name it).
    pub child_agent_id: AgentId,
    /// Its first run.
    pub child_run_id: RunId,
    /// How it ended so far (read back only; `None` in a commit).
    pub outcome: Option<ChildOutcome>,
}

/// The state of a sub-agent's run, as its parent sees it on resume.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildOutcome {
    /// The child run's status.
    pub status: RunStatus,
    /// Its final answer, when completed.
    pub answer: Option<String>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
}
