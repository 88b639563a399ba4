//! Tenant isolation: every agent belongs to a tenant, and a caller scoped to a tenant sees and
//! changes only that tenant's agents, their runs, traces, approvals and costs. Another tenant's
//! agent answers NOT_FOUND with the very message of an agent that does not exist, so a caller
//! cannot learn that it exists.
//!
//! A principal of every tenant (an admin token naming none, or anyone when authentication is
//! off) is not checked at all: these functions then read nothing, so the unauthenticated hot
//! path pays nothing for tenancy.

use std::collections::BTreeMap;

use agentry_core::{AgentId, RunId};

use crate::auth::Principal;
use crate::error::{HubError, Result};
use crate::hub::Hub;

/// Returns the error of an agent `principal` may not see: that of an agent that does not exist.
pub(crate) fn hidden_agent(agent_id: AgentId) -> HubError {
    HubError::Store(agentry_store::Error::NotFound { what: "agent", id: agent_id.to_string() })
}

/// Returns the error of a run `principal` may not see: that of a run that does not exist.
fn hidden_run(run_id: RunId) -> HubError {
    HubError::Store(agentry_store::Error::NotFound { what: "run", id: run_id.to_string() })
}

impl Hub {
    /// Checks that `principal` may see `agent_id`.
    ///
    /// Errors: NOT_FOUND (worded as for a missing agent) when the agent is missing or belongs
    /// to another tenant; the store's.
    pub async fn agent_in_scope(&self, principal: &Principal, agent_id: AgentId) -> Result<()> {
        if principal.tenant.is_none() {
            return Ok(());
        }
        let summary = self.store.get_agent(agent_id).await?;
        if principal.sees(&summary.agent.tenant) { Ok(()) } else { Err(hidden_agent(agent_id)) }
    }

    /// Checks that `principal` may see `run_id` (through its agent's tenant).
    ///
    /// Errors: NOT_FOUND (worded as for a missing run) when the run is missing or its agent
    /// belongs to another tenant; the store's.
    pub async fn run_in_scope(&self, principal: &Principal, run_id: RunId) -> Result<()> {
        if principal.tenant.is_none() {
            return Ok(());
        }
        let run = self.store.get_run(run_id).await?;
        match self.agent_in_scope(principal, run.agent_id).await {
            Err(HubError::Store(agentry_store::Error::NotFound { .. })) => Err(hidden_run(run_id)),
            other => other,
        }
    }

    /// Checks that `principal` may see the agent or run a trace names (`agent_id` first).
    ///
    /// Errors: as [`Hub::agent_in_scope`] and [`Hub::run_in_scope`].
    pub async fn trace_in_scope(
        &self,
        principal: &Principal,
        agent_id: Option<AgentId>,
        run_id: Option<RunId>,
    ) -> Result<()> {
        match (agent_id, run_id) {
            (Some(agent_id), _) => self.agent_in_scope(principal, agent_id).await,
            (None, Some(run_id)) => self.run_in_scope(principal, run_id).await,
            (None, None) => Ok(()),
        }
    }

    /// Keeps of `approvals` those `principal` may see (each through its agent's tenant, one read
    /// per distinct agent).
    ///
    /// Errors: the store's.
    pub async fn approvals_in_scope(
        &self,
        principal: &Principal,
        approvals: Vec<agentry_core::approval::Approval>,
    ) -> Result<Vec<agentry_core::approval::Approval>> {
        if principal.tenant.is_none() {
            return Ok(approvals);
        }
        let mut visible: BTreeMap<AgentId, bool> = BTreeMap::new();
        let mut kept = Vec::with_capacity(approvals.len());
        for approval in approvals {
            let sees = match visible.get(&approval.agent_id) {
                Some(sees) => *sees,
                None => {
                    let sees = match self.agent_in_scope(principal, approval.agent_id).await {
                        Ok(()) => true,
                        Err(HubError::Store(agentry_store::Error::NotFound { .. })) => false,
                        Err(error) => return Err(error),
                    };
                    visible.insert(approval.agent_id, sees);
                    sees
                }
            };
            if sees {
                kept.push(approval);
            }
        }
        Ok(kept)
    }
}

impl Hub {
    /// Admits new work of `tenant` under its limits ([`crate::auth::TenantPolicy`]): `agents`
    /// more agents and `runs` more active runs. Reads the tenant's usage only when it has a
    /// limit.
    ///
    /// Errors: RESOURCE_EXHAUSTED naming the limit, the tenant, its usage and the setting.
    pub async fn admit(&self, tenant: &str, agents: u64, runs: u64) -> Result<()> {
        let policy = self.auth.tenant_policy(tenant);
        let checks_agents = policy.max_agents > 0 && agents > 0;
        let checks_runs = policy.max_active_runs > 0 && runs > 0;
        if !checks_agents && !checks_runs {
            return Ok(());
        }
        let usage = self.store.tenant_usage(tenant).await?;
        if checks_agents && usage.agents + agents > policy.max_agents {
            return Err(HubError::ResourceExhausted(format!(
                "tenant {tenant} has {} of its {} agents (tenant-max-agents, or max-agents in the auth file)",
                usage.agents, policy.max_agents
            )));
        }
        if checks_runs && usage.active_runs + runs > policy.max_active_runs {
            return Err(HubError::ResourceExhausted(format!(
                "tenant {tenant} has {} of its {} active runs (tenant-max-active-runs, or max-active-runs in the \
                 auth file); retry when a run ends",
                usage.active_runs, policy.max_active_runs
            )));
        }
        Ok(())
    }

    /// Returns `requested` restricted to `tenant`'s node pool ([`pool_selector`]).
    ///
    /// Errors: PERMISSION_DENIED for a selector outside the pool.
    pub fn pool_of(&self, tenant: &str, requested: BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
        let policy = self.auth.tenant_policy(tenant);
        pool_selector(tenant, &policy.node_selector, requested)
    }
}

/// Returns `requested` restricted to a tenant's node pool: the pool's labels are added to the
/// spec's node selector; a selector that names a pool label with another value is refused.
///
/// Errors: PERMISSION_DENIED naming the label, the tenant and its pool.
pub fn pool_selector(
    tenant: &str,
    pool: &BTreeMap<String, String>,
    mut requested: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    for (key, value) in pool {
        match requested.get(key) {
            Some(asked) if asked != value => {
                return Err(HubError::PermissionDenied(format!(
                    "node_selector {key}={asked} is outside tenant {tenant}'s node pool ({key}={value})"
                )));
            }
            _ => {
                requested.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
    }

    #[test]
    fn a_pool_adds_its_labels_and_refuses_a_conflicting_selector() {
        let pool = labels(&[("pool", "acme")]);
        let merged = pool_selector("acme", &pool, labels(&[("gpu", "a100")])).unwrap();
        assert_eq!(merged, labels(&[("gpu", "a100"), ("pool", "acme")]));
        assert_eq!(pool_selector("acme", &pool, labels(&[("pool", "acme")])).unwrap(), pool);
        let error = pool_selector("acme", &pool, labels(&[("pool", "globex")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "permission denied: node_selector pool=globex is outside tenant acme's node pool (pool=acme)"
        );
    }

    #[test]
    fn no_pool_leaves_the_selector_alone() {
        let requested = labels(&[("zone", "eu")]);
        assert_eq!(pool_selector("acme", &BTreeMap::new(), requested.clone()).unwrap(), requested);
    }
}
