//! Teams and delegations on the wire: [`Team`] in an agent's spec, [`Delegation`] in commits
//! (sub-agents to start) and loaded runs (sub-agents with how they ended).

use agentry_core::team::{ChildOutcome, Delegation, Team, TeamRole};

use super::types::run_status_from;
use super::{WireError, id};
use crate::v1 as pb;

impl From<&Team> for pb::Team {
    fn from(team: &Team) -> Self {
        Self {
            roles: team
                .roles
                .iter()
                .map(|(name, role)| {
                    let role = pb::TeamRole { description: role.description.clone(), spec: Some((&role.spec).into()) };
                    (name.clone(), role)
                })
                .collect(),
            max_parallel: team.max_parallel,
        }
    }
}

/// The team as sent, not yet validated (a role without a spec gets an empty one, which
/// [`agentry_core::AgentSpec::validated`] rejects for its model).
impl From<pb::Team> for Team {
    fn from(team: pb::Team) -> Self {
        Self {
            roles: team
                .roles
                .into_iter()
                .map(|(name, role)| {
                    let spec = role.spec.unwrap_or_default().into();
                    (name, TeamRole { description: role.description, spec })
                })
                .collect(),
            max_parallel: team.max_parallel,
        }
    }
}

impl From<&Delegation> for pb::Delegation {
    fn from(delegation: &Delegation) -> Self {
        let outcome = delegation.outcome.as_ref();
        Self {
            tool_call_id: delegation.tool_call_id.clone(),
            position: delegation.position,
            role: delegation.role.clone(),
            input: delegation.input.clone(),
            child_agent_id: delegation.child_agent_id.to_string(),
            child_run_id: delegation.child_run_id.to_string(),
            status: outcome.map_or(pb::RunStatus::Unspecified, |outcome| outcome.status.into()) as i32,
            answer: outcome.and_then(|outcome| outcome.answer.clone()).unwrap_or_default(),
            error: outcome.and_then(|outcome| outcome.error.clone()).unwrap_or_default(),
        }
    }
}

/// Returns the delegation of a wire one; `outcome` is set when `status` is.
///
/// Errors name a malformed child id or an unknown status.
pub fn delegation_from(delegation: pb::Delegation) -> Result<Delegation, WireError> {
    let outcome = run_status_from("delegations.status", delegation.status)?.map(|status| ChildOutcome {
        status,
        answer: Some(delegation.answer).filter(|answer| !answer.is_empty()),
        error: Some(delegation.error).filter(|error| !error.is_empty()),
    });
    Ok(Delegation {
        child_agent_id: id("delegations.child_agent_id", &delegation.child_agent_id)?,
        child_run_id: id("delegations.child_run_id", &delegation.child_run_id)?,
        tool_call_id: delegation.tool_call_id,
        position: delegation.position,
        role: delegation.role,
        input: delegation.input,
        outcome,
    })
}
