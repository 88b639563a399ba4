//! Errors of the broker.

use agentry_core::ErrorCode;

/// A broker failure.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker could not be reached or did not answer in time.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused an operation (e.g. a stream configuration conflict).
    #[error("broker refused: {0}")]
    Refused(String),
    /// A task payload could not be decoded.
    #[error("undecodable task payload: {0}")]
    Decode(String),
    /// The TLS settings of the connection are unusable (e.g. the CA file `nats-ca`).
    #[error("{}: {reason}", path.display())]
    Tls {
        /// The file at fault.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl BrokerError {
    /// Returns the coarse error kind.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Refused(_) | Self::Decode(_) => ErrorCode::Internal,
            Self::Tls { .. } => ErrorCode::InvalidArgument,
        }
    }

    /// Returns whether retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        self.code().is_retryable()
    }
}

/// Result of broker operations.
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;
