//! The small set of error kinds shared by every crate; each crate error maps onto one.

/// Coarse error kind, mapped to a gRPC status code at the API edge only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The named entity does not exist.
    NotFound,
    /// The entity exists already.
    AlreadyExists,
    /// The request is malformed; retrying it unchanged fails again.
    InvalidArgument,
    /// The request is valid but the system is not in a state to accept it (e.g. a stale epoch).
    FailedPrecondition,
    /// A dependency is unreachable; retrying later may succeed.
    Unavailable,
    /// A deadline passed.
    Timeout,
    /// A limit or quota is exhausted.
    ResourceExhausted,
    /// A bug or an unexpected state.
    Internal,
}

impl ErrorCode {
    /// Returns whether an operation that failed with this code may succeed when retried.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Unavailable | Self::Timeout | Self::ResourceExhausted)
    }
}
