//! [`HubError`] → `tonic::Status`: the only place errors meet the wire.

use tonic::{Code, Status};

use agentry_proto::convert::status::grpc_code;

use crate::error::HubError;

impl From<HubError> for Status {
    fn from(error: HubError) -> Self {
        let message = error.to_string();
        let code = match &error {
            HubError::PermissionDenied(_) => Code::PermissionDenied,
            _ => error.code().map_or(Code::Unimplemented, grpc_code),
        };
        if code == Code::Internal || code == Code::Unavailable {
            tracing::error!(%message, "request failed");
        }
        Status::new(code, message)
    }
}
