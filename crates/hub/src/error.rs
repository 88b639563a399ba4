//! Errors of the hub's operations. Only [`crate::grpc`] turns them into `tonic::Status`.

use agentry_broker::BrokerError;
use agentry_core::ErrorCode;

/// A failed hub operation.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The request is malformed; the message names the field.
    #[error("{0}")]
    InvalidArgument(String),
    /// The state forbids the operation (e.g. a stale epoch, a busy agent with `on_busy=REJECT`).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The hub is stopping; the client should retry (another replica, or this one restarted).
    #[error("hub shutting down; reconnect (trace: resume with after_seq = the last seq received)")]
    ShuttingDown,
    /// The caller may not do this (a role, a tenant's node pool); the message says what.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A limit is exhausted (a tenant's agents or active runs, a token's trace streams); the
    /// message names the limit and its setting.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The operation is not available in this version.
    #[error("{0}")]
    Unimplemented(String),
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] agentry_store::Error),
    /// A broker operation failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

impl From<agentry_proto::convert::WireError> for HubError {
    fn from(error: agentry_proto::convert::WireError) -> Self {
        Self::InvalidArgument(error.to_string())
    }
}

impl HubError {
    /// Returns the coarse error kind; `None` for [`HubError::Unimplemented`] and
    /// [`HubError::PermissionDenied`] (kinds without an [`ErrorCode`]).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::InvalidArgument(_) => Some(ErrorCode::InvalidArgument),
            Self::FailedPrecondition(_) => Some(ErrorCode::FailedPrecondition),
            Self::ShuttingDown => Some(ErrorCode::Unavailable),
            Self::Unimplemented(_) | Self::PermissionDenied(_) => None,
            Self::ResourceExhausted(_) => Some(ErrorCode::ResourceExhausted),
            Self::Store(error) => Some(error.code()),
            Self::Broker(error) => Some(error.code()),
        }
    }
}

/// Result of hub operations.
pub type Result<T, E = HubError> = std::result::Result<T, E>;
