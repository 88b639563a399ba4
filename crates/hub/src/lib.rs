//! agent-hub: the stateless front of Agentry Cloud.
//!
//! Clients call [`agentry_proto::v1::agent_hub_server::AgentHub`]; nodes call
//! [`agentry_proto::v1::node_service_server::NodeService`]. Every durable fact goes to the
//! [`agentry_store::Store`]; runs reach nodes through the [`agentry_broker::TaskQueue`].
//!
//! Layout: [`config`] ([`HubConfig`], defaults and validation), [`hub`] (operations on domain
//! types; node operations in [`membership`], operator controls in [`control`], cost reports
//! in [`cost`]), [`grpc`] (thin adapters over `agentry_proto::convert`), [`scheduler`] (pure
//! placement), [`placer`] (the task applying placements), [`leases`] (lease streams: failover
//! as soon as a node's stream breaks), [`reaper`] (lease expiry and failover, on the leader
//! replica), [`trace`] (replay + tail as a stream), [`fanout`] (event hints between replicas),
//! [`metrics`] (Prometheus metrics; `/metrics` on [`HubServer`]'s HTTP listener),
//! [`import`] (trace files loaded as read-only agents), [`templates`] (role templates: the
//! library, `ListTemplates`, spawning from one), [`fork`] (`Fork`, `ListMessages`), [`tree`]
//! (`GetTree`: delegation trees), [`gateway`] (the `AgentHub` methods as
//! JSON and the trace as server-sent events, for the web console of `agentry-console`), [`validate`] (input checks),
//! [`server`] ([`HubServer`], `run`: store and broker built from the config, background tasks
//! supervised).

pub mod approvals;
pub mod audit;
pub mod auth;
pub mod config;
pub mod control;
pub mod cost;
pub mod error;
pub mod fanout;
pub mod fork;
pub mod gateway;
pub mod grpc;
mod guard;
pub mod hub;
pub mod import;
pub mod leases;
pub mod membership;
pub mod metrics;
pub mod node_identity;
pub mod placer;
pub mod reaper;
pub mod scheduler;
pub mod server;
pub mod templates;
pub mod tenancy;
#[cfg(test)]
mod test_support;
pub mod trace;
pub mod tree;
pub mod validate;

pub use config::{HubConfig, InvalidConfig};
pub use error::HubError;
pub use hub::Hub;
pub use server::{HubServer, ServeError, run};
