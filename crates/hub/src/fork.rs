//! Forks (placeholder until written).

use tonic::Status;

use agentry_proto::v1 as pb;

use crate::hub::Hub;

/// `AgentHub.Fork`.
pub(crate) async fn fork(
    _hub: &Hub,
    _request: pb::ForkRequest,
    _trace_parent: Option<agentry_core::TraceParent>,
) -> Result<pb::ForkResponse, Status> {
    Err(Status::unimplemented("fork is not written yet"))
}

/// `AgentHub.ListMessages`.
pub(crate) async fn list_messages(
    _hub: &Hub,
    _request: pb::ListMessagesRequest,
) -> Result<pb::ListMessagesResponse, Status> {
    Err(Status::unimplemented("list messages is not written yet"))
}
