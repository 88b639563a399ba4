//! gRPC status codes ⇄ [`ErrorCode`], both ways, so hub, node and SDK agree on what a code
//! means (e.g. `FAILED_PRECONDITION` = fenced, `UNAVAILABLE` = retry later).

use tonic::Code;

use agentry_core::ErrorCode;

/// Returns the gRPC code an error of `code` is answered with.
pub fn grpc_code(code: ErrorCode) -> Code {
    match code {
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::AlreadyExists => Code::AlreadyExists,
        ErrorCode::InvalidArgument => Code::InvalidArgument,
        ErrorCode::FailedPrecondition => Code::FailedPrecondition,
        ErrorCode::Unavailable => Code::Unavailable,
        ErrorCode::Timeout => Code::DeadlineExceeded,
        ErrorCode::ResourceExhausted => Code::ResourceExhausted,
        ErrorCode::Internal => Code::Internal,
    }
}

/// Returns the error kind of a gRPC code a peer answered with. Transport-level codes a hub
/// never sends on purpose (`UNKNOWN`, `CANCELLED`: a broken connection or a restarting hub)
/// count as [`ErrorCode::Unavailable`], so callers retry them.
pub fn error_code(code: Code) -> ErrorCode {
    match code {
        Code::NotFound => ErrorCode::NotFound,
        Code::AlreadyExists => ErrorCode::AlreadyExists,
        Code::InvalidArgument | Code::OutOfRange => ErrorCode::InvalidArgument,
        Code::FailedPrecondition | Code::Aborted => ErrorCode::FailedPrecondition,
        Code::Unavailable | Code::Unknown | Code::Cancelled => ErrorCode::Unavailable,
        Code::DeadlineExceeded => ErrorCode::Timeout,
        Code::ResourceExhausted => ErrorCode::ResourceExhausted,
        Code::Ok
        | Code::Internal
        | Code::Unimplemented
        | Code::DataLoss
        | Code::PermissionDenied
        | Code::Unauthenticated => ErrorCode::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_survives_the_wire() {
        for code in [
            ErrorCode::NotFound,
            ErrorCode::AlreadyExists,
            ErrorCode::InvalidArgument,
            ErrorCode::FailedPrecondition,
            ErrorCode::Unavailable,
            ErrorCode::Timeout,
            ErrorCode::ResourceExhausted,
            ErrorCode::Internal,
        ] {
            assert_eq!(error_code(grpc_code(code)), code);
        }
    }
}
