//! [`TcpProxy`]: a TCP forwarder on loopback that can simulate a network partition.
//!
//! Point a client at [`TcpProxy::url`] instead of the server (e.g. a node's `--hub`), then
//! [`TcpProxy::partition`] it: no byte goes through in either direction any more, but no
//! connection is closed or refused, as when a network drops packets. The ends see silence, so
//! only their own timeouts and keepalives notice. [`TcpProxy::heal`] resumes forwarding.
//! [`TcpProxy::heal_direction`] heals one direction only, e.g. to let what the client sent
//! during the partition reach the server before the client hears anything back.
//!
//! Bytes read during a partition are held, not dropped, and delivered in order after the heal,
//! as TCP retransmission would deliver them. Connections accepted during a partition are held
//! too (the target sees no connection until the client-to-target direction heals) and
//! forwarded after it.
//!
//! [`TcpProxy::reset`] closes every open connection at once (both ends see it end), as a
//! restarted middlebox would, while new connections go through as before.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Size of the buffer of each forwarding direction, in bytes.
const BUFFER_BYTES: usize = 16 * 1024;

/// One direction of the forwarded connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the clients to the target.
    ToTarget,
    /// From the target back to the clients.
    FromTarget,
}

/// A running proxy; dropping it closes the listener and every connection.
pub struct TcpProxy {
    address: SocketAddr,
    to_target_blocked: watch::Sender<bool>,
    from_target_blocked: watch::Sender<bool>,
    resets: watch::Sender<u64>,
    stop: CancellationToken,
}

impl TcpProxy {
    /// Starts forwarding connections made to a random loopback port to `target`.
    ///
    /// Errors when the port cannot be bound. Connecting to `target` happens per connection; a
    /// failure closes that client connection.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (to_target_blocked, _) = watch::channel(false);
        let (from_target_blocked, _) = watch::channel(false);
        let (resets, _) = watch::channel(0);
        let stop = CancellationToken::new();
        let gates = Gates { to_target: to_target_blocked.subscribe(), from_target: from_target_blocked.subscribe() };
        tokio::spawn(accept_loop(listener, target, gates, resets.subscribe(), stop.clone()));
        Ok(Self { address, to_target_blocked, from_target_blocked, resets, stop })
    }

    /// Returns the address clients connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Returns `http://<address>`, for gRPC clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops forwarding bytes in both directions on every connection, existing and new,
    /// without closing any.
    pub fn partition(&self) {
        self.to_target_blocked.send_replace(true);
        self.from_target_blocked.send_replace(true);
    }

    /// Closes every connection open now, both towards the client and towards the target;
    /// connections made afterwards are forwarded as usual.
    pub fn reset(&self) {
        self.resets.send_modify(|resets| *resets += 1);
    }

    /// Resumes forwarding in both directions, delivering what was held first.
    pub fn heal(&self) {
        self.to_target_blocked.send_replace(false);
        self.from_target_blocked.send_replace(false);
    }

    /// Resumes forwarding in `direction` only, delivering what was held in it first.
    pub fn heal_direction(&self, direction: Direction) {
        self.gate(direction).send_replace(false);
    }

    /// Returns whether no byte is forwarded in `direction`.
    pub fn is_blocked(&self, direction: Direction) -> bool {
        *self.gate(direction).borrow()
    }

    fn gate(&self, direction: Direction) -> &watch::Sender<bool> {
        match direction {
            Direction::ToTarget => &self.to_target_blocked,
            Direction::FromTarget => &self.from_target_blocked,
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Whether each direction is blocked (`true`) or forwarding.
#[derive(Clone)]
struct Gates {
    to_target: watch::Receiver<bool>,
    from_target: watch::Receiver<bool>,
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    gates: Gates,
    resets: watch::Receiver<u64>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        // Accept errors (e.g. too many open files) are transient for a test proxy.
        let Ok((client, _)) = accepted else { continue };
        let (gates, stop, mut reset) = (gates.clone(), stop.clone(), resets.clone());
        // Only a reset after this connection was accepted closes it.
        reset.mark_unchanged();
        tokio::spawn(async move {
            // Leaving the select drops both sockets, which closes the connection on both sides.
            tokio::select! {
                () = stop.cancelled() => {}
                _ = reset.changed() => {}
                () = forward(client, target, gates) => {}
            }
        });
    }
}

/// Forwards one connection both ways until both directions ended.
async fn forward(client: TcpStream, target: SocketAddr, mut gates: Gates) {
    // Connecting is the client's first packet: it waits for its direction to open.
    if wait_until_open(&mut gates.to_target).await.is_err() {
        return;
    }
    let Ok(server) = TcpStream::connect(target).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let upstream = pump(client_read, server_write, gates.to_target);
    let downstream = pump(server_read, client_write, gates.from_target);
    tokio::join!(upstream, downstream);
}

/// Copies `from` to `to`, holding each chunk while `blocked`; shuts `to` down at end of file.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut blocked: watch::Receiver<bool>,
) {
    let mut buffer = vec![0_u8; BUFFER_BYTES];
    loop {
        // A read error ends the direction like an end of file.
        let read: usize = from.read(&mut buffer).await.unwrap_or_default();
        // Even the end of the stream waits for the heal: a FIN is a packet too.
        if wait_until_open(&mut blocked).await.is_err() {
            return;
        }
        if read == 0 {
            let _ = to.shutdown().await;
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// Waits until `blocked` is false; errors when the proxy is gone.
async fn wait_until_open(blocked: &mut watch::Receiver<bool>) -> Result<(), watch::error::RecvError> {
    blocked.wait_for(|blocked| !blocked).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An echo server on loopback; returns its address.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        address
    }

    async fn read_exactly(stream: &mut TcpStream, count: usize) -> Vec<u8> {
        let mut buffer = vec![0; count];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut buffer))
            .await
            .expect("bytes in time")
            .expect("read");
        buffer
    }

    #[tokio::test]
    async fn a_partition_holds_bytes_until_healed() {
        let proxy = TcpProxy::start(echo_server().await).await.expect("proxy");
        let mut existing = TcpStream::connect(proxy.address()).await.expect("connect");
        existing.write_all(b"before").await.expect("write");
        assert_eq!(read_exactly(&mut existing, 6).await, b"before");

        proxy.partition();
        existing.write_all(b"during").await.expect("writes still succeed");
        let mut new = TcpStream::connect(proxy.address()).await.expect("connections are still accepted");
        new.write_all(b"new").await.expect("write");
        let mut byte = [0_u8; 1];
        let silent = tokio::time::timeout(Duration::from_millis(300), existing.read(&mut byte)).await;
        assert!(silent.is_err(), "nothing gets through a partition: {silent:?}");

        // The echo server gets the held bytes, but its answers are held until the full heal.
        proxy.heal_direction(Direction::ToTarget);
        assert!(proxy.is_blocked(Direction::FromTarget) && !proxy.is_blocked(Direction::ToTarget));
        let still_silent = tokio::time::timeout(Duration::from_millis(300), existing.read(&mut byte)).await;
        assert!(still_silent.is_err(), "answers wait for their direction: {still_silent:?}");
        proxy.heal();
        assert_eq!(read_exactly(&mut existing, 6).await, b"during");
        assert_eq!(read_exactly(&mut new, 3).await, b"new");
    }

    #[tokio::test]
    async fn a_reset_closes_open_connections_and_lets_new_ones_through() {
        let proxy = TcpProxy::start(echo_server().await).await.expect("proxy");
        let mut open = TcpStream::connect(proxy.address()).await.expect("connect");
        open.write_all(b"ping").await.expect("write");
        assert_eq!(read_exactly(&mut open, 4).await, b"ping");

        proxy.reset();
        let mut byte = [0_u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(5), open.read(&mut byte)).await.expect("closed in time");
        assert!(matches!(closed, Ok(0) | Err(_)), "the open connection ended: {closed:?}");
        let mut new = TcpStream::connect(proxy.address()).await.expect("connect again");
        new.write_all(b"again").await.expect("write");
        assert_eq!(read_exactly(&mut new, 5).await, b"again");
    }
}
