//! The `agentry.v1` gRPC API (`proto/agentry/v1/*.proto`) and the one place where it meets the
//! domain of `agentry-core`.
//!
//! - [`v1::agent_hub_client`] / [`v1::agent_hub_server`]: the client API (`AgentHub`).
//! - [`v1::node_service_client`] / [`v1::node_service_server`]: the node API (`NodeService`).
//! - [`convert`]: every wire ⇄ domain conversion, and gRPC codes ⇄ `ErrorCode`.
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors, for gRPC server reflection.

#![warn(missing_docs)]

pub mod convert;

/// The `agentry.v1` package (generated).
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    tonic::include_proto!("agentry.v1");
}

/// Encoded `FileDescriptorSet` of the `agentry.v1` package, for tonic-reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("agentry_descriptor");
