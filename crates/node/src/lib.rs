//! agent-node: a worker of Agentry Cloud.
//!
//! A node joins the hub, heartbeats, pulls its tasks from the broker
//! ([`agentry_broker::TaskQueue`]) one per free slot, runs the agent loop
//! ([`agentry_runtime::agent_loop`]) and commits every step back to the hub. It links no
//! database: only the hub talks to the store, and the node reaches the hub only through
//! [`HubClient`] (domain types in and out, one retry policy).
//!
//! Layout: [`config`] ([`NodeConfig`], defaults and validation), [`hub_client`] (`NodeService`
//! calls), [`executor`] (one task → one run, dead-lettering), [`sink`] (the loop's commits), [`spans`] (the `invoke_agent` span of a run execution),
//! [`leases`] (runs executing, revocable), [`metrics`] (Prometheus metrics from committed events), `tokens` (streamed model text to the hub), [`heartbeat`] (the node's lease stream, on a thread
//! of its own; a supervised task), [`worker`] ([`Node`]: join, pull loop, rejoin after a lost
//! membership, graceful leave).

pub mod config;
pub mod error;
pub mod executor;
pub mod heartbeat;
pub mod hub_client;
pub mod leases;
pub mod metrics;
pub mod sink;
pub mod spans;
mod tokens;
pub mod worker;

pub use config::{InvalidConfig, NodeConfig};
pub use error::NodeError;
pub use hub_client::HubClient;
pub use worker::{Node, run};
