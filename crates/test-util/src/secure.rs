//! [`SecureHub`]: an in-process hub with the issue-16 doors closed — TLS with certificates from
//! `agentry_tls::dev::generate`, mutual TLS for nodes (`tls-client-ca`), bearer tokens from an
//! auth file — over SQLite and the in-process broker, with helpers to connect as a client with
//! a token, as a node with (or without) its certificate, and to start in-process nodes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use agent_hub::{HubConfig, HubServer};
use agent_node::{Node, NodeConfig};
use agentry_broker::Broker;
use agentry_proto::v1::agent_hub_client::AgentHubClient;
use agentry_proto::v1::node_service_client::NodeServiceClient;
use agentry_store::{SqliteStore, Store};
use agentry_tls::dev::DevCerts;
use agentry_tls::{ClientTls, ClientTlsFiles};

/// A token of the auth file: `token-<name>` is the secret, its SHA-256 is what the file holds.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    /// The actor name.
    pub name: String,
    /// `admin`, `operator`, `client` or `viewer`.
    pub role: String,
    /// The tenant; `None` for an admin of all tenants.
    pub tenant: Option<String>,
}

impl TokenSpec {
    /// Returns a token named `name` of `role` in `tenant`.
    pub fn new(name: &str, role: &str, tenant: Option<&str>) -> Self {
        Self { name: name.to_owned(), role: role.to_owned(), tenant: tenant.map(str::to_owned) }
    }

    /// Returns the secret the client sends: `token-<name>`.
    pub fn secret(&self) -> String {
        format!("token-{}", self.name)
    }
}

/// Returns the lowercase hex SHA-256 of `token`, as the auth file holds it.
pub fn token_hash(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Returns the auth file text for `tokens`, followed by `extra` (e.g. `[tenants.X]` tables).
pub fn auth_file(tokens: &[TokenSpec], extra: &str) -> String {
    let mut text = String::new();
    for token in tokens {
        text.push_str(&format!(
            "[[token]]\nname = {:?}\nsha256 = {:?}\nrole = {:?}\n",
            token.name,
            token_hash(&token.secret()),
            token.role
        ));
        if let Some(tenant) = &token.tenant {
            text.push_str(&format!("tenant = {tenant:?}\n"));
        }
        text.push('\n');
    }
    text.push_str(extra);
    text
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Debug, Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A client of the hub's `AgentHub` carrying a token.
pub type AuthedClient = AgentHubClient<InterceptedService<Channel, Bearer>>;

/// A TLS hub with mutual TLS for nodes and token authentication, in process.
pub struct SecureHub {
    /// `https://127.0.0.1:PORT` of its gRPC listener.
    pub url: String,
    /// `https://127.0.0.1:PORT` of its HTTP listener (console, gateway, metrics).
    pub http_base: String,
    /// The certificates (CA, hub, nodes `node-a` and `node-b`, client `alice`).
    pub certs: DevCerts,
    /// The store, for checking durable state.
    pub store: Arc<dyn Store>,
    broker: Broker,
    dir: tempfile::TempDir,
    shutdown: CancellationToken,
    serving: JoinHandle<Result<(), agent_hub::ServeError>>,
    nodes: Vec<(CancellationToken, JoinHandle<()>)>,
}

impl SecureHub {
    /// Starts a hub whose auth file holds `tokens` then `extra`, after `configure` changed its
    /// configuration (limits, …).
    ///
    /// Errors when the certificates, the store or the listeners cannot be made.
    pub async fn start(
        tokens: &[TokenSpec],
        extra: &str,
        configure: impl FnOnce(&mut HubConfig),
    ) -> anyhow::Result<Self> {
        agentry_tls::install_default_provider();
        let dir = tempfile::tempdir()?;
        let hosts: [String; 0] = [];
        let certs = agentry_tls::dev::generate(
            &dir.path().join("certs"),
            &hosts,
            &["node-a".to_owned(), "node-b".to_owned()],
            &["alice".to_owned()],
        )?;
        let auth = dir.path().join("auth.toml");
        std::fs::write(&auth, auth_file(tokens, extra))?;
        let mut config = HubConfig::for_test("sqlite::memory:");
        config.tls_cert = Some(certs.hub_cert.clone());
        config.tls_key = Some(certs.hub_key.clone());
        config.tls_client_ca = Some(certs.ca.clone());
        config.auth_file = Some(auth);
        configure(&mut config);
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("agentry.db")).await?);
        let broker = Broker::in_process();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("https://{}", listener.local_addr()?);
        let http_base = format!("https://{}", http_listener.local_addr()?);
        let server = HubServer::new(config)
            .with_store(store.clone())
            .with_broker(broker.clone())
            .with_http_listener(http_listener);
        let shutdown = CancellationToken::new();
        let serving = tokio::spawn(server.serve(listener, shutdown.clone()));
        Ok(Self { url, http_base, certs, store, broker, dir, shutdown, serving, nodes: Vec::new() })
    }

    /// Returns the TLS settings of a client trusting the dev CA, presenting `identity`'s
    /// certificate (`("node", "node-a")`, `("client", "alice")`) when given.
    ///
    /// Errors when the files cannot be read.
    pub fn client_tls(&self, identity: Option<(&str, &str)>) -> anyhow::Result<ClientTls> {
        let (cert, key) = match identity {
            Some((kind, name)) => {
                let dir = &self.certs.dir;
                (Some(dir.join(format!("{kind}-{name}.pem"))), Some(dir.join(format!("{kind}-{name}-key.pem"))))
            }
            None => (None, None),
        };
        Ok(ClientTls::load(ClientTlsFiles { ca: Some(self.certs.ca.clone()), cert, key })?)
    }

    /// Returns a channel to the hub with `tls`.
    ///
    /// Errors when the channel cannot be made.
    pub fn channel(&self, tls: &ClientTls) -> anyhow::Result<Channel> {
        let endpoint = Endpoint::from_shared(self.url.clone())?.connect_timeout(Duration::from_secs(5));
        Ok(agentry_tls::channel(endpoint, Some(tls))?)
    }

    /// Returns an `AgentHub` client trusting the CA that sends `token` (none: no header).
    ///
    /// Errors when the channel cannot be made.
    pub fn client(&self, token: Option<&str>) -> anyhow::Result<AuthedClient> {
        let value = match token {
            Some(token) => Some(format!("Bearer {token}").parse().context("a token as a header value")?),
            None => None,
        };
        Ok(AgentHubClient::with_interceptor(self.channel(&self.client_tls(None)?)?, Bearer(value)))
    }

    /// Returns a `NodeService` client presenting node `name`'s certificate (`None`: none).
    ///
    /// Errors when the channel cannot be made.
    pub fn node_client(&self, name: Option<&str>) -> anyhow::Result<NodeServiceClient<Channel>> {
        let tls = self.client_tls(name.map(|name| ("node", name)))?;
        Ok(NodeServiceClient::new(self.channel(&tls)?))
    }

    /// Starts an in-process node named `name` with its certificate, calling models at
    /// `model_url`; it panics (failing the test) when it stops with an error.
    pub fn start_node(&mut self, name: &str, model_url: &str) {
        let mut config = NodeConfig::for_test(self.url.clone(), self.dir.path().join(name), model_url.to_owned());
        config.name = name.to_owned();
        config.tls_ca = Some(self.certs.ca.clone());
        config.tls_cert = Some(self.certs.dir.join(format!("node-{name}.pem")));
        config.tls_key = Some(self.certs.dir.join(format!("node-{name}-key.pem")));
        let stop = CancellationToken::new();
        let (queue, token) = (self.broker.tasks.clone(), stop.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = Node::new(config).with_queue(queue).run(token).await {
                panic!("node failed: {error}");
            }
        });
        self.nodes.push((stop, task));
    }

    /// Stops the nodes, then the hub, and checks the hub stopped cleanly.
    ///
    /// Errors when the hub failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        for (stop, task) in self.nodes {
            stop.cancel();
            let _ = task.await;
        }
        self.shutdown.cancel();
        self.serving.await.context("the hub task")?.context("the hub's shutdown")?;
        Ok(())
    }
}
