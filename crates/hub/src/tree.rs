//! Delegation trees (placeholder until written).

use tonic::Status;

use agentry_proto::v1 as pb;

use crate::hub::Hub;

/// `AgentHub.GetTree`.
pub(crate) async fn get_tree(_hub: &Hub, _request: pb::GetTreeRequest) -> Result<pb::GetTreeResponse, Status> {
    Err(Status::unimplemented("tree is not written yet"))
}
