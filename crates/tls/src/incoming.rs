//! Accepting TLS connections: a task accepts TCP connections and runs each handshake in a
//! task of its own (bounded by [`HANDSHAKE_TIMEOUT`]), so a client that stalls its handshake
//! delays nobody else; finished connections are handed over through a channel. The loop ends
//! when the receiving side (the stream or the [`TlsListener`]) is dropped.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use crate::server::ServerTls;

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for the server to take them.
const ACCEPTED_BUFFER: usize = 64;
/// Pause after an accept error that is not about one connection (e.g. too many open files).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A connection whose handshake finished, and its peer's address.
type Accepted = (TlsStream<TcpStream>, SocketAddr);

impl ServerTls {
    /// Returns the TLS connections accepted on `listener`, for tonic's
    /// `Server::serve_with_incoming` (ALPN `h2`; tonic then puts `TlsConnectInfo<TcpConnectInfo>`,
    /// with the peer's certificates, in each request's extensions). Handshakes run
    /// concurrently, each with [`HANDSHAKE_TIMEOUT`]; failed ones are logged at debug level and
    /// skipped. TCP accept errors are passed on (tonic logs and skips them). Each handshake uses
    /// the configuration current when it starts. Must be called within a tokio runtime.
    pub fn grpc_incoming(
        &self,
        listener: TcpListener,
    ) -> impl Stream<Item = io::Result<TlsStream<TcpStream>>> + Send + 'static {
        let (sender, receiver) = mpsc::channel(ACCEPTED_BUFFER);
        let tls = self.clone();
        tokio::spawn(accept_loop(listener, move || tls.grpc_config(), sender, "gRPC"));
        ReceiverStream::new(receiver).map(|accepted| accepted.map(|(stream, _peer)| stream))
    }

    /// Returns a listener for `axum::serve` that accepts TLS connections on `listener` (ALPN
    /// `http/1.1`), with handshakes as [`ServerTls::grpc_incoming`]. Must be called within a
    /// tokio runtime.
    pub fn http_listener(&self, listener: TcpListener) -> TlsListener {
        let local_addr = listener.local_addr();
        let (sender, connections) = mpsc::channel(ACCEPTED_BUFFER);
        let tls = self.clone();
        tokio::spawn(accept_loop(listener, move || tls.http_config(), sender, "HTTP"));
        TlsListener { connections, local_addr }
    }
}

/// An `axum::serve` listener of TLS connections; see [`ServerTls::http_listener`].
pub struct TlsListener {
    connections: mpsc::Receiver<io::Result<Accepted>>,
    local_addr: io::Result<SocketAddr>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.connections.recv().await {
                Some(Ok(connection)) => return connection,
                // Logged by the accept loop; axum's listener cannot fail.
                Some(Err(_)) => continue,
                // The accept loop only ends once this listener is gone: unreachable, and
                // axum's listener cannot report an end.
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        match &self.local_addr {
            Ok(address) => Ok(*address),
            Err(error) => Err(io::Error::new(error.kind(), error.to_string())),
        }
    }
}

/// Accepts connections on `listener` until `sender`'s receiver is dropped, handshaking each
/// in a task of its own with the configuration `config` returns at that moment.
async fn accept_loop(
    listener: TcpListener,
    config: impl Fn() -> Arc<ServerConfig> + Send + 'static,
    sender: mpsc::Sender<io::Result<Accepted>>,
    what: &'static str,
) {
    let local = listener.local_addr().ok();
    loop {
        let accepted = tokio::select! {
            () = sender.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                let per_connection = is_connection_error(&error);
                if !per_connection {
                    tracing::warn!(%error, ?local, "accepting a {what} TLS connection failed");
                }
                if sender.send(Err(error)).await.is_err() {
                    return;
                }
                if !per_connection {
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = TlsAcceptor::from(config());
        let sender = sender.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = sender.send(Ok((tls, peer))).await;
                }
                Ok(Err(error)) => tracing::debug!(%error, %peer, "{what} TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, timeout = ?HANDSHAKE_TIMEOUT, "{what} TLS handshake timed out"),
            }
        });
    }
}

/// Returns whether an accept error concerns one connection only (the next accept may work).
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
