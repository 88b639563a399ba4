//! [`TlsPeerAddr`]: the remote address of a connection [`TlsListener`] accepted, as axum's
//! connect info (`Router::into_make_service_with_connect_info::<TlsPeerAddr>()`), so HTTPS
//! handlers and layers see who called as they do over plaintext (`ConnectInfo<SocketAddr>`).

use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;

use crate::incoming::TlsListener;

/// The remote address of a TLS connection of the HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsPeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, TlsListener>> for TlsPeerAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}
