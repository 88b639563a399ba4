//! `agentry.v1.NodeService`: the API nodes use.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use agentry_core::budget::BudgetDecision;
use agentry_core::limits::MAX_NODE_SLOTS;
use agentry_core::{AgentId, CommitBatch, Heartbeat, NodeId, RunId};
use agentry_proto::convert::node_api::{lease_response, leases_from};
use agentry_proto::v1 as pb;
use agentry_proto::v1::node_service_server::NodeService;

use crate::audit::AuditContext;
use crate::auth::NodePeer;
use crate::error::HubError;
use crate::hub::Hub;
use crate::leases::Inbound;
use crate::node_identity::check_join;
use crate::validate;

/// Most leases one heartbeat may carry: one per slot.
const MAX_LEASES: usize = MAX_NODE_SLOTS as usize;

type LeaseStream = Pin<Box<dyn Stream<Item = Result<pb::LeaseResponse, Status>> + Send + 'static>>;

/// The `NodeService` gRPC service over a [`Hub`].
pub struct NodeServiceApi {
    hub: Hub,
}

impl NodeServiceApi {
    /// Returns the service.
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }
}

#[tonic::async_trait]
impl NodeService for NodeServiceApi {
    async fn join(&self, request: Request<pb::JoinRequest>) -> Result<Response<pb::JoinResponse>, Status> {
        let peer = request.extensions().get::<NodePeer>().cloned();
        let audit = AuditContext::of(&request);
        let request = request.into_inner();
        check_join(peer.as_ref(), &request.name)?;
        let name = request.name.clone();
        let membership = self.hub.join(request.name, request.slots, request.labels.into_iter().collect()).await?;
        self.hub.node_names.remember(membership.node_id, &name);
        audit.set_target(format!("node/{} ({name})", membership.node_id));
        let config = self.hub.config();
        Ok(Response::new(pb::JoinResponse {
            node_id: membership.node_id.to_string(),
            lease_ttl_ms: config.lease_ttl.as_millis() as u64,
            heartbeat_interval_ms: config.heartbeat_interval.as_millis() as u64,
            subject: membership.subject,
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let peer = request.extensions().get::<NodePeer>().cloned();
        let request = request.into_inner();
        let node_id = validate::id::<NodeId>("node_id", &request.node_id)?;
        self.hub.check_node_peer(peer.as_ref(), node_id).await?;
        check_lease_count(request.leases.len())?;
        let leases = leases_from(&request.leases).map_err(HubError::from)?;
        let revoked = self.hub.heartbeat(node_id, request.running, &leases).await?;
        Ok(Response::new(pb::HeartbeatResponse { revoked_run_ids: revoked.iter().map(ToString::to_string).collect() }))
    }

    type LeaseStream = LeaseStream;

    async fn lease(
        &self,
        request: Request<Streaming<pb::LeaseRequest>>,
    ) -> Result<Response<Self::LeaseStream>, Status> {
        let peer = request.extensions().get::<NodePeer>().cloned();
        let hub = self.hub.clone();
        let inbound = request.into_inner().then(move |item| {
            let (hub, peer) = (hub.clone(), peer.clone());
            async move {
                let beat = match item {
                    Ok(beat) => beat,
                    Err(status) => return Inbound::Broken(status.to_string()),
                };
                if let Err(error) = check_lease_count(beat.leases.len()) {
                    return Inbound::Invalid(error);
                }
                let beat = match Heartbeat::try_from(beat) {
                    Ok(beat) => beat,
                    Err(error) => return Inbound::Invalid(error.into()),
                };
                match hub.check_node_peer(peer.as_ref(), beat.node_id).await {
                    Ok(()) => Inbound::Beat(beat),
                    Err(error) => Inbound::Invalid(error),
                }
            }
        });
        let answers = self.hub.serve_lease(inbound).map(|answer| match answer {
            Ok(revoked) => Ok(lease_response(&revoked)),
            Err(error) => Err(Status::from(error)),
        });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn load_run(&self, request: Request<pb::LoadRunRequest>) -> Result<Response<pb::LoadRunResponse>, Status> {
        let request = request.into_inner();
        let run_id = validate::id::<RunId>("run_id", &request.run_id)?;
        let context = self.hub.load_run(run_id, request.epoch).await?;
        let followed = self.hub.is_followed_ephemerally(context.run.agent_id);
        Ok(Response::new(pb::LoadRunResponse {
            followed,
            run: Some((&context.run).into()),
            spec: Some((&context.agent.spec).into()),
            messages: context.messages.iter().map(crate::fork::wire_message).collect(),
            started_tool_call_ids: context.started_tool_call_ids,
            budgeted: context.agent.budget_id.is_some(),
            approval_decisions: context
                .approvals
                .iter()
                .map(|decision| serde_json::to_string(decision).unwrap_or_default())
                .collect(),
            summary: context
                .summary
                .map(|summary| pb::ConversationSummary { covers: summary.covers, text: summary.text }),
            delegations: context.delegations.iter().map(pb::Delegation::from).collect(),
            delegated: context.agent.parent_id.is_some(),
        }))
    }

    async fn commit(&self, request: Request<pb::CommitRequest>) -> Result<Response<pb::CommitResponse>, Status> {
        let request = request.into_inner();
        validate::commit_id(&request.commit_id)?;
        let batch = CommitBatch::try_from(request).map_err(HubError::from)?;
        let outcome = self.hub.commit(batch).await?;
        let budget_exceeded = matches!(outcome.budget, Some(BudgetDecision::Exceeded(_)));
        let followed = self.hub.is_followed_ephemerally(outcome.run.agent_id);
        Ok(Response::new(pb::CommitResponse { last_seq: outcome.last_seq, budget_exceeded, followed }))
    }

    async fn publish_tokens(
        &self,
        request: Request<pb::PublishTokensRequest>,
    ) -> Result<Response<pb::PublishTokensResponse>, Status> {
        let request = request.into_inner();
        let agent_id = validate::id::<AgentId>("agent_id", &request.agent_id)?;
        let run_id = validate::id::<RunId>("run_id", &request.run_id)?;
        if request.text.len() > MAX_TOKEN_TEXT_BYTES {
            let reason = format!("text is {} bytes; the limit is {MAX_TOKEN_TEXT_BYTES} (64 KiB)", request.text.len());
            return Err(HubError::InvalidArgument(reason).into());
        }
        let followed = self.hub.publish_tokens(agent_id, run_id, request.step, request.text);
        Ok(Response::new(pb::PublishTokensResponse { followed }))
    }

    async fn leave(&self, request: Request<pb::LeaveRequest>) -> Result<Response<pb::LeaveResponse>, Status> {
        let peer = request.extensions().get::<NodePeer>().cloned();
        let audit = AuditContext::of(&request);
        let node_id = validate::id::<NodeId>("node_id", &request.into_inner().node_id)?;
        audit.set_target(format!("node/{node_id}"));
        self.hub.check_node_peer(peer.as_ref(), node_id).await?;
        let released = self.hub.leave(node_id).await?;
        Ok(Response::new(pb::LeaveResponse { released_runs: released as u32 }))
    }
}

/// Largest text of one `PublishTokens`, in bytes (64 KiB).
const MAX_TOKEN_TEXT_BYTES: usize = 64 * 1024;

/// Refuses a beat carrying more leases than a node has slots.
fn check_lease_count(count: usize) -> Result<(), HubError> {
    if count > MAX_LEASES {
        return Err(HubError::InvalidArgument(format!("leases: {count} entries; at most {MAX_LEASES} (one per slot)")));
    }
    Ok(())
}
