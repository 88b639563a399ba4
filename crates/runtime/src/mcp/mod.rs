//! MCP servers as tools, through the official Rust MCP SDK (`rmcp`).
//!
//! An agent's spec names MCP servers ([`McpServer`]): stdio commands, started inside the node's
//! sandbox for a run, or streamable-HTTP endpoints. [`McpSession::start`] connects to every
//! server of a run and lists its tools; [`McpSession::tools`] offers each as a [`Tool`] named
//! `<server>__<tool>`; [`McpSession::shutdown`] (or dropping the session) stops the servers.
//!
//! - `names`: what server and tool names may be ([`validate_servers`], [`tool_name`]).
//! - `session`: connecting, listing and stopping ([`McpSession`]).
//! - `tool`: one server tool as a [`Tool`] ([`McpTool`]), and how results become text.
//!
//! [`Tool`]: crate::tools::Tool

mod names;
mod session;
mod tool;

use std::time::Duration;

use agentry_core::ErrorCode;

pub use names::{
    MAX_SERVER_NAME_LEN, MAX_TOOL_NAME_LEN, is_valid_tool_name, tool_name, validate_server_name, validate_servers,
};
pub use session::{CONNECT_TIMEOUT, McpSession};
pub use tool::McpTool;

pub use agentry_core::{MCP_TOOL_SEPARATOR, McpServer};

/// Why the MCP servers of a run could not be started; every variant but `InvalidConfig` names
/// the server.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The servers' configuration is invalid (a name, an empty command, a URL).
    #[error("mcp servers: {0}")]
    InvalidConfig(String),
    /// The sandbox could not confine the server's command.
    #[error("mcp server {server}: sandbox: {reason}")]
    Sandbox {
        /// The server's name.
        server: String,
        /// The sandbox's reason.
        reason: String,
    },
    /// The server's program could not be started (most often: it is not installed).
    #[error("mcp server {server}: {reason}")]
    Spawn {
        /// The server's name.
        server: String,
        /// Why, naming the program.
        reason: String,
    },
    /// Initializing or listing tools failed (the process exited, the endpoint refused, a
    /// protocol error); the reason ends with the server's last stderr lines when it has some.
    #[error("mcp server {server}: {reason}")]
    Connect {
        /// The server's name.
        server: String,
        /// What failed.
        reason: String,
    },
    /// The server did not initialize and list its tools in time.
    #[error("mcp server {server}: not ready after {timeout:?}{stderr}")]
    Timeout {
        /// The server's name.
        server: String,
        /// The time allowed.
        timeout: Duration,
        /// The server's last stderr lines (`"; stderr: …"`), or empty.
        stderr: String,
    },
}

impl McpError {
    /// Returns the kind of error: a bad configuration is `InvalidArgument`, a server this node
    /// cannot start `FailedPrecondition`, an unreachable or failing server `Unavailable`, a slow
    /// one `Timeout`.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidConfig(_) => ErrorCode::InvalidArgument,
            Self::Sandbox { .. } | Self::Spawn { .. } => ErrorCode::FailedPrecondition,
            Self::Connect { .. } => ErrorCode::Unavailable,
            Self::Timeout { .. } => ErrorCode::Timeout,
        }
    }

    /// Returns the name of the server that failed, if the error is about one.
    pub fn server(&self) -> Option<&str> {
        match self {
            Self::InvalidConfig(_) => None,
            Self::Sandbox { server, .. }
            | Self::Spawn { server, .. }
            | Self::Connect { server, .. }
            | Self::Timeout { server, .. } => Some(server),
        }
    }
}
