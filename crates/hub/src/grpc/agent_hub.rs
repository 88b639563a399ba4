//! `agentry.v1.AgentHub`: the client API.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use agentry_core::budget::Spend;
use agentry_core::{AgentId, NodeId, RunId};
use agentry_proto::convert::types::{agent, trace_event};
use agentry_proto::v1 as pb;
use agentry_proto::v1::agent_hub_server::AgentHub;
use agentry_store::{AgentQuery, AgentSummary, CostGrouping, CostRow, RunControl};

use crate::audit::AuditContext;
use crate::auth::principal;
use crate::hub::{Hub, OnBusy, SpawnCommand};
use crate::trace::TraceRequest;
use crate::validate;

/// Default and largest page of `ListAgents`.
const MAX_LIST_AGENTS: u32 = 1000;
/// Default page of `ListApprovals` (the store caps it at 1000).
const DEFAULT_LIST_APPROVALS: u32 = 100;

/// The `AgentHub` gRPC service over a [`Hub`].
pub struct AgentHubApi {
    hub: Hub,
}

impl AgentHubApi {
    /// Returns the service.
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }
}

type TraceStream = Pin<Box<dyn Stream<Item = Result<pb::TraceResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl AgentHub for AgentHubApi {
    async fn spawn(&self, request: Request<pb::SpawnRequest>) -> Result<Response<pb::SpawnResponse>, Status> {
        let trace_parent = caller_trace_parent(&request);
        let principal = principal(&request);
        let audit = AuditContext::of(&request);
        let request = request.into_inner();
        let mut spec = crate::templates::spawn_spec(&self.hub, request.spec, &request.template, request.vars)?;
        let tenant = principal.spawn_tenant().to_owned();
        spec.node_selector = self.hub.pool_of(&tenant, std::mem::take(&mut spec.node_selector))?;
        if let Some(input) = &request.input {
            validate::input("input", input)?;
        }
        let mut labels: BTreeMap<String, String> = request.labels.into_iter().collect();
        if !request.template.is_empty() {
            labels.insert(crate::templates::TEMPLATE_LABEL.to_owned(), request.template);
        }
        validate::labels("labels", &labels)?;
        let parent_id = validate::optional_id::<AgentId>("parent_id", &request.parent_id)?;
        if let Some(parent_id) = parent_id {
            self.hub.agent_in_scope(&principal, parent_id).await?;
        }
        self.hub.admit(&tenant, 1, u64::from(request.input.is_some())).await?;
        let command = SpawnCommand {
            tenant,
            spec,
            input: request.input,
            labels,
            parent_id,
            idempotency_key: validate::idempotency_key(&request.idempotency_key)?,
            budget: validate::budget(request.max_tokens, request.max_cost_usd)?,
            trace_parent,
        };
        let (agent, run) = self.hub.spawn(command).await?;
        audit.set_target(format!("agent/{}", agent.id));
        Ok(Response::new(pb::SpawnResponse {
            agent_id: agent.id.to_string(),
            run_id: run.map(|run| run.id.to_string()).unwrap_or_default(),
        }))
    }

    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        let trace_parent = caller_trace_parent(&request);
        let principal = principal(&request);
        let audit = AuditContext::of(&request);
        let request = request.into_inner();
        let agent_id = validate::id::<AgentId>("agent_id", &request.agent_id)?;
        audit.set_target(format!("agent/{agent_id}"));
        validate::input("input", &request.input)?;
        self.hub.agent_in_scope(&principal, agent_id).await?;
        self.hub.admit(principal.spawn_tenant(), 0, 1).await?;
        let on_busy = match pb::OnBusy::try_from(request.on_busy) {
            Ok(pb::OnBusy::Unspecified | pb::OnBusy::Enqueue) => OnBusy::Enqueue,
            Ok(pb::OnBusy::Reject) => OnBusy::Reject,
            Ok(pb::OnBusy::Interrupt) => OnBusy::Interrupt,
            Err(_) => return Err(Status::invalid_argument(format!("on_busy: {} is not an OnBusy", request.on_busy))),
        };
        let run = self.hub.send_message(agent_id, request.input, on_busy, trace_parent).await?;
        Ok(Response::new(pb::SendMessageResponse {
            accepted: run.is_some(),
            run_id: run.map(|run| run.id.to_string()).unwrap_or_default(),
        }))
    }

    type TraceStream = TraceStream;

    async fn trace(&self, request: Request<pb::TraceRequest>) -> Result<Response<Self::TraceStream>, Status> {
        let principal = principal(&request);
        let permit = self.hub.trace_streams.acquire(&principal)?;
        let request = request.into_inner();
        let trace_request = TraceRequest {
            agent_id: validate::optional_id("agent_id", &request.agent_id)?,
            run_id: validate::optional_id("run_id", &request.run_id)?,
            after_seq: request.after_seq,
            follow: request.follow,
            include_ephemeral: request.include_ephemeral,
        };
        self.hub.trace_in_scope(&principal, trace_request.agent_id, trace_request.run_id).await?;
        let trace = self.hub.open_trace(trace_request).await?;
        let parent = trace.parent_agent_id.map(|id| id.to_string());
        let stream = trace.events.map(move |item| {
            let _open = &permit;
            item.map(|event| pb::TraceResponse { event: Some(trace_event(&event, parent.as_deref())) })
                .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_agent(&self, request: Request<pb::GetAgentRequest>) -> Result<Response<pb::GetAgentResponse>, Status> {
        let principal = principal(&request);
        let agent_id = validate::id::<AgentId>("agent_id", &request.into_inner().agent_id)?;
        let summary = self.hub.get_agent(agent_id).await?;
        if !principal.sees(&summary.agent.tenant) {
            return Err(crate::tenancy::hidden_agent(agent_id).into());
        }
        let budget = self.hub.budget_of(&summary.agent).await?;
        let agent = pb::Agent { budget: budget.as_ref().map(pb::Budget::from), ..agent_summary(&summary) };
        Ok(Response::new(pb::GetAgentResponse { agent: Some(agent) }))
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let principal = principal(&request);
        let request = request.into_inner();
        let query = AgentQuery {
            tenant: principal.tenant,
            limit: match request.limit {
                0 => MAX_LIST_AGENTS,
                limit => limit.min(MAX_LIST_AGENTS),
            },
            statuses: validate::run_statuses("statuses", &request.statuses)?,
            dead_lettered: request.dead_lettered,
            text: validate::agent_search(&request.query)?,
            before: validate::page_token(&request.page_token)?,
        };
        let page = self.hub.list_agents(query).await?;
        Ok(Response::new(pb::ListAgentsResponse {
            agents: page.agents.iter().map(agent_summary).collect(),
            next_page_token: page.next.map(|agent_id| agent_id.to_string()).unwrap_or_default(),
        }))
    }

    async fn get_run(&self, request: Request<pb::GetRunRequest>) -> Result<Response<pb::GetRunResponse>, Status> {
        let principal = principal(&request);
        let run_id = validate::id::<RunId>("run_id", &request.into_inner().run_id)?;
        self.hub.run_in_scope(&principal, run_id).await?;
        let run = self.hub.get_run(run_id).await?;
        Ok(Response::new(pb::GetRunResponse { run: Some((&run).into()) }))
    }

    async fn cordon_node(
        &self,
        request: Request<pb::CordonNodeRequest>,
    ) -> Result<Response<pb::CordonNodeResponse>, Status> {
        let audit = AuditContext::of(&request);
        let node_id = validate::id::<NodeId>("node_id", &request.into_inner().node_id)?;
        audit.set_target(format!("node/{node_id}"));
        let node = self.hub.cordon(node_id).await?;
        Ok(Response::new(pb::CordonNodeResponse { node: Some((&node).into()) }))
    }

    async fn uncordon_node(
        &self,
        request: Request<pb::UncordonNodeRequest>,
    ) -> Result<Response<pb::UncordonNodeResponse>, Status> {
        let audit = AuditContext::of(&request);
        let node_id = validate::id::<NodeId>("node_id", &request.into_inner().node_id)?;
        audit.set_target(format!("node/{node_id}"));
        let node = self.hub.uncordon(node_id).await?;
        Ok(Response::new(pb::UncordonNodeResponse { node: Some((&node).into()) }))
    }

    async fn drain_node(
        &self,
        request: Request<pb::DrainNodeRequest>,
    ) -> Result<Response<pb::DrainNodeResponse>, Status> {
        let audit = AuditContext::of(&request);
        let node_id = validate::id::<NodeId>("node_id", &request.into_inner().node_id)?;
        audit.set_target(format!("node/{node_id}"));
        let (node, moved) = self.hub.drain(node_id).await?;
        Ok(Response::new(pb::DrainNodeResponse { node: Some((&node).into()), moved_runs: moved as u32 }))
    }

    async fn cancel_run(
        &self,
        request: Request<pb::CancelRunRequest>,
    ) -> Result<Response<pb::CancelRunResponse>, Status> {
        let (principal, audit) = (principal(&request), AuditContext::of(&request));
        let request = request.into_inner();
        let run_id = validate::id::<RunId>("run_id", &request.run_id)?;
        audit.set_target(format!("run/{run_id}"));
        self.hub.run_in_scope(&principal, run_id).await?;
        let reason = validate::reason(&request.reason, "cancelled by an operator")?;
        let run = self.hub.control_run(run_id, RunControl::Cancel { reason }).await?;
        Ok(Response::new(pb::CancelRunResponse { run: Some((&run).into()) }))
    }

    async fn pause_run(&self, request: Request<pb::PauseRunRequest>) -> Result<Response<pb::PauseRunResponse>, Status> {
        let (principal, audit) = (principal(&request), AuditContext::of(&request));
        let request = request.into_inner();
        let run_id = validate::id::<RunId>("run_id", &request.run_id)?;
        audit.set_target(format!("run/{run_id}"));
        self.hub.run_in_scope(&principal, run_id).await?;
        let reason = validate::reason(&request.reason, "paused by an operator")?;
        let run = self.hub.control_run(run_id, RunControl::Pause { reason }).await?;
        Ok(Response::new(pb::PauseRunResponse { run: Some((&run).into()) }))
    }

    async fn resume_run(
        &self,
        request: Request<pb::ResumeRunRequest>,
    ) -> Result<Response<pb::ResumeRunResponse>, Status> {
        let (principal, audit) = (principal(&request), AuditContext::of(&request));
        let request = request.into_inner();
        let run_id = validate::id::<RunId>("run_id", &request.run_id)?;
        audit.set_target(format!("run/{run_id}"));
        self.hub.run_in_scope(&principal, run_id).await?;
        let add = validate::budget_raise(request.add_tokens, request.add_cost_usd)?;
        if add != Spend::default() {
            self.hub.raise_budget(run_id, add).await?;
        }
        let run = self.hub.control_run(run_id, RunControl::Resume).await?;
        Ok(Response::new(pb::ResumeRunResponse { run: Some((&run).into()) }))
    }

    async fn approve(&self, request: Request<pb::ApproveRequest>) -> Result<Response<pb::ApproveResponse>, Status> {
        let (principal, audit) = (principal(&request), AuditContext::of(&request));
        let request = request.into_inner();
        let run_id = validate::id::<RunId>("run_id", &request.run_id)?;
        audit.set_target(format!("run/{run_id}"));
        self.hub.run_in_scope(&principal, run_id).await?;
        let tool_call_id = validate::tool_call_id(&request.tool_call_id)?;
        let reason = validate::reason(&request.reason, "")?;
        let actor = match principal.method {
            // An authenticated caller decides as itself, whatever `actor` says.
            crate::auth::AuthMethod::Token | crate::auth::AuthMethod::Jwt => principal.actor.clone(),
            crate::auth::AuthMethod::None => validate::actor(&request.actor)?.to_owned(),
        };
        let actor = actor.as_str();
        let run = self.hub.decide_approval(run_id, tool_call_id, request.approved, actor, reason).await?;
        Ok(Response::new(pb::ApproveResponse { run: Some((&run).into()) }))
    }

    async fn list_approvals(
        &self,
        request: Request<pb::ListApprovalsRequest>,
    ) -> Result<Response<pb::ListApprovalsResponse>, Status> {
        let principal = principal(&request);
        let request = request.into_inner();
        let run_id = validate::optional_id::<RunId>("run_id", &request.run_id)?;
        if let Some(run_id) = run_id {
            self.hub.run_in_scope(&principal, run_id).await?;
        }
        let limit = if request.limit == 0 { DEFAULT_LIST_APPROVALS } else { request.limit };
        let approvals = self.hub.list_approvals(run_id, request.pending_only, limit).await?;
        let approvals = self.hub.approvals_in_scope(&principal, approvals).await?;
        Ok(Response::new(pb::ListApprovalsResponse { approvals: approvals.iter().map(pb::Approval::from).collect() }))
    }

    async fn list_nodes(
        &self,
        _request: Request<pb::ListNodesRequest>,
    ) -> Result<Response<pb::ListNodesResponse>, Status> {
        let nodes = self.hub.list_nodes().await?;
        Ok(Response::new(pb::ListNodesResponse { nodes: nodes.iter().map(pb::Node::from).collect() }))
    }

    async fn get_cost(&self, request: Request<pb::GetCostRequest>) -> Result<Response<pb::GetCostResponse>, Status> {
        let principal = principal(&request);
        let request = request.into_inner();
        let by = match pb::CostGrouping::try_from(request.by) {
            Ok(pb::CostGrouping::Unspecified | pb::CostGrouping::Agent) => CostGrouping::Agent,
            Ok(pb::CostGrouping::Model) => CostGrouping::Model,
            Ok(pb::CostGrouping::Day) => CostGrouping::Day,
            Ok(pb::CostGrouping::Tenant) => CostGrouping::Tenant,
            Err(_) => return Err(Status::invalid_argument(format!("by: {} is not a CostGrouping", request.by))),
        };
        let window = request.window_ms.map(Duration::from_millis);
        let bucket = (request.bucket_ms != 0).then(|| Duration::from_millis(request.bucket_ms));
        let rows = self.hub.cost_report(by, window, bucket, principal.tenant.as_deref()).await?;
        Ok(Response::new(pb::GetCostResponse { rows: rows.into_iter().map(cost_row).collect() }))
    }

    async fn import_trace(
        &self,
        request: Request<pb::ImportTraceRequest>,
    ) -> Result<Response<pb::ImportTraceResponse>, Status> {
        let (principal, audit) = (principal(&request), AuditContext::of(&request));
        let request = request.into_inner();
        let tenant = principal.spawn_tenant().to_owned();
        self.hub.admit(&tenant, 1, 0).await?;
        let command = crate::import::ImportCommand {
            tenant,
            source: request.source,
            labels: request.labels.into_iter().collect(),
            agent_id: Some(request.agent_id).filter(|agent_id| !agent_id.is_empty()),
            events: request.events.into_iter().map(source_event).collect(),
        };
        let imported = self.hub.import_trace(command).await?;
        audit.set_target(format!("agent/{}", imported.agent.id));
        Ok(Response::new(pb::ImportTraceResponse {
            agent_id: imported.agent.id.to_string(),
            run_ids: imported.runs.iter().map(|run| run.id.to_string()).collect(),
            events: imported.events,
        }))
    }

    async fn list_templates(
        &self,
        request: Request<pb::ListTemplatesRequest>,
    ) -> Result<Response<pb::ListTemplatesResponse>, Status> {
        crate::templates::list_templates(&self.hub, request.into_inner()).map(Response::new)
    }

    async fn fork(&self, request: Request<pb::ForkRequest>) -> Result<Response<pb::ForkResponse>, Status> {
        let trace_parent = caller_trace_parent(&request);
        let (principal, audit) = (principal(&request), AuditContext::of(&request));
        crate::fork::fork(&self.hub, &principal, &audit, request.into_inner(), trace_parent).await.map(Response::new)
    }

    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        let principal = principal(&request);
        crate::fork::list_messages(&self.hub, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn get_tree(&self, request: Request<pb::GetTreeRequest>) -> Result<Response<pb::GetTreeResponse>, Status> {
        let principal = principal(&request);
        crate::tree::get_tree(&self.hub, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let principal = crate::auth::principal(&request);
        crate::audit::list_audit(&self.hub, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn who_am_i(&self, request: Request<pb::WhoAmIRequest>) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let principal = crate::auth::principal(&request);
        Ok(Response::new(pb::WhoAmIResponse {
            actor: principal.actor,
            role: principal.role.as_str().to_owned(),
            tenant: principal.tenant.unwrap_or_default(),
            method: principal.method.as_str().to_owned(),
        }))
    }
}

fn agent_summary(summary: &AgentSummary) -> pb::Agent {
    agent(&summary.agent, summary.latest_run.as_ref())
}

fn cost_row(row: CostRow) -> pb::CostRow {
    pb::CostRow {
        key: row.key,
        calls: row.calls,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        total_tokens: row.total_tokens,
        cost_usd: row.cost_usd,
        bucket_start: row.bucket_start_ms.map(agentry_proto::convert::timestamp),
    }
}

/// Returns the caller's W3C trace context from its `traceparent` metadata, if valid.
fn caller_trace_parent<T>(request: &Request<T>) -> Option<agentry_core::TraceParent> {
    agentry_telemetry::propagation::extract_metadata(request.metadata())
}

/// Returns an event to import as the hub checks it ([`crate::import::plan`]); no time: `None`.
fn source_event(event: pb::ImportedEvent) -> crate::import::SourceEvent {
    crate::import::SourceEvent {
        seq: event.seq,
        ts_ms: event.ts.as_ref().map(|ts| agentry_proto::convert::timestamp_ms(Some(ts))),
        kind: event.r#type,
        agent_id: event.agent_id,
        run_id: event.run_id,
        data: event.data,
    }
}
