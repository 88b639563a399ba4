//! agentry-runtime: what a node runs — the durable agent loop, model providers and tools.
//!
//! Everything here may do I/O (HTTP to model servers, processes for `bash`, files in the run's
//! workspace); only nodes (and `agentry dev`) link it, never the hub or the store.
//!
//! - [`agent_loop`]: the durable model → tools → model loop, committing through
//!   [`agent_loop::StepSink`] (the node's commits to the hub).
//! - [`context`]: keeping a conversation within the model's context window (summaries).
//! - [`mcp`]: MCP servers' tools (`<server>__<tool>`) through `rmcp` ([`mcp::McpSession`]).
//! - [`model`]: model providers ([`model::ModelProvider`], OpenAI-compatible chat completions).
//! - [`tools`]: the [`tools::Tool`] trait, the builtin tools and [`tools::ToolCatalog`], which
//!   builds an agent's tools from their names.

#![warn(missing_docs)]

pub mod agent_loop;
pub mod context;
pub mod mcp;
pub mod model;
pub mod tools;
