//! gRPC adapters: decode the request, call [`crate::hub::Hub`], encode the answer. No logic here.

mod agent_hub;
mod node_service;
mod status;

pub use agent_hub::AgentHubApi;
pub use node_service::NodeServiceApi;
