//! `agentry-bench`: cluster benchmarks on PostgreSQL + NATS JetStream, in one process.
//!
//! Prints a Markdown section with:
//! - Spawn latency (p50/p95/p99/max) at `--spawns` concurrent calls (default 1,000);
//! - end-to-end one-step runs per second with a zero-latency scripted model (`--runs`, default 500).
//!
//! Run through `make bench` (release build), which writes docs/benchmarks.md.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use futures::future::join_all;
use hdrhistogram::Histogram;
use tokio::time::Instant;

use agent_hub::scheduler::{NodeView, PlacementRequest, SchedulerState, Strategy, place};
use agentry_core::{NodeId, NodeState};
use agentry_proto::v1 as pb;
use agentry_proto::v1::agent_hub_client::AgentHubClient;
use agentry_test_util::{Backend, Cluster, Reply, ScriptedModel};

/// Client connections the load is spread over (HTTP/2 multiplexes calls on each).
const CONNECTIONS: usize = 8;

struct Options {
    spawns: usize,
    runs: usize,
    nodes: usize,
    slots: u32,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options { spawns: 1000, runs: 500, nodes: 2, slots: 16 };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        let number: usize = value.parse().with_context(|| format!("{flag}: {value:?} is not a number"))?;
        match flag.as_str() {
            "--spawns" => options.spawns = number,
            "--runs" => options.runs = number,
            "--nodes" => options.nodes = number,
            "--slots" => options.slots = number as u32,
            other => anyhow::bail!("unknown flag {other}; flags: --spawns N --runs N --nodes N --slots N"),
        }
    }
    Ok(options)
}

fn spawn_request(input: Option<String>) -> pb::SpawnRequest {
    let spec = pb::AgentSpec { model: "openai:bench".into(), tools: vec!["echo".into()], ..Default::default() };
    pb::SpawnRequest { spec: Some(spec), input, ..Default::default() }
}

async fn clients(cluster: &Cluster) -> anyhow::Result<Vec<AgentHubClient<tonic::transport::Channel>>> {
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(cluster.client().await?);
    }
    Ok(clients)
}

/// Spawn latency of `count` concurrent idle-agent spawns, in microseconds.
async fn spawn_latency(cluster: &Cluster, count: usize) -> anyhow::Result<(Histogram<u64>, Duration)> {
    let clients = clients(cluster).await?;
    let started = Instant::now();
    let calls = (0..count).map(|index| {
        let mut client = clients[index % CONNECTIONS].clone();
        async move {
            let call_started = Instant::now();
            client.spawn(spawn_request(None)).await?;
            anyhow::Ok(call_started.elapsed())
        }
    });
    let mut histogram = Histogram::<u64>::new(3)?;
    for latency in join_all(calls).await {
        histogram.record(latency?.as_micros() as u64)?;
    }
    Ok((histogram, started.elapsed()))
}

/// Spawns `count` agents with input and waits until every run completed; returns the wall time.
async fn one_step_runs(cluster: &Cluster, count: usize) -> anyhow::Result<Duration> {
    let clients = clients(cluster).await?;
    let started = Instant::now();
    let calls = (0..count).map(|index| {
        let mut client = clients[index % CONNECTIONS].clone();
        async move { client.spawn(spawn_request(Some(format!("run {index}")))).await }
    });
    let mut run_ids = Vec::with_capacity(count);
    for response in join_all(calls).await {
        run_ids.push(response?.into_inner().run_id);
    }
    let mut client = cluster.client().await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let agents = client.list_agents(pb::ListAgentsRequest { limit: 1000 }).await?.into_inner().agents;
        let finished = agents
            .iter()
            .filter_map(|agent| agent.latest_run.as_ref())
            .filter(|run| run_ids.contains(&run.run_id))
            .filter(|run| run.status == pb::RunStatus::Completed as i32 || run.status == pb::RunStatus::Failed as i32)
            .count();
        if finished == count {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(Instant::now() < deadline, "only {finished} of {count} runs finished in 600 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Placements per second of the pure scheduler over `node_count` ready nodes (8 slots each),
/// each placement followed by the load update the placer makes; a node's load is reset when it
/// fills up, so every call sees a realistic mix of free and busy nodes.
fn placement_throughput(strategy: Strategy, node_count: usize, placements: usize) -> (f64, Duration) {
    let mut nodes: Vec<NodeView> = (0..node_count)
        .map(|index| NodeView {
            id: NodeId::generate(),
            state: NodeState::Ready,
            live: true,
            slots: 8,
            load: (index % 8) as u32,
            labels: BTreeMap::from([("zone".to_owned(), format!("z{}", index % 4))]),
        })
        .collect();
    let request = PlacementRequest::default();
    let mut state = SchedulerState::default();
    let started = std::time::Instant::now();
    for _ in 0..placements {
        let chosen = place(strategy, &request, &nodes, &mut state).expect("a node has room");
        let node = nodes.iter_mut().find(|node| node.id == chosen).expect("chosen node exists");
        node.load = if node.load + 1 >= node.slots { 0 } else { node.load + 1 };
    }
    let elapsed = started.elapsed();
    (placements as f64 / elapsed.as_secs_f64(), elapsed / placements as u32)
}

fn millis(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let model = ScriptedModel::start(vec![Reply::text("ok")], Duration::ZERO).await?;

    let cluster = Cluster::start_with_slots(Backend::Postgres, options.nodes, options.slots, &model.base_url()).await?;
    let (latency, wall) = spawn_latency(&cluster, options.spawns).await?;
    cluster.shutdown().await;

    let cluster = Cluster::start_with_slots(Backend::Postgres, options.nodes, options.slots, &model.base_url()).await?;
    let runs_wall = one_step_runs(&cluster, options.runs).await?;
    cluster.shutdown().await;

    let mut placement_rows = Vec::new();
    for strategy in [Strategy::RoundRobin, Strategy::Binpack, Strategy::Spread] {
        let (per_second, per_call) = placement_throughput(strategy, 1000, 20_000);
        placement_rows.push(format!(
            "| Placement throughput, {strategy}, 1,000 nodes | {per_second:.0} placements/s ({:.1} µs each; {:.2} % of Spawn p50) |",
            per_call.as_secs_f64() * 1e6,
            100.0 * per_call.as_secs_f64() * 1e6 / latency.value_at_quantile(0.50) as f64,
        ));
    }

    println!("| benchmark | figure |");
    println!("|---|---|");
    println!(
        "| Spawn latency, {} concurrent calls (ms) | p50 {} · p95 {} · p99 {} · max {} |",
        options.spawns,
        millis(latency.value_at_quantile(0.50)),
        millis(latency.value_at_quantile(0.95)),
        millis(latency.value_at_quantile(0.99)),
        millis(latency.max()),
    );
    println!(
        "| Spawn throughput at that concurrency | {:.0} spawns/s ({} in {:.2} s) |",
        options.spawns as f64 / wall.as_secs_f64(),
        options.spawns,
        wall.as_secs_f64()
    );
    println!(
        "| End-to-end one-step runs, zero-latency model, {} nodes × {} slots | {:.1} runs/s ({} runs in {:.2} s) |",
        options.nodes,
        options.slots,
        options.runs as f64 / runs_wall.as_secs_f64(),
        options.runs,
        runs_wall.as_secs_f64()
    );
    for row in placement_rows {
        println!("{row}");
    }
    Ok(())
}
