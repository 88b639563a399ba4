//! Errors of the node.

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error("invalid node configuration: {0}")]
    Config(#[from] crate::config::InvalidConfig),
    /// The hub could not be reached or refused the node.
    #[error("hub at {url}: {reason}")]
    Hub {
        /// Hub URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The broker could not be reached.
    #[error("connecting to NATS at {url}: {source}")]
    Broker {
        /// The NATS URL.
        url: String,
        /// What failed.
        source: agentry_broker::BrokerError,
    },
    /// The model provider could not be set up.
    #[error(transparent)]
    Model(#[from] agentry_runtime::model::ModelError),
    /// The workspace root could not be created.
    #[error("workspace root {path}: {reason}")]
    Workspace {
        /// Directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The configured sandbox does not work on this machine.
    #[error("sandbox: {0}")]
    Sandbox(#[from] agentry_sandbox::SandboxError),
    /// A background task whose failure is fatal failed.
    #[error("background task {task} failed: {reason}")]
    Task {
        /// The task's name.
        task: &'static str,
        /// The panic message, or how it ended.
        reason: String,
    },
    /// The node's metrics could not be registered (a node of the same name on one registry).
    #[error("{0}")]
    Metrics(String),
}
