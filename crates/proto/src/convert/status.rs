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

/// Returns the error kind of a status a call ended with: [`error_code`] of its code, except that
/// an `INTERNAL` the transport made of a reset HTTP/2 stream (tonic maps the reset reasons
/// `NO_ERROR`, `PROTOCOL_ERROR`, `INTERNAL_ERROR`, … to `INTERNAL` with the message `h2 protocol
/// error: …`, per grpc's PROTOCOL-HTTP2.md) is [`ErrorCode::Unavailable`]: a hub that shut down
/// or a connection that broke with the call in flight, which a retry (idempotent by design:
/// commit ids, idempotency keys) may repeat safely. A hub never answers such a message itself.
pub fn status_error_code(status: &tonic::Status) -> ErrorCode {
    if status.code() == Code::Internal && status.message().starts_with(H2_ERROR_PREFIX) {
        return ErrorCode::Unavailable;
    }
    error_code(status.code())
}

/// How tonic begins the message of a status it made of an HTTP/2 error.
const H2_ERROR_PREFIX: &str = "h2 protocol error";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_stream_is_retryable_but_an_internal_answer_is_not() {
        let reset = tonic::Status::internal("h2 protocol error: stream no longer needed");
        assert_eq!(status_error_code(&reset), ErrorCode::Unavailable);
        let answered = tonic::Status::internal("the store returned a corrupt row");
        assert_eq!(status_error_code(&answered), ErrorCode::Internal);
        assert_eq!(status_error_code(&tonic::Status::not_found("run")), ErrorCode::NotFound);
    }

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
