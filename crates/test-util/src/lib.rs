//! Test harnesses for Agentry Cloud, on real services:
//! - [`nats::NatsServer`]: a private `nats-server -js` per test, restartable;
//! - `agentry_store::testing::PgTestDatabase` (re-exported): a fresh PostgreSQL database per test
//!   on the shared server;
//! - [`postgres::PostgresServer`]: a private PostgreSQL server per test, for tests that crash or
//!   restart the database;
//! - [`proxy::TcpProxy`]: a TCP forwarder that can be partitioned (blackholed) and healed, both
//!   ways or one [`proxy::Direction`] at a time;
//! - [`balancer::TcpBalancer`]: one address in front of several servers (round robin, skipping
//!   the ones that refuse), as a Kubernetes Service in front of hub replicas;
//! - [`scripted_model::ScriptedModel`]: an OpenAI-compatible HTTP server replaying a script,
//!   with per-step latencies;
//! - [`cluster::Cluster`]: hub + N nodes in process;
//! - [`process_cluster::ProcessCluster`]: hub + N nodes as `agentry` processes (kill -9,
//!   SIGTERM, hub restarts, hub replicas, rollouts), with CLI client helpers;
//! - [`secure::SecureHub`]: a hub with TLS, mutual TLS for nodes and token authentication,
//!   with clients and nodes that present tokens and certificates;
//! - [`otlp::OtlpReceiver`]: a real OTLP/gRPC trace receiver; [`http_get`]: a plain HTTP GET;
//! - [`conformance::Scenario`]: the SDK conformance scenario shared with the Python and
//!   TypeScript SDKs (`sdk/conformance/`);
//! - [`trace_check`]: checks of the durability contract on traces and model requests;
//! - [`eventually()`]: waiting until a condition holds (polling with a deadline), instead of
//!   hand-written `loop { …; sleep }`.

pub mod balancer;
pub mod browser;
pub mod cluster;
pub mod conformance;
pub mod eventually;
pub mod faulty_store;
pub mod http;
pub mod local_llm;
pub mod nats;
pub mod otlp;
pub mod postgres;
pub mod process_cluster;
pub mod proxy;
pub mod scripted_model;
pub mod secure;
pub mod trace_check;

pub use agentry_store::testing::PgTestDatabase;
pub use balancer::TcpBalancer;
pub use cluster::{Backend, Cluster};
pub use eventually::{Observed, eventually, eventually_blocking, eventually_every};
pub use http::http_get;
pub use local_llm::local_model_url;
pub use nats::NatsServer;
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use postgres::PostgresServer;
pub use process_cluster::{NodeOptions, ProcessCluster, ProcessClusterConfig, TraceFollower};
pub use proxy::TcpProxy;
pub use scripted_model::{Reply, ScriptedModel};
pub use trace_check::TraceSummary;
