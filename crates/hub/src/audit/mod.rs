//! The audit trail: an append-only log of what callers attempted (spawns, messages, run
//! controls, approvals, forks, imports, node joins, leaves and cordons, refused calls), written
//! off the request path in batches, and `AgentHub.ListAudit` to read it.

use tonic::Status;

use agentry_proto::v1 as pb;

use crate::Hub;
use crate::auth::Principal;

/// `AgentHub.ListAudit`: the records `principal` may see, newest first.
pub(crate) async fn list_audit(
    _hub: &Hub,
    _principal: &Principal,
    _request: pb::ListAuditRequest,
) -> Result<pb::ListAuditResponse, Status> {
    // SCAFFOLD(issue 16, auth helper): replaced by the store-backed listing.
    Err(Status::unimplemented("ListAudit: being built"))
}
