//! The metrics and health HTTP endpoint of a process: `/metrics` (Prometheus text format
//! 0.0.4), `/healthz` (200 `ok` while the process serves) and `/readyz` (200 `ready`, or 503
//! `not ready` until [`Readiness::set`]`(true)`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::BoxFuture;
use prometheus::{Encoder, TextEncoder};
use tokio_util::sync::CancellationToken;

use agentry_tls::{ServerTls, TlsPeerAddr};

/// How long `/metrics` waits for the [`RefreshHook`] before answering with the values it has.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the process is ready to serve (answers `/readyz`); a cheap clone shared with the
/// code that knows (e.g. set once the store and broker are connected).
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Returns a readiness flag, initially `ready`.
    pub fn new(ready: bool) -> Self {
        Self(Arc::new(AtomicBool::new(ready)))
    }

    /// Sets whether the process is ready.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    /// Returns whether the process is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Awaited before each `/metrics` gather, e.g. to refresh gauges from a store. It is given
/// [`REFRESH_TIMEOUT`]: a slower refresh is dropped (cancelled) and the scrape answers with the
/// current values, so spawn work that must finish.
pub type RefreshHook = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// What the handlers share.
struct Endpoint {
    registry: prometheus::Registry,
    readiness: Readiness,
    refresh: Option<RefreshHook>,
    refresh_timeout: Duration,
}

/// Returns the router of `/metrics` (the metrics of `registry`, after `refresh`), `/healthz`
/// and `/readyz` (from `readiness`). Serve it with [`serve`] or merge it into another router.
pub fn router(registry: prometheus::Registry, readiness: Readiness, refresh: Option<RefreshHook>) -> Router {
    router_with_timeout(registry, readiness, refresh, REFRESH_TIMEOUT)
}

fn router_with_timeout(
    registry: prometheus::Registry,
    readiness: Readiness,
    refresh: Option<RefreshHook>,
    refresh_timeout: Duration,
) -> Router {
    let endpoint = Arc::new(Endpoint { registry, readiness, refresh, refresh_timeout });
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(endpoint)
}

/// Serves `router` on `listener` (HTTP/1.1) until `shutdown` is cancelled, then finishes the
/// requests in flight.
///
/// Errors when accepting connections fails for good.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// Serves `router` on `listener` over TLS with `tls` (HTTP/1.1, ALPN `http/1.1`; handshakes
/// concurrent, each bounded by [`agentry_tls::HANDSHAKE_TIMEOUT`]; certificates reloaded as
/// `tls` reloads them) until `shutdown`. Handlers see the caller's address as
/// `ConnectInfo<agentry_tls::TlsPeerAddr>`.
///
/// Errors when accepting connections fails for good.
pub async fn serve_https(
    listener: tokio::net::TcpListener,
    tls: &ServerTls,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let service = router.into_make_service_with_connect_info::<TlsPeerAddr>();
    axum::serve(tls.http_listener(listener), service).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

/// As [`spawn`], over TLS with `tls` (see [`serve_https`]); logs `{who} HTTPS (metrics, health)
/// serving`. Must be called within a tokio runtime.
pub fn spawn_https(
    listener: tokio::net::TcpListener,
    tls: &ServerTls,
    router: Router,
    stop: CancellationToken,
    who: &'static str,
) {
    let address = listener.local_addr().ok();
    tracing::info!(addr = ?address, "{who} HTTPS (metrics, health) serving");
    let tls_listener = tls.http_listener(listener);
    let service = router.into_make_service_with_connect_info::<TlsPeerAddr>();
    tokio::spawn(async move {
        let served = axum::serve(tls_listener, service).with_graceful_shutdown(stop.cancelled_owned()).await;
        if let Err(error) = served {
            tracing::error!(%error, "the {who}'s HTTPS server failed");
        }
    });
}

/// Serves `router` on `listener` in a task of its own until `stop` (see [`serve`]), logging
/// the address as `{who} HTTP (metrics, health) serving` and a failure as an error.
pub fn spawn(listener: tokio::net::TcpListener, router: Router, stop: CancellationToken, who: &'static str) {
    let address = listener.local_addr().ok();
    tracing::info!(addr = ?address, "{who} HTTP (metrics, health) serving");
    tokio::spawn(async move {
        if let Err(error) = serve(listener, router, stop).await {
            tracing::error!(%error, "the {who}'s HTTP server failed");
        }
    });
}

async fn metrics(State(endpoint): State<Arc<Endpoint>>) -> Response {
    if let Some(refresh) = &endpoint.refresh
        && tokio::time::timeout(endpoint.refresh_timeout, refresh()).await.is_err()
    {
        tracing::warn!(timeout = ?endpoint.refresh_timeout, "the metrics refresh timed out; serving the current values");
    }
    let families = endpoint.registry.gather();
    let encoder = TextEncoder::new();
    let mut body = Vec::with_capacity(4096);
    if let Err(error) = encoder.encode(&families, &mut body) {
        tracing::error!(%error, "encoding the metrics");
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the metrics: {error}")).into_response();
    }
    let content_type = HeaderValue::from_str(encoder.format_type())
        .unwrap_or_else(|_| HeaderValue::from_static(prometheus::TEXT_FORMAT));
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn ready(State(endpoint): State<Arc<Endpoint>>) -> (StatusCode, &'static str) {
    if endpoint.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicUsize;

    use prometheus::{IntCounterVec, IntGauge, Opts};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Starts `router` on 127.0.0.1:0; returns its address and the token stopping it.
    async fn start(router: Router) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<std::io::Result<()>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, router, shutdown.clone()));
        (address, shutdown, task)
    }

    /// Returns the status code, headers and body of `GET path`.
    async fn get(address: SocketAddr, path: &str) -> (u16, String, String) {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    #[tokio::test]
    async fn metrics_health_and_readiness_are_served() {
        let registry = prometheus::Registry::new();
        let requests = IntCounterVec::new(Opts::new("agentry_test_requests_total", "Requests."), &["method"]).unwrap();
        registry.register(Box::new(requests.clone())).unwrap();
        requests.with_label_values(&["Spawn"]).inc_by(3);
        let gauge = IntGauge::new("agentry_test_refreshed", "Set by the refresh hook.").unwrap();
        registry.register(Box::new(gauge.clone())).unwrap();
        let refreshes = Arc::new(AtomicUsize::new(0));
        let refresh: RefreshHook = {
            let refreshes = refreshes.clone();
            Arc::new(move || {
                let gauge = gauge.clone();
                let refreshes = refreshes.clone();
                Box::pin(async move {
                    gauge.set(42);
                    refreshes.fetch_add(1, Ordering::Relaxed);
                })
            })
        };
        let readiness = Readiness::new(false);
        let (address, shutdown, task) = start(router(registry, readiness.clone(), Some(refresh))).await;

        let (status, head, body) = get(address, "/metrics").await;
        assert_eq!(status, 200);
        assert!(head.contains("content-type: text/plain; version=0.0.4"), "{head}");
        assert!(body.contains("agentry_test_requests_total{method=\"Spawn\"} 3"), "{body}");
        assert!(body.contains("agentry_test_refreshed 42"), "{body}");
        assert_eq!(refreshes.load(Ordering::Relaxed), 1);

        assert_eq!(get(address, "/healthz").await.0, 200);
        assert_eq!(get(address, "/readyz").await.0, 503);
        readiness.set(true);
        let (status, _, body) = get(address, "/readyz").await;
        assert_eq!((status, body.as_str()), (200, "ready"));

        shutdown.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn health_is_served_over_tls() {
        use agentry_tls::{ClientTls, ClientTlsFiles, ServerTlsFiles};
        use tokio_rustls::rustls::pki_types::ServerName;

        let dir = tempfile::tempdir().unwrap();
        let certs = agentry_tls::dev::generate(dir.path(), &[], &[], &[]).unwrap();
        let files = ServerTlsFiles { cert: certs.hub_cert.clone(), key: certs.hub_key.clone(), client_ca: None };
        let tls = ServerTls::load(files).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let _stop = stop.clone().drop_guard();
        spawn_https(listener, &tls, router(prometheus::Registry::new(), Readiness::new(true), None), stop, "test");

        let client =
            ClientTls::load(ClientTlsFiles { ca: Some(certs.ca.clone()), ..ClientTlsFiles::default() }).unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client.client_config()));
        let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut stream = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut response = String::new();
        // A server may close without close_notify after `Connection: close`; what was read counts.
        let _ = stream.read_to_string(&mut response).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("ok"), "{response}");

        let mut plaintext = tokio::net::TcpStream::connect(address).await.unwrap();
        plaintext.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        let _ = plaintext.read_to_end(&mut answer).await;
        assert!(!String::from_utf8_lossy(&answer).contains("200"), "no plaintext answer");
    }

    #[tokio::test]
    async fn a_slow_refresh_does_not_hang_the_scrape() {
        let registry = prometheus::Registry::new();
        let gauge = IntGauge::new("agentry_test_value", "A value.").unwrap();
        registry.register(Box::new(gauge.clone())).unwrap();
        gauge.set(7);
        let refresh: RefreshHook = Arc::new(|| Box::pin(futures::future::pending()));
        let router = router_with_timeout(registry, Readiness::new(true), Some(refresh), Duration::from_millis(50));
        let (address, shutdown, task) = start(router).await;
        let (status, _, body) = get(address, "/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("agentry_test_value 7"), "{body}");
        shutdown.cancel();
        task.await.unwrap().unwrap();
    }
}
