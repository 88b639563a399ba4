//! agent-hub: the stateless front of Agentry Cloud.
//!
//! Clients call [`agentry_proto::v1::agent_hub_server::AgentHub`]; nodes call
//! [`agentry_proto::v1::node_service_server::NodeService`]. Every durable fact goes to the
//! [`agentry_store::Store`]; runs reach nodes through the [`agentry_broker::TaskQueue`].
//!
//! Layout: [`hub`] (operations on domain types; node operations in [`membership`], operator
//! controls in [`control`]), [`grpc`] (thin adapters), [`scheduler`] (pure placement),
//! [`placer`] (the task applying placements), [`reaper`] (lease expiry and failover, on the
//! leader replica), [`trace`] (replay + tail), [`validate`] (input checks), [`server`] (`run`).

pub mod config;
pub mod control;
pub mod error;
pub mod grpc;
pub mod hub;
pub mod membership;
pub mod placer;
pub mod reaper;
pub mod scheduler;
pub mod server;
pub mod trace;
pub mod validate;

pub use config::HubConfig;
pub use error::HubError;
pub use hub::Hub;
pub use server::{ServeError, run};
