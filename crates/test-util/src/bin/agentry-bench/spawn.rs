//! In-process benchmarks: Spawn latency and throughput, end-to-end one-step runs, and the pure
//! scheduler's placement throughput.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use futures::future::join_all;
use hdrhistogram::Histogram;
use tokio::time::Instant;

use agent_hub::scheduler::{NodeView, PlacementRequest, SchedulerState, Strategy, place};
use agentry_core::{NodeId, NodeState};
use agentry_proto::v1 as pb;
use agentry_proto::v1::agent_hub_client::AgentHubClient;
use agentry_test_util::{Cluster, Observed, eventually_every};

/// Client connections the load is spread over (HTTP/2 multiplexes calls on each).
const CONNECTIONS: usize = 8;

/// Spawn latencies of one burst of concurrent calls.
pub struct SpawnLatency {
    /// Latency of each call, in microseconds.
    pub histogram: Histogram<u64>,
    /// Wall time of the whole burst.
    pub wall: Duration,
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

/// Measures the latency of `count` concurrent idle-agent spawns.
pub async fn spawn_latency(cluster: &Cluster, count: usize) -> anyhow::Result<SpawnLatency> {
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
    Ok(SpawnLatency { histogram, wall: started.elapsed() })
}

/// Token budget of each agent of a budgeted one-step run: never reached, so every reservation
/// is granted and the figure shows what reserving and settling cost.
const ONE_STEP_BUDGET_TOKENS: u64 = 1 << 40;

/// Spawns `count` agents with input — each with a budget of its own when `budgeted` (its model
/// call then reserved before and settled after) — and waits until every run completed; returns
/// the wall time.
pub async fn one_step_runs(cluster: &Cluster, count: usize, budgeted: bool) -> anyhow::Result<Duration> {
    let clients = clients(cluster).await?;
    let started = Instant::now();
    let calls = (0..count).map(|index| {
        let mut client = clients[index % CONNECTIONS].clone();
        let mut request = spawn_request(Some(format!("run {index} budgeted={budgeted}")));
        request.max_tokens = budgeted.then_some(ONE_STEP_BUDGET_TOKENS);
        async move { client.spawn(request).await }
    });
    let mut run_ids = HashSet::with_capacity(count);
    for response in join_all(calls).await {
        run_ids.insert(response?.into_inner().run_id);
    }
    let client = cluster.client().await?;
    let what = format!("{count} runs to finish");
    eventually_every(&what, Duration::from_secs(600), Duration::from_millis(20), || {
        let mut client = client.clone();
        let run_ids = &run_ids;
        async move {
            let finished = match finished_runs(&mut client, run_ids).await {
                Ok(finished) => finished,
                Err(status) => return Observed::Failed(status.into()),
            };
            if finished == count { Observed::Ready(()) } else { Observed::NotYet(format!("{finished} finished")) }
        }
    })
    .await?;
    Ok(started.elapsed())
}

/// Counts the runs of `run_ids` that finished (completed or failed): the latest runs of the
/// agents `ListAgents` lists with those statuses, page after page.
async fn finished_runs(
    client: &mut AgentHubClient<tonic::transport::Channel>,
    run_ids: &HashSet<String>,
) -> Result<usize, tonic::Status> {
    let mut finished = 0;
    let mut page_token = String::new();
    loop {
        let request = pb::ListAgentsRequest {
            limit: 1000,
            statuses: vec![pb::RunStatus::Completed as i32, pb::RunStatus::Failed as i32],
            page_token,
            ..Default::default()
        };
        let page = client.list_agents(request).await?.into_inner();
        finished += page
            .agents
            .iter()
            .filter_map(|agent| agent.latest_run.as_ref())
            .filter(|run| run_ids.contains(&run.run_id))
            .count();
        if page.next_page_token.is_empty() {
            return Ok(finished);
        }
        page_token = page.next_page_token;
    }
}

/// Placements per second of the pure scheduler over `node_count` ready nodes (8 slots each),
/// each placement followed by the load update the placer makes; a node's load is reset when it
/// fills up, so every call sees a realistic mix of free and busy nodes.
pub fn placement_throughput(strategy: Strategy, node_count: usize, placements: usize) -> (f64, Duration) {
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
