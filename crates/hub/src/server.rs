//! Serving: gRPC (AgentHub, NodeService, health, reflection) plus the supervised background
//! tasks. [`HubServer`] builds the store and the broker from the [`HubConfig`] (the URL scheme
//! chooses PostgreSQL or SQLite, NATS or in-process) unless they are injected.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use agentry_broker::{Broker, BrokerError};
use agentry_core::limits::MAX_GRPC_MESSAGE_BYTES;
use agentry_proto::v1::agent_hub_server::AgentHubServer;
use agentry_proto::v1::node_service_server::NodeServiceServer;
use agentry_store::Store;
use agentry_supervisor::{Policy, Supervisor, TaskFailure};
use agentry_telemetry::prometheus::Registry;
use agentry_telemetry::{Readiness, RefreshHook};

use crate::auth::AuthLayer;
use crate::config::{HubConfig, InvalidConfig, redact_password};
use crate::gateway::{self, Gateway};
use crate::grpc::{AgentHubApi, NodeServiceApi, RpcMetricsLayer};
use crate::guard::Guard;
use crate::hub::Hub;
use crate::metrics::HubMetrics;
use crate::placer::run_placer;
use crate::reaper::run_reaper;
use crate::templates::{TemplateLibrary, load_library};
use agentry_core::models::ModelsConfig;
use agentry_core::templates::TemplateDef;

/// How long a connection may be silent before the hub pings it (HTTP/2 keepalive). Lease
/// streams beat far more often; this frees the connections of peers that vanished without a
/// reset (host down, network gone) — the lease TTL has moved their runs long before.
pub const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// How long a keepalive ping may go unanswered before the hub closes the connection, which
/// breaks its lease streams.
pub const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Policy of the placer: a failed pass leaves nothing half-done (each assignment is one CAS in
/// the store), so it restarts; without it no run would ever be placed again.
pub const PLACER_POLICY: Policy = Policy::Restart;
/// Policy of the hint relay: hints are wake-ups only, so it restarts (followers poll meanwhile).
pub const HINT_RELAY_POLICY: Policy = Policy::Restart;
/// Policy of the reaper: its leadership is a database session that ends with it, so it
/// restarts and competes for leadership again.
pub const REAPER_POLICY: Policy = Policy::Restart;

/// Why the hub could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error("invalid hub configuration: {0}")]
    Config(#[from] InvalidConfig),
    /// The store could not be opened.
    #[error("opening the database {url}: {source}")]
    Store {
        /// The database URL, password redacted.
        url: String,
        /// What failed.
        source: agentry_store::Error,
    },
    /// The broker could not be reached.
    #[error("connecting to NATS at {url}: {source}")]
    Broker {
        /// The NATS URL.
        url: String,
        /// What failed.
        source: BrokerError,
    },
    /// Reflection could not be built from the descriptors (a build bug).
    #[error("building gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A background task whose failure is fatal failed.
    #[error("background task {} failed: {}", .0.task, .0.reason)]
    Task(TaskFailure),
    /// The metrics could not be registered (a second hub on one registry).
    #[error("registering the hub's metrics: {0}")]
    Metrics(#[from] agentry_telemetry::prometheus::Error),
    /// A role template (built in, in `templates-dir` or a config table) is invalid, or the
    /// directory cannot be read.
    #[error("invalid role templates: {0}")]
    Templates(#[from] crate::templates::LoadError),
    /// A TLS file (`tls-cert`, `tls-key`, `tls-client-ca`) cannot be read or used.
    #[error("TLS: {0}")]
    Tls(#[from] agentry_tls::TlsError),
    /// The auth file or the JWT issuer's keys cannot be read or used.
    #[error("authentication: {0}")]
    Auth(#[from] crate::auth::AuthError),
}

/// Returns the span of one gRPC call: none for the long-lived streams (a node's `Lease`, a
/// client's `Trace`, health watches), whose span would be entered on every message for a
/// whole connection's life and say nothing a trace needs; a server span for every other call.
fn rpc_span(request: &tonic::codegen::http::Request<()>) -> tracing::Span {
    const LONG_LIVED: [&str; 3] =
        ["/agentry.v1.NodeService/Lease", "/agentry.v1.AgentHub/Trace", "/grpc.health.v1.Health/Watch"];
    if LONG_LIVED.contains(&request.uri().path()) {
        return tracing::Span::none();
    }
    agentry_telemetry::propagation::grpc_server_span(request)
}

/// The hub's HTTP listener and the registry its `/metrics` serves.
struct Http {
    listener: TcpListener,
    registry: Registry,
}

/// Serves `/metrics`, `/healthz` and `/readyz` for `hub` on `http` until `stop` (the gauges
/// read from the store are refreshed before each scrape), and the web console: its page at
/// `/`, its assets under `/assets/`, and the [`gateway`] it reads from.
fn spawn_http(hub: &Hub, guard: &Guard, http: Http, readiness: Readiness, stop: CancellationToken) {
    let refresh_hub = hub.clone();
    let refresh: RefreshHook = Arc::new(move || {
        let hub = refresh_hub.clone();
        Box::pin(async move { hub.refresh_metrics().await })
    });
    if let Ok(address) = http.listener.local_addr() {
        tracing::info!(url = %console_url(address, guard.tls.is_some()), "web console serving");
    }
    let gateway = Gateway::new(AgentHubApi::new(hub.clone()), hub.metrics().clone());
    let gateway = gateway::router(gateway).layer(AuthLayer::connect(guard.auth.clone(), hub.audit.clone()));
    let router = agentry_telemetry::router(http.registry, readiness, Some(refresh))
        .merge(gateway)
        .merge(agentry_console::router());
    match &guard.tls {
        Some(tls) => agentry_telemetry::http::spawn_https(http.listener, tls, router, stop, "hub"),
        None => agentry_telemetry::spawn_http(http.listener, router, stop, "hub"),
    }
}

/// Returns the URL of the web console served on `address` (`http://127.0.0.1:7701/` for a
/// listener on every interface; `https://` with `tls`).
pub fn console_url(address: std::net::SocketAddr, tls: bool) -> String {
    let ip = match address.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
        ip if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}/", std::net::SocketAddr::new(ip, address.port()))
}

/// A hub to serve: its configuration and, optionally, an injected store and broker.
pub struct HubServer {
    config: HubConfig,
    models: ModelsConfig,
    allowed_tools: Option<Vec<String>>,
    template_tables: BTreeMap<String, TemplateDef>,
    store: Option<Arc<dyn Store>>,
    broker: Option<Broker>,
    supervisor: Supervisor,
    registry: Option<Registry>,
    http_listener: Option<TcpListener>,
}

impl HubServer {
    /// Returns a hub that opens its store and broker from `config`.
    pub fn new(config: HubConfig) -> Self {
        Self {
            config,
            models: ModelsConfig::default(),
            allowed_tools: None,
            template_tables: BTreeMap::new(),
            store: None,
            broker: None,
            supervisor: Supervisor::new(),
            registry: None,
            http_listener: None,
        }
    }

    /// Registers the hub's metrics on `registry` (shared with in-process nodes by `agentry
    /// dev`) instead of a registry of its own.
    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Serves HTTP on `listener`: `/metrics` (Prometheus text format), `/healthz` and
    /// `/readyz` (ready while the gRPC server serves).
    pub fn with_http_listener(mut self, listener: TcpListener) -> Self {
        self.http_listener = Some(listener);
        self
    }

    /// Accepts the configured models and routes of `models` (validated) in spawned specs.
    pub fn with_models(mut self, models: ModelsConfig) -> Self {
        self.models = models;
        self
    }

    /// Accepts only `allowed` builtin tools in spawned specs (`[tools] allowed`; `None`: all).
    pub fn with_allowed_tools(mut self, allowed: Option<Vec<String>>) -> Self {
        self.allowed_tools = allowed;
        self
    }

    /// Adds the config file's `[templates.NAME]` tables (by table name) to the role templates,
    /// over the built-in ones and those of `templates-dir`; they are checked at start.
    pub fn with_templates(mut self, tables: BTreeMap<String, TemplateDef>) -> Self {
        self.template_tables = tables;
        self
    }

    /// Uses `store` instead of opening `config.database_url`.
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Uses `broker` instead of connecting to `config.nats_url`.
    pub fn with_broker(mut self, broker: Broker) -> Self {
        self.broker = Some(broker);
        self
    }

    /// Returns the supervisor of the hub's background tasks (to observe their failures).
    pub fn supervisor(&self) -> Supervisor {
        self.supervisor.clone()
    }

    /// Serves on `listener` until `shutdown` is cancelled, then stops in order: health
    /// NOT_SERVING → background tasks → in-flight RPCs (within `shutdown_grace`).
    ///
    /// Errors when the configuration is invalid, the store or broker cannot be opened, the
    /// server fails, or a fatal background task fails.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) -> Result<(), ServeError> {
        self.config.validate()?;
        let guard = Guard::open(&self.config, &listener, self.http_listener.as_ref()).await?;
        let templates = load_templates(&self.config, self.template_tables, &self.models).await?;
        let registry = self.registry.unwrap_or_default();
        let metrics = HubMetrics::register(&registry)?;
        let store = match self.store {
            Some(store) => store,
            None => open_store(&self.config.database_url).await?,
        };
        let broker = match self.broker {
            Some(broker) => broker,
            None => connect_broker(self.config.nats_url.as_deref(), self.config.nats_ca.clone()).await?,
        };
        let audit = crate::audit::AuditLog::new();
        registry.register(Box::new(audit.dropped_counter()))?;
        let streams = guard.auth.stream_limiter();
        let hub = Hub::new(self.config, store, broker)
            .with_security(guard.auth.clone(), streams, audit)
            .with_models(self.models)
            .with_allowed_tools(self.allowed_tools)
            .with_templates(templates)
            .with_metrics(metrics);
        let http = self.http_listener.map(|listener| Http { listener, registry });
        serve(hub, self.supervisor, listener, http, guard, shutdown).await
    }
}

/// Serves a hub built from `config` on `listener` until `shutdown`; see [`HubServer::serve`].
pub async fn run(config: HubConfig, listener: TcpListener, shutdown: CancellationToken) -> Result<(), ServeError> {
    HubServer::new(config).serve(listener, shutdown).await
}

/// Loads the role templates ([`crate::templates::load_library`]) off the async workers.
async fn load_templates(
    config: &HubConfig,
    tables: BTreeMap<String, TemplateDef>,
    models: &ModelsConfig,
) -> Result<TemplateLibrary, ServeError> {
    let dir = config.templates_dir.clone();
    let models = models.clone();
    let loaded = tokio::task::spawn_blocking(move || load_library(dir.as_deref(), &tables, &models)).await;
    // The loader does not panic; a join error would only be a cancelled runtime.
    let library = loaded.map_err(|error| {
        let reason = format!("the loading task failed: {error}");
        crate::templates::LoadError::Read { path: config.templates_dir.clone().unwrap_or_default(), reason }
    })??;
    tracing::info!(templates = ?library.iter().map(|loaded| loaded.template.name.as_str()).collect::<Vec<_>>(), "role templates loaded");
    Ok(library)
}

/// Opens the store at `url` (scheme `postgres://`, `postgresql://` or `sqlite:`).
async fn open_store(url: &str) -> Result<Arc<dyn Store>, ServeError> {
    agentry_store::connect(url).await.map_err(|source| ServeError::Store { url: redact_password(url), source })
}

/// Connects to NATS at `url` (verifying a TLS server with `ca`, the `nats-ca` key), or returns
/// an in-process broker (with a warning) without one.
async fn connect_broker(url: Option<&str>, ca: Option<std::path::PathBuf>) -> Result<Broker, ServeError> {
    match url {
        Some(url) => Broker::connect_nats_with(url, &agentry_broker::NatsTls { ca })
            .await
            .map_err(|source| ServeError::Broker { url: url.to_owned(), source }),
        None => {
            tracing::warn!(
                "no nats-url (AGENTRY_NATS_URL, --nats-url): using the in-process broker; nodes in other \
                 processes cannot receive tasks"
            );
            Ok(Broker::in_process())
        }
    }
}

/// Starts the hub's background tasks under `supervisor`, each stopping with `stop`.
fn spawn_background(hub: &Hub, guard: &Guard, supervisor: &Supervisor, stop: &CancellationToken) {
    if let Some(tls) = &guard.tls {
        tls.spawn_reloader(hub.config.tls_reload_interval, stop.clone());
    }
    guard.auth.spawn_reloader(hub.config.tls_reload_interval, stop.clone());
    let placer_hub = hub.clone();
    supervisor.spawn("placer", PLACER_POLICY, stop.clone(), move |stop| run_placer(placer_hub.clone(), stop));
    let fanout = hub.fanout.clone();
    supervisor.spawn("hint-relay", HINT_RELAY_POLICY, stop.clone(), move |stop| fanout.clone().relay(stop));
    let reaper_hub = hub.clone();
    supervisor.spawn("reaper", REAPER_POLICY, stop.clone(), move |stop| run_reaper(reaper_hub.clone(), stop));
}

async fn serve(
    hub: Hub,
    supervisor: Supervisor,
    listener: TcpListener,
    http: Option<Http>,
    guard: Guard,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let grace = hub.config.shutdown_grace;
    let local_addr = listener.local_addr().ok();
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<AgentHubServer<AgentHubApi>>().await;
    health_reporter.set_serving::<NodeServiceServer<NodeServiceApi>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(agentry_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let background = CancellationToken::new();
    spawn_background(&hub, &guard, &supervisor, &background);
    let audit_writer = hub.audit.spawn_writer(hub.store.clone());
    let readiness = Readiness::new(true);
    let http_stop = CancellationToken::new();
    if let Some(http) = http {
        spawn_http(&hub, &guard, http, readiness.clone(), http_stop.clone());
    }

    let agent_hub = AgentHubServer::new(AgentHubApi::new(hub.clone()))
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let node_service = NodeServiceServer::new(NodeServiceApi::new(hub.clone()))
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    tracing::info!(addr = ?local_addr, tls = guard.tls.is_some(), mutual_tls = hub.config.tls_client_ca.is_some(), authentication = guard.auth.enabled(), "hub serving");

    let rpc_stop = CancellationToken::new();
    let mutual_tls = hub.config.tls_client_ca.is_some();
    let router = Server::builder()
        .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
        .trace_fn(rpc_span)
        .layer(RpcMetricsLayer::new(hub.metrics().clone()))
        .layer(AuthLayer::grpc(guard.auth.clone(), hub.audit.clone(), mutual_tls))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(agent_hub)
        .add_service(node_service);
    let stopped = rpc_stop.clone().cancelled_owned();
    let serve: Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> = match &guard.tls {
        Some(tls) => Box::pin(router.serve_with_incoming_shutdown(tls.grpc_incoming(listener), stopped)),
        None => {
            Box::pin(router.serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), stopped))
        }
    };
    tokio::pin!(serve);

    let failed = supervisor.failed();
    let served = tokio::select! {
        result = &mut serve => Some(result),
        _ = shutdown.cancelled() => None,
        _ = failed.cancelled() => None,
    };
    let result = match served {
        Some(result) => result,
        None => {
            tracing::info!("hub shutting down");
            readiness.set(false);
            health_reporter.set_not_serving::<AgentHubServer<AgentHubApi>>().await;
            health_reporter.set_not_serving::<NodeServiceServer<NodeServiceApi>>().await;
            // The whole server too: Kubernetes' `grpc` probes and `agentry health` ask for "".
            health_reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
            background.cancel();
            hub.stopping.cancel();
            rpc_stop.cancel();
            match tokio::time::timeout(grace, &mut serve).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(?grace, "in-flight RPCs did not finish within the grace period");
                    Ok(())
                }
            }
        }
    };
    background.cancel();
    http_stop.cancel();
    supervisor.join().await;
    hub.audit.close();
    if audit_writer.await.is_err() {
        tracing::warn!("the audit writer stopped abnormally; its last records may be lost");
    }
    if let Some(failure) = supervisor.fatal_failure() {
        return Err(ServeError::Task(failure));
    }
    Ok(result?)
}
