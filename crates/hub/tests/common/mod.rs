//! An in-process hub for the hub's integration tests: SQLite in memory, the in-process broker,
//! gRPC and HTTP (metrics, console, gateway) on loopback ports, no node.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use agent_hub::{HubConfig, HubServer, ServeError};
use agentry_broker::Broker;
use agentry_proto::v1::agent_hub_client::AgentHubClient;
use agentry_store::SqliteStore;

/// A hub serving on loopback ports until [`TestHub::stop`], with its store at hand.
pub struct TestHub {
    /// A gRPC client of its `AgentHub`.
    pub client: AgentHubClient<Channel>,
    /// Its store, for arranging and checking durable state.
    #[allow(dead_code, reason = "not every test file reads the store")]
    pub store: Arc<SqliteStore>,
    /// The origin of its HTTP listener, `http://127.0.0.1:PORT`.
    #[allow(dead_code, reason = "not every test file speaks HTTP")]
    pub http_base: String,
    shutdown: CancellationToken,
    serving: JoinHandle<Result<(), ServeError>>,
}

impl TestHub {
    /// Starts a hub and connects a client.
    pub async fn start() -> Self {
        Self::start_with(HubConfig::for_test("sqlite::memory:"), |server| server).await
    }

    /// Starts a hub with `config` and what `configure` adds to its server (models, templates…),
    /// and connects a client.
    pub async fn start_with(config: HubConfig, configure: impl FnOnce(HubServer) -> HubServer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding a loopback port");
        let http_listener = TcpListener::bind("127.0.0.1:0").await.expect("binding a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let http_base = format!("http://{}", http_listener.local_addr().expect("local address"));
        let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.expect("opening an in-memory store"));
        let server = configure(HubServer::new(config))
            .with_store(store.clone())
            .with_broker(Broker::in_process())
            .with_http_listener(http_listener);
        let shutdown = CancellationToken::new();
        let serving = tokio::spawn(server.serve(listener, shutdown.clone()));
        // The listeners are bound: connections wait in their backlogs until the hub serves.
        let client = AgentHubClient::connect(url).await.expect("connecting to the hub");
        Self { client, store, http_base, shutdown, serving }
    }

    /// Stops the hub and checks it shut down cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.serving.await.expect("the hub task").expect("a clean shutdown");
    }
}
