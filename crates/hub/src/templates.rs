//! Role templates (placeholder until written).

use tonic::Status;

use agentry_proto::v1 as pb;

use crate::hub::Hub;

/// `AgentHub.ListTemplates`.
pub(crate) fn list_templates(
    _hub: &Hub,
    _request: pb::ListTemplatesRequest,
) -> Result<pb::ListTemplatesResponse, Status> {
    Err(Status::unimplemented("templates are not written yet"))
}
