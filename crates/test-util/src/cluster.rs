//! An in-process cluster: one hub and N nodes on real services, for end-to-end tests.
//!
//! - [`Backend::Postgres`] + JetStream: a fresh PostgreSQL database and a private
//!   `nats-server`, as a multi-machine deployment uses them.
//! - [`Backend::Sqlite`] + in-process broker: the `agentry dev` configuration.
//!
//! Hub and nodes talk gRPC over loopback exactly as separate processes would. The hub's task
//! queue can be wrapped ([`Cluster::start_with_hub_queue`]) to inject faults into what the hub
//! publishes while the nodes use the real queue.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use agent_hub::{HubConfig, HubServer};
use agent_node::{Node, NodeConfig};
use agentry_broker::{Broker, TaskQueue};
use agentry_core::models::ModelsConfig;
use agentry_proto::v1 as pb;
use agentry_proto::v1::agent_hub_client::AgentHubClient;
use agentry_store::testing::PgTestDatabase;
use agentry_store::{SqliteStore, Store};

use crate::eventually::{Observed, eventually};
use crate::nats::NatsServer;

/// Which store and broker the cluster uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL (fresh database) + NATS JetStream (private server).
    Postgres,
    /// SQLite (temporary file) + the in-process broker.
    Sqlite,
}

/// A running cluster; [`Cluster::shutdown`] stops it (dropping it aborts the tasks).
pub struct Cluster {
    /// The hub's URL, `http://127.0.0.1:<port>`.
    pub hub_url: String,
    /// The hub's store, for assertions on durable state.
    pub store: Arc<dyn Store>,
    /// The private NATS server, with Postgres.
    pub nats: Option<NatsServer>,
    /// The broker of the nodes.
    broker: Broker,
    /// The broker of the hub: the nodes' one, or its task queue wrapped.
    hub_broker: Broker,
    hub: (CancellationToken, JoinHandle<()>),
    nodes: Vec<(CancellationToken, JoinHandle<()>)>,
    model_url: String,
    slots: u32,
    models: ModelsConfig,
    dir: tempfile::TempDir,
    _database: Option<PgTestDatabase>,
}

impl Cluster {
    /// Starts a hub and `node_count` nodes (2 slots each) whose `openai:` models are served at
    /// `model_url`, and waits until every node has joined.
    pub async fn start(backend: Backend, node_count: usize, model_url: &str) -> anyhow::Result<Self> {
        Self::start_with_slots(backend, node_count, 2, model_url).await
    }

    /// Like [`Cluster::start`], with `slots` concurrent runs per node.
    pub async fn start_with_slots(
        backend: Backend,
        node_count: usize,
        slots: u32,
        model_url: &str,
    ) -> anyhow::Result<Self> {
        Self::start_with_models(backend, node_count, slots, model_url, ModelsConfig::default()).await
    }

    /// Like [`Cluster::start_with_slots`], with the configured models and routes of `models` on
    /// the hub (checked in spawns) and on every node.
    pub async fn start_with_models(
        backend: Backend,
        node_count: usize,
        slots: u32,
        model_url: &str,
        models: ModelsConfig,
    ) -> anyhow::Result<Self> {
        Self::start_full(backend, node_count, slots, model_url, models, |queue| queue).await
    }

    /// Like [`Cluster::start_with_slots`], the hub publishing its tasks through
    /// `wrap_hub_queue(queue)` while the nodes pull from `queue` itself: a wrapper that drops
    /// or fails publishes injects faults between the hub and the nodes. A restarted hub
    /// ([`Cluster::restart_hub`]) keeps the wrapped queue.
    pub async fn start_with_hub_queue(
        backend: Backend,
        node_count: usize,
        slots: u32,
        model_url: &str,
        wrap_hub_queue: impl FnOnce(Arc<dyn TaskQueue>) -> Arc<dyn TaskQueue>,
    ) -> anyhow::Result<Self> {
        Self::start_full(backend, node_count, slots, model_url, ModelsConfig::default(), wrap_hub_queue).await
    }

    async fn start_full(
        backend: Backend,
        node_count: usize,
        slots: u32,
        model_url: &str,
        models: ModelsConfig,
        wrap_hub_queue: impl FnOnce(Arc<dyn TaskQueue>) -> Arc<dyn TaskQueue>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (store, broker, nats, database): (Arc<dyn Store>, Broker, _, _) = match backend {
            Backend::Postgres => {
                let database = PgTestDatabase::create().await.context("creating a test database")?;
                let store = agentry_store::connect(database.url()).await?;
                let nats = NatsServer::start()?;
                let broker = Broker::connect_nats(&nats.url()).await?;
                (store, broker, Some(nats), Some(database))
            }
            Backend::Sqlite => {
                let store = SqliteStore::open(&dir.path().join("agentry.db")).await?;
                (Arc::new(store), Broker::in_process(), None, None)
            }
        };
        let hub_broker = Broker { tasks: wrap_hub_queue(broker.tasks.clone()), hints: broker.hints.clone() };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let hub_url = format!("http://{}", listener.local_addr()?);
        let hub = start_hub(store.clone(), hub_broker.clone(), listener, models.clone());
        let mut cluster = Self {
            hub_url,
            store,
            nats,
            broker,
            hub_broker,
            hub,
            nodes: Vec::new(),
            model_url: model_url.to_owned(),
            slots,
            models,
            dir,
            _database: database,
        };
        for _ in 0..node_count {
            cluster.add_node().await?;
        }
        cluster.wait_for_ready_nodes(node_count).await?;
        Ok(cluster)
    }

    /// Starts one more in-process node.
    pub async fn add_node(&mut self) -> anyhow::Result<()> {
        self.add_custom_node(|node| node).await
    }

    /// Starts one more in-process node after `customize` (e.g. [`Node::with_model`],
    /// [`Node::with_tools`]) changed what it runs with.
    pub async fn add_custom_node(
        &mut self,
        customize: impl FnOnce(Node) -> Node + Send + 'static,
    ) -> anyhow::Result<()> {
        let index = self.nodes.len() + 1;
        let workspace_root = self.dir.path().join(format!("node-{index}"));
        let mut config = NodeConfig::for_test(self.hub_url.clone(), workspace_root, self.model_url.clone());
        config.name = format!("test-node-{index}");
        config.slots = self.slots;
        let stop = CancellationToken::new();
        let (queue, token, models) = (self.broker.tasks.clone(), stop.clone(), self.models.clone());
        let task = tokio::spawn(async move {
            let node = Node::new(config).with_models(models).with_queue(queue);
            if let Err(error) = customize(node).run(token).await {
                panic!("node failed: {error}");
            }
        });
        self.nodes.push((stop, task));
        Ok(())
    }

    /// Stops the hub (gracefully) and starts a new one on the same address and store, as a
    /// restarted hub process would. Nodes keep running and reconnect on their own.
    pub async fn restart_hub(&mut self) -> anyhow::Result<()> {
        self.hub.0.cancel();
        let _ = (&mut self.hub.1).await;
        let address = self.hub_url.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind(&address).await.with_context(|| format!("rebinding {address}"))?;
        self.hub = start_hub(self.store.clone(), self.hub_broker.clone(), listener, self.models.clone());
        Ok(())
    }

    /// Returns a client of the hub's AgentHub API.
    pub async fn client(&self) -> anyhow::Result<AgentHubClient<Channel>> {
        Ok(AgentHubClient::connect(self.hub_url.clone()).await?)
    }

    /// Spawns an agent with `spec` and, when given, a first `input`.
    pub async fn spawn(&self, spec: pb::AgentSpec, input: Option<String>) -> anyhow::Result<pb::SpawnResponse> {
        let request = pb::SpawnRequest { spec: Some(spec), input, ..Default::default() };
        Ok(self.client().await?.spawn(request).await?.into_inner())
    }

    /// Collects a `Trace` stream until the hub ends it (end of backlog, or the followed run
    /// ended); fails after `timeout` or on a stream error.
    pub async fn trace(&self, request: pb::TraceRequest, timeout: Duration) -> anyhow::Result<Vec<pb::TraceEvent>> {
        let mut stream = self.client().await?.trace(request).await?.into_inner();
        let mut events = Vec::new();
        let collect = async {
            while let Some(item) = stream.message().await? {
                events.push(item.event.context("a TraceResponse without an event")?);
            }
            anyhow::Ok(())
        };
        tokio::time::timeout(timeout, collect).await.context("the trace did not end in time")??;
        Ok(events)
    }

    /// Waits (up to 30 s) until `count` nodes are `ready`.
    pub async fn wait_for_ready_nodes(&self, count: usize) -> anyhow::Result<()> {
        let client = connect_with_retry(&self.hub_url).await?;
        eventually(&format!("{count} ready nodes"), Duration::from_secs(30), || {
            let mut client = client.clone();
            async move {
                let nodes = match client.list_nodes(pb::ListNodesRequest {}).await {
                    Ok(response) => response.into_inner().nodes,
                    Err(status) => return Observed::Failed(status.into()),
                };
                let ready = nodes.iter().filter(|node| node.state == pb::NodeState::Ready as i32).count();
                if ready >= count { Observed::Ready(()) } else { Observed::NotYet(format!("{ready} ready")) }
            }
        })
        .await
    }

    /// Waits (up to `timeout`) until the run is in a terminal state and returns it.
    pub async fn wait_for_run_end(&self, run_id: &str, timeout: Duration) -> anyhow::Result<pb::Run> {
        let client = self.client().await?;
        eventually(&format!("run {run_id} to end"), timeout, || {
            let mut client = client.clone();
            async move {
                let request = pb::GetRunRequest { run_id: run_id.to_owned() };
                let run = match client.get_run(request).await.map(|response| response.into_inner().run) {
                    Ok(Some(run)) => run,
                    Ok(None) => return Observed::Failed(anyhow::anyhow!("GetRun returned no run")),
                    Err(status) => return Observed::Failed(status.into()),
                };
                let terminal = [pb::RunStatus::Completed, pb::RunStatus::Failed, pb::RunStatus::Cancelled];
                if terminal.iter().any(|status| *status as i32 == run.status) {
                    Observed::Ready(run)
                } else {
                    Observed::NotYet(format!("{:?}", pb::RunStatus::try_from(run.status)))
                }
            }
        })
        .await
    }

    /// Stops nodes, then the hub, gracefully.
    pub async fn shutdown(mut self) {
        for (stop, task) in &mut self.nodes {
            stop.cancel();
            let _ = task.await;
        }
        self.hub.0.cancel();
        let _ = (&mut self.hub.1).await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (stop, task) in &self.nodes {
            stop.cancel();
            task.abort();
        }
        self.hub.0.cancel();
        self.hub.1.abort();
    }
}

/// Starts a hub task on `listener`; returns its stop token and handle.
fn start_hub(
    store: Arc<dyn Store>,
    broker: Broker,
    listener: tokio::net::TcpListener,
    models: ModelsConfig,
) -> (CancellationToken, JoinHandle<()>) {
    // The store is injected; the URL only has to be valid.
    let config = HubConfig::for_test("sqlite::memory:");
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let server = HubServer::new(config).with_models(models).with_store(store).with_broker(broker);
        if let Err(error) = server.serve(listener, token).await {
            panic!("hub failed: {error}");
        }
    });
    (stop, task)
}

/// Connects to a hub that may still be starting (up to 10 s).
async fn connect_with_retry(url: &str) -> anyhow::Result<AgentHubClient<Channel>> {
    eventually(&format!("the hub at {url} to accept connections"), Duration::from_secs(10), || async {
        match AgentHubClient::connect(url.to_owned()).await {
            Ok(client) => Observed::Ready(client),
            Err(error) => Observed::NotYet(format!("{error:#}")),
        }
    })
    .await
}
