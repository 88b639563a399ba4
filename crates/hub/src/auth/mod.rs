//! Who is calling and what they may do: authentication of `AgentHub` calls (static bearer
//! tokens by SHA-256 hash, or OpenID Connect JWTs), node identity from mutual-TLS certificates
//! (SPIFFE IDs), the role table of every RPC, per-token rate and stream limits, and the audit
//! trail of what was attempted.
//!
//! The [`Principal`] of an authenticated call rides in the request's extensions; handlers read
//! it with [`principal`] and scope what they read and change to its tenant.

mod principal;

pub use principal::{AuthMethod, NodePeer, Principal, Role, DEFAULT_TENANT, principal};
