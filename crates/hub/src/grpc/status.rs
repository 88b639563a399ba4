//! [`HubError`] → `tonic::Status`: the only place errors meet the wire.

use tonic::{Code, Status};

use agentry_core::ErrorCode;

use crate::error::HubError;

impl From<HubError> for Status {
    fn from(error: HubError) -> Self {
        let message = error.to_string();
        let code = match error.code() {
            None => Code::Unimplemented,
            Some(ErrorCode::NotFound) => Code::NotFound,
            Some(ErrorCode::AlreadyExists) => Code::AlreadyExists,
            Some(ErrorCode::InvalidArgument) => Code::InvalidArgument,
            Some(ErrorCode::FailedPrecondition) => Code::FailedPrecondition,
            Some(ErrorCode::Unavailable) => Code::Unavailable,
            Some(ErrorCode::Timeout) => Code::DeadlineExceeded,
            Some(ErrorCode::ResourceExhausted) => Code::ResourceExhausted,
            Some(ErrorCode::Internal) => Code::Internal,
        };
        if code == Code::Internal || code == Code::Unavailable {
            tracing::error!(%message, "request failed");
        }
        Status::new(code, message)
    }
}
