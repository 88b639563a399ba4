//! W1: the agent-loop workload, comparable across runtimes. An agent loop of K steps — each a
//! model call at a scripted OpenAI-compatible server (0 ms) that asks for one `echo` tool call,
//! then one final model call — durable per step, driven in a closed loop by C clients through
//! the public gRPC API (Spawn, then Trace follow until the run ends), for K = 1 and K = 5, at
//! C = 32 and C = 1. Three setups, measured in one run:
//! - `cluster`: `agentry hub serve` + 2 `agentry node join` processes on PostgreSQL + NATS;
//! - `dev`: one `agentry dev` process (SQLite, in-process broker, 2 nodes);
//! - `direct`: the same loop with no runtime at all — the client calls the model server with the
//!   nodes' own provider and runs `echo` itself — the yardstick every figure is a ratio to;
//! - `cluster-otel`: the cost of tracing — two `cluster`s side by side, one exporting its spans
//!   (`OTEL_EXPORTER_OTLP_ENDPOINT` at an OTLP/gRPC receiver in this process, the SDK's default
//!   batch settings), one not, measured in alternating rounds (off, on, off, on, …) so that a
//!   drift of the machine's speed hits both; the row gives the median of the per-round ratios.
//!
//! Figures per cell: runs/s, run latency p50/p99 (Spawn sent → trace ended), host CPU busy
//! (from `/proc/stat`), and model steps requested more than once (must be 0).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tonic::transport::Channel;

use agentry_core::Message;
use agentry_proto::v1 as pb;
use agentry_proto::v1::agent_hub_client::AgentHubClient;
use agentry_runtime::model::{ChatRequest, EndpointConfig, ModelProvider, OpenAiProvider, ToolChoice};
use agentry_runtime::tools::{BuiltinTools, ToolCatalog, ToolContext, ToolRegistry};
use agentry_test_util::process_cluster::free_port;
use agentry_test_util::{
    NatsServer, Observed, OtlpReceiver, PgTestDatabase, ProcessCluster, ProcessClusterConfig, ScriptedModel, eventually,
};

use crate::{echo_agent, echo_script, percentile};

/// Tool steps per run measured.
const STEPS: [usize; 2] = [1, 5];
/// Runs measured in a C = 1 cell at least (one client alone is fast; fewer runs make p99 noise).
const SINGLE_CLIENT_RUNS: usize = 50;
/// Nodes of the `cluster` and `dev` setups, and their slots (2 × 16 = the largest C).
const NODES: usize = 2;
const SLOTS: u32 = 16;

/// What W1 runs.
pub struct W1Options {
    /// The `agentry` binary.
    pub agentry: PathBuf,
    /// Concurrent clients of the closed loop (C).
    pub clients: usize,
    /// Runs per client in each cell (after one warm-up run per client); at least 50 with C = 1.
    pub runs_per_client: usize,
    /// Tool steps per run to measure (K); empty: 1 and 5.
    pub steps: Vec<usize>,
    /// Setups to measure (`direct`, `cluster`, `dev`); empty: all three.
    pub setups: Vec<String>,
}

impl W1Options {
    fn measures(&self, setup: &str) -> bool {
        self.setups.is_empty() || self.setups.iter().any(|chosen| chosen == setup)
    }
}

/// The setups W1 knows, for `--w1-setups`.
pub const SETUPS: [&str; 4] = ["direct", "cluster", "cluster-otel", "dev"];

/// One measured cell: a setup, K and C.
struct Cell {
    setup: &'static str,
    steps: usize,
    clients: usize,
    runs: usize,
    wall: Duration,
    latencies_micros: Vec<i64>,
    cpu_busy: f64,
    repeated_steps: usize,
}

impl Cell {
    fn runs_per_second(&self) -> f64 {
        self.runs as f64 / self.wall.as_secs_f64()
    }
}

/// Measures every setup × K × C and returns the table's rows and any problem found.
pub async fn measure(options: &W1Options) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut cells = Vec::new();
    let mut export_rows = Vec::new();
    let steps_measured = if options.steps.is_empty() { STEPS.to_vec() } else { options.steps.clone() };
    for steps in steps_measured {
        if options.measures("direct") {
            for clients in [options.clients, 1] {
                cells.push(direct(steps, clients, runs_per_client(options, clients)).await?);
            }
        }
        if options.measures("cluster") {
            cells.extend(cluster(options, steps).await?);
        }
        if options.measures("cluster-otel") {
            export_rows.extend(export_overhead(options, steps).await?);
        }
        if options.measures("dev") {
            cells.extend(dev(options, steps).await?);
        }
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for cell in &cells {
        let baseline = cells
            .iter()
            .find(|other| other.setup == "direct" && other.steps == cell.steps && other.clients == cell.clients)
            .map(Cell::runs_per_second);
        let ratio = baseline.map_or("direct not measured".to_owned(), |baseline| {
            format!("{:.2}× direct", cell.runs_per_second() / baseline)
        });
        let mut sorted = cell.latencies_micros.clone();
        sorted.sort_unstable();
        rows.push(format!(
            "| W1 {}, K = {}, C = {} | {:.1} runs/s ({}) · p50 {:.2} ms · p99 {:.2} ms · CPU {:.0} % · {} repeated steps ({} runs) |",
            cell.setup,
            cell.steps,
            cell.clients,
            cell.runs_per_second(),
            ratio,
            percentile(&sorted, 0.50) as f64 / 1000.0,
            percentile(&sorted, 0.99) as f64 / 1000.0,
            100.0 * cell.cpu_busy,
            cell.repeated_steps,
            cell.runs,
        ));
        if cell.repeated_steps > 0 {
            problems.push(format!(
                "W1 {} K = {}: {} model steps requested more than once",
                cell.setup, cell.steps, cell.repeated_steps
            ));
        }
    }
    rows.extend(export_rows);
    Ok((rows, problems))
}

/// Returns the runs per client of a cell with `clients` clients.
fn runs_per_client(options: &W1Options, clients: usize) -> usize {
    if clients == 1 { options.runs_per_client.max(SINGLE_CLIENT_RUNS) } else { options.runs_per_client }
}

/// The yardstick: the loop with no runtime, the nodes' own provider and `echo` tool in process.
async fn direct(steps: usize, clients: usize, runs_per_client: usize) -> anyhow::Result<Cell> {
    let model = ScriptedModel::start(echo_script(steps + 1), Duration::ZERO).await?;
    let provider: Arc<dyn ModelProvider> = Arc::new(OpenAiProvider::new(&EndpointConfig::new(model.base_url()))?);
    let tools = Arc::new(BuiltinTools.tools(&["echo".to_owned()]).map_err(anyhow::Error::msg)?);
    let run = move |input: String| {
        let (provider, tools) = (provider.clone(), tools.clone());
        async move { direct_run(provider.as_ref(), &tools, steps, &input).await }
    };
    let mut cell = closed_loop("direct", steps, clients, runs_per_client, run).await?;
    cell.repeated_steps = repeated_steps(&model);
    Ok(cell)
}

/// One run of the loop without a runtime: model, `echo`, model, … until the final answer.
async fn direct_run(
    provider: &dyn ModelProvider,
    tools: &ToolRegistry,
    steps: usize,
    input: &str,
) -> anyhow::Result<()> {
    let workspace = std::env::temp_dir();
    let mut messages = vec![Message::user(input)];
    for _ in 0..=steps {
        let request = ChatRequest {
            model: "bench".into(),
            messages: messages.clone(),
            tools: tools.specs(),
            tool_choice: ToolChoice::Auto,
            temperature: None,
        };
        let answer = provider.complete(&request, None).await?;
        let calls = answer.message.tool_calls.clone();
        messages.push(answer.message);
        if calls.is_empty() {
            return Ok(());
        }
        for call in calls {
            let tool = tools.get(&call.name).context("the model called an unknown tool")?;
            let mut context = ToolContext::unconfined(workspace.clone(), tool.manifest(), Duration::from_secs(5));
            context.idempotency_key = call.id.clone();
            let arguments = serde_json::from_str(&call.arguments)?;
            let output = tool.call(&context, arguments).await.unwrap_or_else(|error| error.to_string());
            messages.push(Message::tool_result(&call.id, output));
        }
    }
    bail!("no final answer after {} model calls", steps + 1)
}

/// The `cluster` setup: hub + nodes as processes on PostgreSQL + NATS; cells at C and 1.
async fn cluster(options: &W1Options, steps: usize) -> anyhow::Result<Vec<Cell>> {
    let model = ScriptedModel::start(echo_script(steps + 1), Duration::ZERO).await?;
    let (cluster, _services) = start_cluster(options, &model, None).await?;
    let cells = through_api("cluster", &cluster.hub_url(), steps, options, &model).await;
    drop(cluster);
    cells
}

/// The services a process cluster runs on, dropped with it.
type Services = (PgTestDatabase, NatsServer);

/// Starts a `cluster` setup on its own database and NATS, exporting its spans to `receiver`
/// when given.
async fn start_cluster(
    options: &W1Options,
    model: &ScriptedModel,
    receiver: Option<&OtlpReceiver>,
) -> anyhow::Result<(ProcessCluster, Services)> {
    let database = PgTestDatabase::create().await?;
    let nats = NatsServer::start()?;
    let mut config = ProcessClusterConfig::new(&options.agentry, database.url(), nats.url(), model.base_url());
    config.slots = SLOTS;
    config.rust_log = "warn".to_owned();
    if let Some(receiver) = receiver {
        config.env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), receiver.endpoint()));
    }
    let cluster = ProcessCluster::start(config, NODES).await?;
    Ok((cluster, (database, nats)))
}

/// Alternating rounds of the `cluster-otel` comparison, per C.
const EXPORT_ROUNDS: usize = 3;

/// The `cluster-otel` setup: span export on vs off, two clusters measured in turn; one row per C.
async fn export_overhead(options: &W1Options, steps: usize) -> anyhow::Result<Vec<String>> {
    let receiver = OtlpReceiver::start_counting().await?;
    let (off_model, on_model) = (
        ScriptedModel::start(echo_script(steps + 1), Duration::ZERO).await?,
        ScriptedModel::start(echo_script(steps + 1), Duration::ZERO).await?,
    );
    let (off, _off_services) = start_cluster(options, &off_model, None).await?;
    let (on, _on_services) = start_cluster(options, &on_model, Some(&receiver)).await?;
    let mut rows = Vec::new();
    for clients in [options.clients, 1] {
        let runs = runs_per_client(options, clients);
        let mut pairs = Vec::new();
        for _ in 0..EXPORT_ROUNDS {
            let off_cell = api_cell("cluster", &off.hub_url(), steps, clients, runs).await?;
            let on_cell = api_cell("cluster-otel", &on.hub_url(), steps, clients, runs).await?;
            pairs.push((on_cell.runs_per_second(), off_cell.runs_per_second()));
        }
        let median = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let ratios: Vec<f64> = pairs.iter().map(|(on, off)| on / off).collect();
        let ratio = median(ratios.clone());
        let listed: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.2}")).collect();
        rows.push(format!(
            "| W1 span export on/off, K = {steps}, C = {clients} | on {:.1} vs off {:.1} runs/s (medians of {EXPORT_ROUNDS} alternating rounds) · on/off per round {} → median {ratio:.2}× ({:+.1} %) · {} spans received |",
            median(pairs.iter().map(|(on, _)| *on).collect()),
            median(pairs.iter().map(|(_, off)| *off).collect()),
            listed.join(", "),
            100.0 * (ratio - 1.0),
            receiver.span_count(),
        ));
    }
    Ok(rows)
}

/// The `dev` setup: one `agentry dev` process; cells at C and 1.
async fn dev(options: &W1Options, steps: usize) -> anyhow::Result<Vec<Cell>> {
    let model = ScriptedModel::start(echo_script(steps + 1), Duration::ZERO).await?;
    let data_dir = tempfile::tempdir()?;
    let listen = format!("127.0.0.1:{}", free_port()?);
    let _dev = DevProcess::start(&options.agentry, &listen, data_dir.path(), &model.base_url())?;
    let hub_url = format!("http://{listen}");
    eventually("agentry dev with its nodes ready", Duration::from_secs(30), || async {
        let Ok(mut client) = AgentHubClient::connect(hub_url.clone()).await else {
            return Observed::NotYet("the hub does not answer".into());
        };
        match client.list_nodes(pb::ListNodesRequest {}).await {
            Ok(response) if response.get_ref().nodes.len() >= NODES => Observed::Ready(()),
            Ok(response) => Observed::NotYet(format!("{} nodes", response.get_ref().nodes.len())),
            Err(status) => Observed::NotYet(status.to_string()),
        }
    })
    .await?;
    through_api("dev", &hub_url, steps, options, &model).await
}

/// Measures C clients, then 1, against the hub at `hub_url`.
async fn through_api(
    setup: &'static str,
    hub_url: &str,
    steps: usize,
    options: &W1Options,
    model: &ScriptedModel,
) -> anyhow::Result<Vec<Cell>> {
    let mut cells = Vec::new();
    for clients in [options.clients, 1] {
        let mut cell = api_cell(setup, hub_url, steps, clients, runs_per_client(options, clients)).await?;
        cell.repeated_steps = repeated_steps(model);
        cells.push(cell);
    }
    Ok(cells)
}

/// Measures one cell of `clients` clients, each doing `runs` runs, against the hub at `hub_url`.
async fn api_cell(
    setup: &'static str,
    hub_url: &str,
    steps: usize,
    clients: usize,
    runs: usize,
) -> anyhow::Result<Cell> {
    let channel = Channel::from_shared(hub_url.to_owned())?.connect().await?;
    let run = move |input: String| {
        let client = AgentHubClient::new(channel.clone());
        async move { api_run(client, steps, &input).await }
    };
    closed_loop(setup, steps, clients, runs, run).await
}

/// One run through the public API: Spawn, then follow the run's trace until it ends.
async fn api_run(mut client: AgentHubClient<Channel>, steps: usize, input: &str) -> anyhow::Result<()> {
    let spawned = client.spawn(echo_agent(steps + 1, input)).await?.into_inner();
    let request = pb::TraceRequest { run_id: spawned.run_id, follow: true, ..Default::default() };
    let mut trace = client.trace(request).await?.into_inner();
    let mut last = String::new();
    while let Some(response) = trace.next().await {
        if let Some(event) = response?.event {
            last = event.r#type;
        }
    }
    if last != "run_finished" {
        bail!("the run ended with {last:?}, not run_finished");
    }
    Ok(())
}

/// Runs `clients` concurrent closed loops of `runs_per_client` runs each (after one warm-up run
/// per client, not counted), each run with a unique input; returns the cell.
async fn closed_loop<Run, Fut>(
    setup: &'static str,
    steps: usize,
    clients: usize,
    runs_per_client: usize,
    run: Run,
) -> anyhow::Result<Cell>
where
    Run: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let loop_of = |client: usize, runs: usize, phase: &'static str| {
        let run = run.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(runs);
            for index in 0..runs {
                let started = Instant::now();
                run(format!("w1 {setup} k{steps} c{clients} {phase} client {client} run {index}")).await?;
                latencies.push(started.elapsed().as_micros() as i64);
            }
            anyhow::Ok(latencies)
        })
    };
    let warm_up: Vec<_> = (0..clients).map(|client| loop_of(client, 1, "warm-up")).collect();
    for task in warm_up {
        task.await??;
    }
    let cpu_before = cpu_times()?;
    let started = Instant::now();
    let loops: Vec<_> = (0..clients).map(|client| loop_of(client, runs_per_client, "measured")).collect();
    let mut latencies_micros = Vec::new();
    for task in loops {
        latencies_micros.extend(task.await??);
    }
    let wall = started.elapsed();
    let cpu_busy = busy_share(cpu_before, cpu_times()?);
    Ok(Cell {
        setup,
        steps,
        clients,
        runs: clients * runs_per_client,
        wall,
        latencies_micros,
        cpu_busy,
        repeated_steps: 0,
    })
}

/// Returns how many `(input, step)` pairs the model answered more than once.
fn repeated_steps(model: &ScriptedModel) -> usize {
    model.requests_per_step().values().filter(|count| **count > 1).count()
}

/// Returns `(busy, total)` jiffies of all CPUs, from the first line of `/proc/stat`.
fn cpu_times() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// Returns the share of CPU time busy between two [`cpu_times`] readings (0–1).
fn busy_share((busy_before, total_before): (u64, u64), (busy_after, total_after): (u64, u64)) -> f64 {
    let total = total_after.saturating_sub(total_before);
    if total == 0 { 0.0 } else { busy_after.saturating_sub(busy_before) as f64 / total as f64 }
}

/// An `agentry dev` process, killed on drop.
struct DevProcess {
    child: Child,
}

impl DevProcess {
    fn start(agentry: &Path, listen: &str, data_dir: &Path, model_url: &str) -> anyhow::Result<Self> {
        let child = Command::new(agentry)
            .args(["dev", "--nodes", &NODES.to_string(), "--listen", listen, "--metrics-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("OPENAI_BASE_URL", model_url)
            .env("AGENTRY_SLOTS", SLOTS.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} dev", agentry.display()))?;
        Ok(Self { child })
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
