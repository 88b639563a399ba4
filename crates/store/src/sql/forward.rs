//! Forwarding of the [`crate::Store`] trait to [`super::SqlStore`].
//!
//! The trait is implemented per backend type (not once, generically) so that the compiler proves
//! the futures `Send` for a concrete database rather than for every possible one.

/// Implements [`crate::Store`] for a backend type with a field `inner: SqlStore<_>` and the
/// inherent methods `write_agent`, `read_run_context`, `write_commit` and `write_assignments`
/// (where a backend has a faster form of the shared code: PostgreSQL's single statements).
macro_rules! forward_store {
    ($backend:ty) => {
        #[async_trait::async_trait]
        impl $crate::Store for $backend {
            async fn create_agent(
                &self,
                agent: $crate::NewAgent,
                first_run: Option<$crate::NewRun>,
            ) -> $crate::Result<(agentry_core::Agent, Option<agentry_core::Run>)> {
                self.write_agent(agent, first_run).await
            }
            async fn get_agent(&self, agent_id: agentry_core::AgentId) -> $crate::Result<$crate::AgentSummary> {
                self.inner.get_agent(agent_id).await
            }
            async fn list_agents(&self, query: &$crate::AgentQuery) -> $crate::Result<Vec<$crate::AgentSummary>> {
                self.inner.list_agents(query).await
            }
            async fn create_run(
                &self,
                agent_id: agentry_core::AgentId,
                run: $crate::NewRun,
            ) -> $crate::Result<agentry_core::Run> {
                self.inner.create_run(agent_id, run).await
            }
            async fn get_run(&self, run_id: agentry_core::RunId) -> $crate::Result<agentry_core::Run> {
                self.inner.get_run(run_id).await
            }
            async fn active_runs(&self, agent_id: agentry_core::AgentId) -> $crate::Result<Vec<agentry_core::Run>> {
                self.inner.active_runs(agent_id).await
            }
            async fn placeable_runs(&self, limit: u32) -> $crate::Result<Vec<$crate::PlaceableRun>> {
                self.inner.placeable_runs(limit).await
            }
            async fn set_wait_reason(
                &self,
                run_id: agentry_core::RunId,
                epoch: u64,
                reason: Option<String>,
            ) -> $crate::Result<()> {
                self.inner.set_wait_reason(run_id, epoch, reason).await
            }
            async fn run_counts(&self) -> $crate::Result<Vec<$crate::RunCount>> {
                self.inner.run_counts().await
            }
            async fn node_loads(&self) -> $crate::Result<Vec<(agentry_core::NodeId, u32)>> {
                self.inner.node_loads().await
            }
            async fn running_loads(&self) -> $crate::Result<Vec<(agentry_core::NodeId, u32)>> {
                self.inner.running_loads().await
            }
            async fn release_node_runs(
                &self,
                node_id: agentry_core::NodeId,
                scope: $crate::ReleaseScope,
                reason: &str,
            ) -> $crate::Result<Vec<agentry_core::Run>> {
                self.inner.release_node_runs(node_id, scope, reason).await
            }
            async fn control_run(
                &self,
                run_id: agentry_core::RunId,
                control: $crate::RunControl,
            ) -> $crate::Result<agentry_core::Run> {
                self.inner.control_run(run_id, control).await
            }
            async fn revoked_runs(
                &self,
                node_id: agentry_core::NodeId,
                leases: &[(agentry_core::RunId, u64)],
            ) -> $crate::Result<Vec<agentry_core::RunId>> {
                self.inner.revoked_runs(node_id, leases).await
            }
            async fn expire_nodes(&self, cutoff_ms: i64) -> $crate::Result<Vec<agentry_core::NodeInfo>> {
                self.inner.expire_nodes(cutoff_ms).await
            }
            async fn try_lead(&self) -> $crate::Result<Option<Box<dyn $crate::Leadership>>> {
                self.acquire_leadership().await
            }
            async fn assign_run(
                &self,
                run_id: agentry_core::RunId,
                node_id: agentry_core::NodeId,
                expected_epoch: u64,
            ) -> $crate::Result<agentry_core::Run> {
                self.inner.assign_run(run_id, node_id, expected_epoch).await
            }
            async fn assign_runs(
                &self,
                assignments: &[(agentry_core::RunId, agentry_core::NodeId, u64)],
            ) -> $crate::Result<Vec<agentry_core::Run>> {
                self.write_assignments(assignments).await
            }
            async fn unassign_run(&self, run_id: agentry_core::RunId, epoch: u64) -> $crate::Result<()> {
                self.inner.unassign_run(run_id, epoch).await
            }
            async fn stale_assignments(
                &self,
                older_than_ms: i64,
                limit: u32,
            ) -> $crate::Result<Vec<agentry_core::Run>> {
                self.inner.stale_assignments(older_than_ms, limit).await
            }
            async fn revoke_assignment(
                &self,
                run_id: agentry_core::RunId,
                epoch: u64,
            ) -> $crate::Result<Option<agentry_core::Run>> {
                self.inner.revoke_assignment(run_id, epoch).await
            }
            async fn load_run(&self, run_id: agentry_core::RunId, epoch: u64) -> $crate::Result<$crate::RunContext> {
                self.read_run_context(run_id, epoch).await
            }
            async fn commit(&self, batch: $crate::CommitBatch) -> $crate::Result<$crate::CommitOutcome> {
                self.write_commit(batch).await
            }
            async fn events_after(
                &self,
                agent_id: agentry_core::AgentId,
                run_id: Option<agentry_core::RunId>,
                after_seq: u64,
                limit: u32,
            ) -> $crate::Result<Vec<agentry_core::TraceEvent>> {
                self.inner.events_after(agent_id, run_id, after_seq, limit).await
            }
            async fn register_node(&self, node: agentry_core::NodeInfo) -> $crate::Result<()> {
                self.inner.register_node(node).await
            }
            async fn heartbeat(
                &self,
                node_id: agentry_core::NodeId,
                running: u32,
                now_ms: i64,
            ) -> $crate::Result<agentry_core::NodeInfo> {
                self.inner.heartbeat(node_id, running, now_ms).await
            }
            async fn set_node_state(
                &self,
                node_id: agentry_core::NodeId,
                state: agentry_core::NodeState,
            ) -> $crate::Result<agentry_core::NodeInfo> {
                self.inner.set_node_state(node_id, state).await
            }
            async fn list_nodes(&self) -> $crate::Result<Vec<agentry_core::NodeInfo>> {
                self.inner.list_nodes().await
            }
            async fn get_budget(&self, id: &str) -> $crate::Result<agentry_core::budget::BudgetState> {
                self.inner.get_budget(id).await
            }
            async fn raise_budget(
                &self,
                id: &str,
                add: agentry_core::budget::Spend,
            ) -> $crate::Result<agentry_core::budget::BudgetState> {
                self.inner.raise_budget(id, add).await
            }
            async fn cost_report(
                &self,
                by: $crate::CostGrouping,
                since_ms: Option<i64>,
                bucket_ms: Option<i64>,
                tenant: Option<&str>,
            ) -> $crate::Result<Vec<$crate::CostRow>> {
                self.inner.cost_report(by, since_ms, bucket_ms, tenant).await
            }
            async fn list_approvals(
                &self,
                run_id: Option<agentry_core::RunId>,
                pending_only: bool,
                limit: u32,
            ) -> $crate::Result<Vec<agentry_core::approval::Approval>> {
                self.inner.list_approvals(run_id, pending_only, limit).await
            }
            async fn expired_approvals(&self, now_ms: i64) -> $crate::Result<Vec<(agentry_core::RunId, String)>> {
                self.inner.expired_approvals(now_ms).await
            }
            async fn import_trace(
                &self,
                import: $crate::TraceImport,
            ) -> $crate::Result<(agentry_core::Agent, Vec<agentry_core::Run>)> {
                self.inner.import_trace(import).await
            }
            async fn fork_agent(&self, plan: $crate::ForkPlan) -> $crate::Result<$crate::Forked> {
                self.inner.fork_agent(plan).await
            }
            async fn list_messages(
                &self,
                agent_id: agentry_core::AgentId,
            ) -> $crate::Result<Vec<$crate::StoredMessage>> {
                self.inner.list_messages(agent_id).await
            }
            async fn agent_tree(&self, agent_id: agentry_core::AgentId) -> $crate::Result<Vec<$crate::TreeEntry>> {
                self.inner.agent_tree(agent_id).await
            }
            async fn wake_waiting_parents(&self) -> $crate::Result<Vec<agentry_core::Run>> {
                self.inner.wake_waiting_parents().await
            }
            async fn append_audit(&self, records: &[$crate::AuditRecord]) -> $crate::Result<()> {
                self.inner.append_audit(records).await
            }
            async fn list_audit(&self, query: &$crate::AuditQuery) -> $crate::Result<Vec<$crate::AuditRecord>> {
                self.inner.list_audit(query).await
            }
            async fn tenant_usage(&self, tenant: &str) -> $crate::Result<$crate::TenantUsage> {
                self.inner.tenant_usage(tenant).await
            }
        }
    };
}

pub(crate) use forward_store;
