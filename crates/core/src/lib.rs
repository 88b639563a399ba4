//! agentry-core: the domain of Agentry Cloud — types, ids, events and pure rules — with no
//! database, no wire and no I/O crate (no tokio, no HTTP client, no process spawning), so every
//! other crate, the hub and the store included, can link it for free.
//!
//! - [`ids`], [`agent`], [`run`], [`message`], [`event`], [`node`]: domain types.
//! - [`limits`]: payload size limits; [`error::ErrorCode`]: error kinds shared by all crates.
//! - [`commit`]: [`StepCommit`] and [`CommitBatch`], the unit of durable progress.
//! - [`budget`]: token and cost budgets, reservations and settlements.
//! - [`models`]: the model catalogue, routes and fallback chains, cost arithmetic.
//! - [`trace_context`]: the W3C `traceparent` that makes each run one distributed trace.
//! - [`team`]: delegation to role agents (the `agent` and `parallel_agents` tools).
//! - [`templates`]: role templates (agentry's YAML shape), `{{var}}` rendering, team expansion.
//! - [`clock`]: wall-clock milliseconds, the unit stored everywhere; [`labels`]: `key=value` parsing.
//!
//! The agent loop, model providers and tools (everything that does HTTP or spawns processes)
//! live in `agentry-runtime`, which only nodes link.

#![warn(missing_docs)]

pub mod agent;
pub mod approval;
pub mod budget;
pub mod clock;
pub mod commit;
pub mod error;
pub mod event;
pub mod ids;
pub mod labels;
pub mod limits;
pub mod message;
pub mod models;
pub mod node;
pub mod policy;
pub mod run;
pub mod team;
pub mod templates;
pub mod trace_context;

/// The tenant of every agent when authentication is off, and of tokens that name none (issue 16).
pub const DEFAULT_TENANT: &str = "default";

pub use agent::{Agent, AgentSpec, BUILTIN_TOOL_NAMES, MCP_TOOL_SEPARATOR, McpServer, SpecError, ToolChoice};
pub use commit::{CommitBatch, StepCommit};
pub use error::{ErrorCode, InvalidConfig};
pub use event::{EventDraft, TraceEvent};
pub use ids::{AgentId, InvalidId, NodeId, RunId};
pub use message::{Message, Role, ToolCall};
pub use node::{Heartbeat, NodeInfo, NodeState};
pub use run::{LoadedRun, Run, RunStatus};
pub use trace_context::TraceParent;
