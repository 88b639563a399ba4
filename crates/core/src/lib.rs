//! agentry-core: the domain of Agentry Cloud and the agent loop, with no database and no wire.
//!
//! - [`ids`], [`agent`], [`run`], [`message`], [`event`], [`node`]: domain types.
//! - [`agent_loop`]: the durable model → tools → model loop, committing through [`agent_loop::StepSink`].
//! - [`model`]: model providers ([`model::ModelProvider`], OpenAI-compatible chat completions).
//! - [`tools`]: the [`tools::Tool`] trait and builtin tools.
//! - [`limits`]: payload size limits; [`error::ErrorCode`]: error kinds shared by all crates.

#![warn(missing_docs)]

pub mod agent;
pub mod agent_loop;
pub mod clock;
pub mod error;
pub mod event;
pub mod ids;
pub mod limits;
pub mod message;
pub mod model;
pub mod node;
pub mod run;
pub mod tools;

pub use agent::{Agent, AgentSpec, ModelRef, SpecError};
pub use error::ErrorCode;
pub use event::{EventDraft, TraceEvent};
pub use ids::{AgentId, InvalidId, NodeId, RunId};
pub use message::{Message, Role, ToolCall};
pub use node::{NodeInfo, NodeState};
pub use run::{Run, RunStatus};
