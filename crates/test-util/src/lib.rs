//! Test harnesses for Agentry Cloud, on real services:
//! - [`nats::NatsServer`]: a private `nats-server -js` per test;
//! - `agentry_store::testing::PgTestDatabase` (re-exported): a fresh PostgreSQL database per test;
//! - [`scripted_model::ScriptedModel`]: an OpenAI-compatible HTTP server replaying a script;
//! - [`cluster::Cluster`]: hub + N nodes in process.

pub mod cluster;
pub mod nats;
pub mod scripted_model;

pub use agentry_store::testing::PgTestDatabase;
pub use cluster::{Backend, Cluster};
pub use nats::NatsServer;
pub use scripted_model::{Reply, ScriptedModel};
