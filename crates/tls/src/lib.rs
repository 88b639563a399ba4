//! agentry-tls: TLS for every listener and every client of Agentry Cloud, with rustls and its
//! ring provider.
//!
//! - Servers: [`ServerTls`] holds the current rustls server configuration, loaded from PEM files
//!   ([`ServerTlsFiles`]) and swapped when they change ([`ServerTls::spawn_reloader`],
//!   [`ServerTls::reload`]), so certificates rotate without a restart. With a client CA, client
//!   certificates are optional at the handshake but a presented one must chain to that CA (the
//!   hub decides per RPC what it requires). [`ServerTls::grpc_incoming`] feeds tonic
//!   (`serve_with_incoming`, ALPN `h2`), [`ServerTls::http_listener`] feeds `axum::serve`
//!   (ALPN `http/1.1`); both run handshakes concurrently, so a slow client delays nobody else.
//! - Clients: [`ClientTls`] (trusted CAs, optional client certificate) and [`channel`] /
//!   [`connect`], tonic channels that speak TLS to `https://` endpoints.
//! - Identity: [`peer_spiffe_id`] reads the SPIFFE ID (`spiffe://agentry/<kind>/<name>`) of a
//!   peer certificate; the hub binds a node's identity to it.
//! - [`dev`]: a CA and hub, node and client certificates for local use (`agentry certs dev`).
//!
//! Layout: `error.rs` ([`TlsError`]), `pem.rs` (reading PEM files), `server.rs` ([`ServerTls`]),
//! `reload.rs` (watching the files), `incoming.rs` (accept loops, [`TlsListener`]),
//! `connect_info.rs` ([`TlsPeerAddr`], the caller's address for axum handlers), `client.rs`
//! ([`ClientTls`], channels), `identity.rs` ([`SpiffeId`]), `dev.rs`.
//!
//! The crate knows nothing of the hub, the node or the store.

mod client;
mod connect_info;
pub mod dev;
mod error;
mod identity;
mod incoming;
mod pem;
mod reload;
mod server;

pub use client::{ClientTls, ClientTlsFiles, channel, connect};
pub use connect_info::TlsPeerAddr;
pub use error::{Result, TlsError};
pub use identity::{KIND_CLIENT, KIND_NODE, SpiffeId, TRUST_DOMAIN, peer_spiffe_id};
pub use incoming::{HANDSHAKE_TIMEOUT, TlsListener};
pub use pem::{read_certificates, read_private_key, read_roots};
pub use rustls_pki_types::CertificateDer;
pub use server::{ALPN_H2, ALPN_HTTP1, ServerTls, ServerTlsFiles};

/// Installs rustls' ring provider as the process default, once; later calls (and a provider
/// installed by someone else) are left alone. Call it before building any rustls
/// configuration that does not name its provider (reqwest with `rustls-no-provider`, …).
pub fn install_default_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is installed either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Returns the ring provider every configuration of this crate is built with.
pub(crate) fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
