//! agent-node: a worker of Agentry Cloud.
//!
//! A node joins the hub ([`agentry_proto::v1::node_service_client`]), heartbeats, pulls its
//! tasks from the broker ([`agentry_broker::TaskQueue`]) one per free slot, runs the agent loop
//! ([`agentry_core::agent_loop`]) and commits every step back to the hub. It links no database:
//! only the hub talks to the store.
//!
//! Layout: [`config`], [`executor`] (one task → one run, dead-lettering), [`sink`] (commits
//! over gRPC), [`leases`] (runs executing, revocable), [`heartbeat`] (the node's lease),
//! [`worker`] (join, pull loop, rejoin after a lost membership, graceful leave).

pub mod config;
pub mod error;
pub mod executor;
pub mod heartbeat;
pub mod leases;
pub mod sink;
pub mod worker;

pub use config::NodeConfig;
pub use error::NodeError;
pub use worker::run;
