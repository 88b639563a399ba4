//! [`TcpBalancer`]: one loopback address in front of several servers, as a Kubernetes Service
//! is in front of a Deployment's pods.
//!
//! Each new connection goes to the next target, round robin; a target that refuses the
//! connection (its process is gone) is skipped for the next one, so clients only fail when no
//! target accepts. Targets are added and removed while it runs, as endpoints are: a removed
//! target gets no new connection, while the connections open to it stay open (as with
//! kube-proxy) until one of their ends closes them. Connections are forwarded byte for byte,
//! each direction shut down when its source ends.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The targets and what went to them.
#[derive(Default)]
struct Targets {
    /// Live targets, in the order they were added.
    live: Vec<SocketAddr>,
    /// Index in `live` of the target the next connection tries first.
    next: usize,
    /// Connections forwarded so far, per target (removed ones included).
    forwarded: BTreeMap<SocketAddr, u64>,
}

/// A running balancer; dropping it closes the listener and every connection.
pub struct TcpBalancer {
    address: SocketAddr,
    targets: Arc<Mutex<Targets>>,
    stop: CancellationToken,
}

impl TcpBalancer {
    /// Starts balancing the connections made to a random loopback port over `targets`.
    ///
    /// Errors when the port cannot be bound.
    pub async fn start(targets: impl IntoIterator<Item = SocketAddr>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let targets = Arc::new(Mutex::new(Targets { live: targets.into_iter().collect(), ..Targets::default() }));
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, Arc::clone(&targets), stop.clone()));
        Ok(Self { address, targets, stop })
    }

    /// Returns the address clients connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Returns `http://<address>`, for gRPC clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Sends new connections to `target` too (no-op when it is a target already).
    pub fn add(&self, target: SocketAddr) {
        let mut targets = lock(&self.targets);
        if !targets.live.contains(&target) {
            targets.live.push(target);
        }
    }

    /// Sends no new connection to `target`; those open to it stay open. Returns whether it was
    /// a target.
    pub fn remove(&self, target: SocketAddr) -> bool {
        let mut targets = lock(&self.targets);
        let before = targets.live.len();
        targets.live.retain(|live| *live != target);
        before != targets.live.len()
    }

    /// Returns the targets new connections go to.
    pub fn targets(&self) -> Vec<SocketAddr> {
        lock(&self.targets).live.clone()
    }

    /// Returns how many connections were forwarded to `target` so far.
    pub fn forwarded(&self, target: SocketAddr) -> u64 {
        lock(&self.targets).forwarded.get(&target).copied().unwrap_or(0)
    }
}

impl Drop for TcpBalancer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn lock(targets: &Mutex<Targets>) -> MutexGuard<'_, Targets> {
    // A panic while holding the lock leaves plain data behind: keep using it.
    targets.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, targets: Arc<Mutex<Targets>>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        // Accept errors (e.g. too many open files) are transient for a test balancer.
        let Ok((client, _)) = accepted else { continue };
        let (targets, stop) = (Arc::clone(&targets), stop.clone());
        tokio::spawn(async move {
            // Leaving the select drops both sockets, which closes the connection on both sides.
            tokio::select! {
                () = stop.cancelled() => {}
                () = forward(client, &targets) => {}
            }
        });
    }
}

/// Connects to the first target, from the round robin's position, that accepts; forwards the
/// connection both ways until both directions ended. Closes `client` when none accepts.
async fn forward(mut client: TcpStream, targets: &Mutex<Targets>) {
    let candidates = {
        let mut targets = lock(targets);
        let count = targets.live.len();
        let start = if count == 0 { 0 } else { targets.next % count };
        targets.next = start + 1;
        let mut candidates = targets.live[start..].to_vec();
        candidates.extend_from_slice(&targets.live[..start]);
        candidates
    };
    for target in candidates {
        let Ok(mut server) = TcpStream::connect(target).await else { continue };
        *lock(targets).forwarded.entry(target).or_default() += 1;
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        // An error (a reset) on either side ends both directions.
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A server on loopback that writes `name` to every connection, then echoes; returns its
    /// address.
    async fn named_server(name: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = stream.write_all(name).await;
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        address
    }

    /// Returns a loopback address that refuses connections.
    async fn refusing_address() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("address")
    }

    /// Connects through `balancer` and returns the name of the server that answered.
    async fn served_by(balancer: &TcpBalancer) -> Vec<u8> {
        let mut stream = TcpStream::connect(balancer.address()).await.expect("connect");
        let mut name = vec![0; 1];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut name))
            .await
            .expect("an answer in time")
            .expect("read");
        name
    }

    #[tokio::test]
    async fn connections_go_round_robin_and_skip_refusing_targets() {
        let (a, b) = (named_server(b"a").await, named_server(b"b").await);
        let gone = refusing_address().await;
        let balancer = TcpBalancer::start([a, gone, b]).await.expect("balancer");
        let mut names = Vec::new();
        for _ in 0..6 {
            names.extend(served_by(&balancer).await);
        }
        // Starting at a, gone (skipped: b), b, then again: a b b a b b.
        assert_eq!(names, b"abbabb", "connections per target: a, then the next live one after gone, then b");
        assert_eq!((balancer.forwarded(a), balancer.forwarded(gone), balancer.forwarded(b)), (2, 0, 4));
    }

    #[tokio::test]
    async fn a_removed_target_keeps_its_open_connections_and_gets_no_new_one() {
        let (a, b) = (named_server(b"a").await, named_server(b"b").await);
        let balancer = TcpBalancer::start([a]).await.expect("balancer");
        let mut open = TcpStream::connect(balancer.address()).await.expect("connect");
        let mut name = [0_u8; 1];
        open.read_exact(&mut name).await.expect("read");
        assert_eq!(&name, b"a");

        balancer.add(b);
        assert!(balancer.remove(a));
        assert!(!balancer.remove(a), "removed already");
        assert_eq!(balancer.targets(), vec![b]);
        for _ in 0..3 {
            assert_eq!(served_by(&balancer).await, b"b");
        }
        open.write_all(b"still").await.expect("write");
        let mut echoed = [0_u8; 5];
        open.read_exact(&mut echoed).await.expect("the open connection still works");
        assert_eq!(&echoed, b"still");
    }
}
