//! [`FaultyStore`]: a [`Store`] that forwards to a real one and panics in a chosen method, once,
//! when armed — to prove that the hub's supervised tasks survive (or stop the process, per their
//! policy) when a store call blows up mid-pass.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use agentry_core::budget::{BudgetState, Spend};
use agentry_core::{Agent, AgentId, NodeId, NodeInfo, NodeState, Run, RunId, TraceEvent};
use agentry_store::Store;

/// A store that panics on the next call of one method after [`FaultyStore::panic_once`].
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    armed: Mutex<Option<&'static str>>,
}

impl FaultyStore {
    /// Returns a store forwarding every call to `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner, armed: Mutex::new(None) }
    }

    /// Makes the next call of `method` (a [`Store`] method name) panic with `injected panic in
    /// METHOD`; later calls forward again.
    pub fn panic_once(&self, method: &'static str) {
        *self.armed.lock().unwrap_or_else(PoisonError::into_inner) = Some(method);
    }

    /// Returns whether an armed fault has not fired yet.
    pub fn is_armed(&self) -> bool {
        self.armed.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    fn fault(&self, method: &str) {
        let fire = {
            let mut armed = self.armed.lock().unwrap_or_else(PoisonError::into_inner);
            let fire = *armed == Some(method);
            if fire {
                *armed = None;
            }
            fire
        };
        if fire {
            panic!("injected panic in {method}");
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn create_agent(
        &self,
        agent: agentry_store::NewAgent,
        first_run: Option<agentry_store::NewRun>,
    ) -> agentry_store::Result<(Agent, Option<Run>)> {
        self.fault("create_agent");
        self.inner.create_agent(agent, first_run).await
    }
    async fn get_agent(&self, agent_id: AgentId) -> agentry_store::Result<agentry_store::AgentSummary> {
        self.fault("get_agent");
        self.inner.get_agent(agent_id).await
    }
    async fn list_agents(
        &self,
        query: &agentry_store::AgentQuery,
    ) -> agentry_store::Result<Vec<agentry_store::AgentSummary>> {
        self.fault("list_agents");
        self.inner.list_agents(query).await
    }
    async fn create_run(&self, agent_id: AgentId, run: agentry_store::NewRun) -> agentry_store::Result<Run> {
        self.fault("create_run");
        self.inner.create_run(agent_id, run).await
    }
    async fn get_run(&self, run_id: RunId) -> agentry_store::Result<Run> {
        self.fault("get_run");
        self.inner.get_run(run_id).await
    }
    async fn active_runs(&self, agent_id: AgentId) -> agentry_store::Result<Vec<Run>> {
        self.fault("active_runs");
        self.inner.active_runs(agent_id).await
    }
    async fn placeable_runs(&self, limit: u32) -> agentry_store::Result<Vec<agentry_store::PlaceableRun>> {
        self.fault("placeable_runs");
        self.inner.placeable_runs(limit).await
    }
    async fn set_wait_reason(&self, run_id: RunId, epoch: u64, reason: Option<String>) -> agentry_store::Result<()> {
        self.fault("set_wait_reason");
        self.inner.set_wait_reason(run_id, epoch, reason).await
    }
    async fn run_counts(&self) -> agentry_store::Result<Vec<agentry_store::RunCount>> {
        self.fault("run_counts");
        self.inner.run_counts().await
    }
    async fn node_loads(&self) -> agentry_store::Result<Vec<(NodeId, u32)>> {
        self.fault("node_loads");
        self.inner.node_loads().await
    }
    async fn running_loads(&self) -> agentry_store::Result<Vec<(NodeId, u32)>> {
        self.fault("running_loads");
        self.inner.running_loads().await
    }
    async fn release_node_runs(
        &self,
        node_id: NodeId,
        scope: agentry_store::ReleaseScope,
        reason: &str,
    ) -> agentry_store::Result<Vec<Run>> {
        self.fault("release_node_runs");
        self.inner.release_node_runs(node_id, scope, reason).await
    }
    async fn control_run(&self, run_id: RunId, control: agentry_store::RunControl) -> agentry_store::Result<Run> {
        self.fault("control_run");
        self.inner.control_run(run_id, control).await
    }
    async fn revoked_runs(&self, node_id: NodeId, leases: &[(RunId, u64)]) -> agentry_store::Result<Vec<RunId>> {
        self.fault("revoked_runs");
        self.inner.revoked_runs(node_id, leases).await
    }
    async fn expire_nodes(&self, cutoff_ms: i64) -> agentry_store::Result<Vec<NodeInfo>> {
        self.fault("expire_nodes");
        self.inner.expire_nodes(cutoff_ms).await
    }
    async fn try_lead(&self) -> agentry_store::Result<Option<Box<dyn agentry_store::Leadership>>> {
        self.fault("try_lead");
        self.inner.try_lead().await
    }
    async fn assign_run(&self, run_id: RunId, node_id: NodeId, expected_epoch: u64) -> agentry_store::Result<Run> {
        self.fault("assign_run");
        self.inner.assign_run(run_id, node_id, expected_epoch).await
    }
    async fn assign_runs(&self, assignments: &[(RunId, NodeId, u64)]) -> agentry_store::Result<Vec<Run>> {
        self.fault("assign_runs");
        self.inner.assign_runs(assignments).await
    }
    async fn unassign_run(&self, run_id: RunId, epoch: u64) -> agentry_store::Result<()> {
        self.fault("unassign_run");
        self.inner.unassign_run(run_id, epoch).await
    }
    async fn stale_assignments(&self, older_than_ms: i64, limit: u32) -> agentry_store::Result<Vec<Run>> {
        self.fault("stale_assignments");
        self.inner.stale_assignments(older_than_ms, limit).await
    }
    async fn revoke_assignment(&self, run_id: RunId, epoch: u64) -> agentry_store::Result<Option<Run>> {
        self.fault("revoke_assignment");
        self.inner.revoke_assignment(run_id, epoch).await
    }
    async fn load_run(&self, run_id: RunId, epoch: u64) -> agentry_store::Result<agentry_store::RunContext> {
        self.fault("load_run");
        self.inner.load_run(run_id, epoch).await
    }
    async fn commit(&self, batch: agentry_store::CommitBatch) -> agentry_store::Result<agentry_store::CommitOutcome> {
        self.fault("commit");
        self.inner.commit(batch).await
    }
    async fn events_after(
        &self,
        agent_id: AgentId,
        run_id: Option<RunId>,
        after_seq: u64,
        limit: u32,
    ) -> agentry_store::Result<Vec<TraceEvent>> {
        self.fault("events_after");
        self.inner.events_after(agent_id, run_id, after_seq, limit).await
    }
    async fn register_node(&self, node: NodeInfo) -> agentry_store::Result<()> {
        self.fault("register_node");
        self.inner.register_node(node).await
    }
    async fn heartbeat(&self, node_id: NodeId, running: u32, now_ms: i64) -> agentry_store::Result<NodeInfo> {
        self.fault("heartbeat");
        self.inner.heartbeat(node_id, running, now_ms).await
    }
    async fn set_node_state(&self, node_id: NodeId, state: NodeState) -> agentry_store::Result<NodeInfo> {
        self.fault("set_node_state");
        self.inner.set_node_state(node_id, state).await
    }
    async fn list_nodes(&self) -> agentry_store::Result<Vec<NodeInfo>> {
        self.fault("list_nodes");
        self.inner.list_nodes().await
    }

    async fn get_budget(&self, id: &str) -> agentry_store::Result<BudgetState> {
        self.fault("get_budget");
        self.inner.get_budget(id).await
    }

    async fn raise_budget(&self, id: &str, add: Spend) -> agentry_store::Result<BudgetState> {
        self.fault("raise_budget");
        self.inner.raise_budget(id, add).await
    }

    async fn cost_report(
        &self,
        by: agentry_store::CostGrouping,
        since_ms: Option<i64>,
        bucket_ms: Option<i64>,
        tenant: Option<&str>,
    ) -> agentry_store::Result<Vec<agentry_store::CostRow>> {
        self.fault("cost_report");
        self.inner.cost_report(by, since_ms, bucket_ms, tenant).await
    }

    async fn list_approvals(
        &self,
        run_id: Option<RunId>,
        pending_only: bool,
        limit: u32,
    ) -> agentry_store::Result<Vec<agentry_core::approval::Approval>> {
        self.fault("list_approvals");
        self.inner.list_approvals(run_id, pending_only, limit).await
    }

    async fn expired_approvals(&self, now_ms: i64) -> agentry_store::Result<Vec<(RunId, String)>> {
        self.fault("expired_approvals");
        self.inner.expired_approvals(now_ms).await
    }

    async fn import_trace(&self, import: agentry_store::TraceImport) -> agentry_store::Result<(Agent, Vec<Run>)> {
        self.fault("import_trace");
        self.inner.import_trace(import).await
    }

    async fn fork_agent(&self, plan: agentry_store::ForkPlan) -> agentry_store::Result<agentry_store::Forked> {
        self.fault("fork_agent");
        self.inner.fork_agent(plan).await
    }

    async fn list_messages(&self, agent_id: AgentId) -> agentry_store::Result<Vec<agentry_store::StoredMessage>> {
        self.fault("list_messages");
        self.inner.list_messages(agent_id).await
    }

    async fn agent_tree(&self, agent_id: AgentId) -> agentry_store::Result<Vec<agentry_store::TreeEntry>> {
        self.fault("agent_tree");
        self.inner.agent_tree(agent_id).await
    }

    async fn wake_waiting_parents(&self) -> agentry_store::Result<Vec<Run>> {
        self.fault("wake_waiting_parents");
        self.inner.wake_waiting_parents().await
    }

    async fn append_audit(&self, records: &[agentry_store::AuditRecord]) -> agentry_store::Result<()> {
        self.fault("append_audit");
        self.inner.append_audit(records).await
    }

    async fn list_audit(
        &self,
        query: &agentry_store::AuditQuery,
    ) -> agentry_store::Result<Vec<agentry_store::AuditRecord>> {
        self.fault("list_audit");
        self.inner.list_audit(query).await
    }

    async fn tenant_usage(&self, tenant: &str) -> agentry_store::Result<agentry_store::TenantUsage> {
        self.fault("tenant_usage");
        self.inner.tenant_usage(tenant).await
    }
}
