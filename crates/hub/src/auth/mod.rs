//! Who is calling and what they may do: authentication of `AgentHub` calls (static bearer
//! tokens by SHA-256 hash, or OpenID Connect JWTs), node identity from mutual-TLS certificates
//! (SPIFFE IDs), the role table of every RPC, per-token rate and stream limits, and the audit
//! trail of what was attempted.
//!
//! The [`Principal`] of an authenticated call rides in the request's extensions; handlers read
//! it with [`principal`] and scope what they read and change to its tenant.
//!
//! Layout: [`tokens`] (the auth file), [`jwt`] (JWT verification against a JWKS),
//! [`authenticator`] ([`Authenticator`]: tokens, then JWTs; tenant policies; reloading),
//! [`access`] (the RPC → role table), [`limits`] ([`RateLimiter`], [`StreamLimiter`]),
//! [`layer`] ([`AuthLayer`], the tower layer applying all of it to every call).

pub mod access;
pub mod authenticator;
mod error;
pub mod jwt;
pub mod layer;
pub mod limits;
mod principal;
pub mod tokens;

pub use access::{Access, allows, required_role};
pub use authenticator::{Authenticator, TenantPolicy};
pub use error::AuthError;
pub use layer::{AuthLayer, AuthService, Protocol, RefusalBody, forward_identity};
pub use limits::{OwnedPermit, RateLimiter, StreamLimiter, StreamPermit};
pub use principal::{AuthMethod, DEFAULT_TENANT, NodePeer, Principal, Role, principal};
pub use tokens::{token_sha256, token_sha256_hex};
