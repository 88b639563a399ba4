//! gRPC adapters: decode the request, call [`crate::hub::Hub`], encode the answer. No logic here
//! (besides [`RpcMetricsLayer`], which measures every call).

mod agent_hub;
mod node_service;
mod rpc_metrics;
mod status;

pub use agent_hub::AgentHubApi;
pub use node_service::NodeServiceApi;
pub use rpc_metrics::{RpcMetrics, RpcMetricsLayer, method_of, record_rpc};
