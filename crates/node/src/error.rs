//! Errors of the node.

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The hub could not be reached or refused the node.
    #[error("hub at {url}: {reason}")]
    Hub {
        /// Hub URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The broker failed.
    #[error(transparent)]
    Broker(#[from] agentry_broker::BrokerError),
    /// The model provider could not be set up.
    #[error(transparent)]
    Model(#[from] agentry_core::model::ModelError),
    /// The workspace root could not be created.
    #[error("workspace root {path}: {reason}")]
    Workspace {
        /// Directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
}
