//! agentry-sdk: a typed Rust client of the Agentry Cloud hub.
//!
//! [`Client`] wraps the generated `AgentHub` gRPC client: it connects eagerly (an unreachable
//! hub is reported at once), over TLS for an `https://` hub and with a bearer token on every
//! call as [`ClientOptions`] say, maps failures to [`ClientError`] and exposes traces as a
//! [`TraceStream`] (a [`futures::Stream`]); [`Client::follow_trace`] keeps a followed trace
//! going across hub restarts. Requests and replies are the generated types, re-exported as
//! [`proto`].
//!
//! Layout: `client.rs` ([`Client`]), `options.rs` ([`ClientOptions`], [`ClientBuilder`], the
//! token interceptor), `follow.rs` (reconnecting traces, [`FollowOptions`]), `error.rs`
//! ([`ClientError`]), `tls_failure.rs` (explaining failed TLS handshakes), `health.rs`
//! ([`Client::health`], the standard gRPC health check). Event names ([`event_kind`]) and wire
//! ⇄ domain conversions ([`convert`]) are the ones the hub and nodes use, re-exported; so is
//! [`tls`] (`agentry-tls`: [`tls::ClientTls`] and the files it loads).

#![warn(missing_docs)]

mod client;
mod error;
mod follow;
mod health;
mod options;
mod tls_failure;

pub use client::{CONNECT_TIMEOUT, Client, MAX_MESSAGE_BYTES, TraceStream};
pub use error::{ClientError, code_name};
pub use follow::FollowOptions;
pub use health::{HUB_SERVICE, Health, NODE_SERVICE};
pub use options::{ClientBuilder, ClientOptions};

/// TLS settings of a client ([`tls::ClientTls`], loaded from [`tls::ClientTlsFiles`]), from
/// `agentry-tls`.
pub use agentry_tls as tls;

/// Trace event names (`TraceEvent.type`) as the hub and nodes write them, and
/// [`event_kind::ends_run`].
pub use agentry_core::event::kind as event_kind;

/// Conversions between the wire types and the domain types of `agentry-core`.
pub use agentry_proto::convert;

/// The `google.protobuf.Timestamp` of the messages' time fields.
pub use agentry_proto::Timestamp;
/// The generated `agentry.v1` types the client takes and returns.
pub use agentry_proto::v1 as proto;
