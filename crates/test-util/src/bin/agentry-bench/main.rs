//! `agentry-bench`: cluster benchmarks on PostgreSQL + NATS JetStream.
//!
//! Prints a Markdown section with:
//! - Spawn latency (p50/p95/p99/max) at `--spawns` concurrent calls and end-to-end one-step
//!   runs per second (`--runs`), hub and nodes in this process (`spawn.rs`);
//! - the pure scheduler's placement throughput (`spawn.rs`);
//! - failover time, `kill -9` of an `agentry node join` process → the first commit of each of its
//!   runs on another node, over `--kills` kills (`failover.rs`);
//! - bytes written per step (logical and PostgreSQL WAL) by a 10-step and a 200-step run
//!   (`bytes.rs`).
//!
//! Failover and bytes run `agentry` processes: `--agentry PATH` (default: `agentry` next to this
//! binary). Run through `make bench` (release build), which writes docs/benchmarks.md.

mod bytes;
mod failover;
mod spawn;
mod w1;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;

use agent_hub::scheduler::Strategy;
use agentry_proto::v1 as pb;
use agentry_test_util::{Backend, Cluster, Reply, ScriptedModel};

const BENCHMARKS: [&str; 6] = ["spawn", "runs", "placement", "w1", "failover", "bytes"];
const USAGE: &str = "flags: --spawns N --runs N --nodes N --slots N --kills N --lease-ttl DURATION \
                     --heartbeat-interval DURATION --step-latency DURATION --clients N --w1-runs N \
                     --w1-steps 1,5 --w1-setups direct,cluster,cluster-otel,dev --agentry PATH --only spawn,runs,placement,w1,failover,bytes";

struct Options {
    spawns: usize,
    runs: usize,
    nodes: usize,
    slots: u32,
    kills: usize,
    lease_ttl: Duration,
    heartbeat_interval: Duration,
    step_latency: Duration,
    clients: usize,
    w1_runs: usize,
    w1_steps: Vec<usize>,
    w1_setups: Vec<String>,
    agentry: PathBuf,
    only: Vec<String>,
}

impl Options {
    fn runs_benchmark(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|only| only == name)
    }
}

fn options() -> anyhow::Result<Options> {
    let sibling = std::env::current_exe()?.with_file_name("agentry");
    let mut options = Options {
        spawns: 1000,
        runs: 500,
        nodes: 2,
        slots: 16,
        kills: 20,
        lease_ttl: Duration::from_millis(1500),
        heartbeat_interval: Duration::from_millis(250),
        step_latency: Duration::from_millis(500),
        clients: 32,
        w1_runs: 10,
        w1_steps: Vec::new(),
        w1_setups: Vec::new(),
        agentry: sibling,
        only: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().with_context(|| format!("{flag}: {value:?} is not a number"));
        match flag.as_str() {
            "--spawns" => options.spawns = number()?,
            "--runs" => options.runs = number()?,
            "--nodes" => options.nodes = number()?,
            "--slots" => options.slots = u32::try_from(number()?)?,
            "--kills" => options.kills = number()?,
            "--lease-ttl" => options.lease_ttl = parse_duration(&flag, &value)?,
            "--heartbeat-interval" => options.heartbeat_interval = parse_duration(&flag, &value)?,
            "--step-latency" => options.step_latency = parse_duration(&flag, &value)?,
            "--clients" => options.clients = number()?,
            "--w1-runs" => options.w1_runs = number()?,
            "--w1-steps" => {
                options.w1_steps = value
                    .split(',')
                    .map(|steps| steps.parse().with_context(|| format!("--w1-steps: {steps:?} is not a number")))
                    .collect::<anyhow::Result<_>>()?
            }
            "--w1-setups" => options.w1_setups = value.split(',').map(str::to_owned).collect(),
            "--agentry" => options.agentry = PathBuf::from(&value),
            "--only" => options.only = value.split(',').map(str::to_owned).collect(),
            other => bail!("unknown flag {other}; {USAGE}"),
        }
    }
    if let Some(unknown) = options.w1_setups.iter().find(|setup| !w1::SETUPS.contains(&setup.as_str())) {
        bail!("--w1-setups: unknown setup {unknown:?}; setups: {}", w1::SETUPS.join(","));
    }
    if let Some(unknown) = options.only.iter().find(|name| !BENCHMARKS.contains(&name.as_str())) {
        bail!("--only: unknown benchmark {unknown:?}; benchmarks: {}", BENCHMARKS.join(","));
    }
    Ok(options)
}

/// Parses `500ms`, `5s` or `1.5s`.
fn parse_duration(flag: &str, value: &str) -> anyhow::Result<Duration> {
    let invalid = || format!("{flag}: {value:?} is not a duration like 500ms or 5s");
    let parsed = if let Some(millis) = value.strip_suffix("ms") {
        millis.parse::<u64>().map(Duration::from_millis).ok()
    } else if let Some(seconds) = value.strip_suffix('s') {
        seconds.parse::<f64>().ok().and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
    } else {
        None
    };
    parsed.with_context(invalid)
}

/// Returns a duration as `5 s` or `500 ms`.
fn show_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && !duration.is_zero() {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// Returns a model script of `steps` model answers: `steps - 1` `echo` tool calls, then a final
/// answer.
fn echo_script(steps: usize) -> Vec<Reply> {
    let mut script: Vec<Reply> =
        (1..steps).map(|step| Reply::tool("echo", json!({ "text": format!("step {step}") }))).collect();
    script.push(Reply::text("done"));
    script
}

/// Returns a Spawn request of an agent calling `echo` at the scripted model, allowed `steps`
/// model calls.
fn echo_agent(steps: usize, input: &str) -> pb::SpawnRequest {
    let spec = pb::AgentSpec {
        model: "openai:bench".into(),
        tools: vec!["echo".into()],
        max_iterations: u32::try_from(steps).unwrap_or(u32::MAX),
        ..Default::default()
    };
    pb::SpawnRequest { spec: Some(spec), input: Some(input.to_owned()), ..Default::default() }
}

/// Returns the nearest-rank `quantile` of sorted `values` (0 when empty).
fn percentile(sorted: &[i64], quantile: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

/// Rounds of the one-step runs, each without then with a budget.
const ONE_STEP_ROUNDS: usize = 2;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let mut rows = Vec::new();
    let mut spawn_p50_micros = None;

    if options.runs_benchmark("spawn") || options.runs_benchmark("runs") {
        let model = ScriptedModel::start(vec![Reply::text("ok")], Duration::ZERO).await?;
        let model_url = model.base_url();
        let start_cluster = || Cluster::start_with_slots(Backend::Postgres, options.nodes, options.slots, &model_url);
        if options.runs_benchmark("spawn") {
            let cluster = start_cluster().await?;
            let latency = spawn::spawn_latency(&cluster, options.spawns).await?;
            cluster.shutdown().await;
            let histogram = &latency.histogram;
            spawn_p50_micros = Some(histogram.value_at_quantile(0.50));
            rows.push(format!(
                "| Spawn latency, {} concurrent calls (ms) | p50 {} · p95 {} · p99 {} · max {} |",
                options.spawns,
                millis(histogram.value_at_quantile(0.50)),
                millis(histogram.value_at_quantile(0.95)),
                millis(histogram.value_at_quantile(0.99)),
                millis(histogram.max()),
            ));
            rows.push(format!(
                "| Spawn throughput at that concurrency | {:.0} spawns/s ({} in {:.2} s) |",
                options.spawns as f64 / latency.wall.as_secs_f64(),
                options.spawns,
                latency.wall.as_secs_f64()
            ));
        }
        if options.runs_benchmark("runs") {
            // Without and with a budget, alternated on one cluster so both see the same machine.
            let cluster = start_cluster().await?;
            let (mut plain, mut budgeted) = (Duration::ZERO, Duration::ZERO);
            for _ in 0..ONE_STEP_ROUNDS {
                plain += spawn::one_step_runs(&cluster, options.runs, false).await?;
                budgeted += spawn::one_step_runs(&cluster, options.runs, true).await?;
            }
            cluster.shutdown().await;
            let runs = options.runs * ONE_STEP_ROUNDS;
            let (plain_rate, budgeted_rate) = (runs as f64 / plain.as_secs_f64(), runs as f64 / budgeted.as_secs_f64());
            rows.push(format!(
                "| End-to-end one-step runs, zero-latency model, {} nodes × {} slots | {plain_rate:.1} runs/s ({runs} runs in {:.2} s) |",
                options.nodes,
                options.slots,
                plain.as_secs_f64()
            ));
            rows.push(format!(
                "| The same one-step runs under a token budget each (reserve + settle in the commits around the model call) | {budgeted_rate:.1} runs/s ({runs} runs in {:.2} s) · {:.2}× the runs without a budget, alternated with them |",
                budgeted.as_secs_f64(),
                budgeted_rate / plain_rate
            ));
        }
    }

    if options.runs_benchmark("placement") {
        for strategy in [Strategy::RoundRobin, Strategy::Binpack, Strategy::Spread] {
            let (per_second, per_call) = spawn::placement_throughput(strategy, 1000, 20_000);
            let micros = per_call.as_secs_f64() * 1e6;
            let share = spawn_p50_micros
                .map(|p50| format!("; {:.2} % of Spawn p50", 100.0 * micros / p50 as f64))
                .unwrap_or_default();
            rows.push(format!(
                "| Placement throughput, {strategy}, 1,000 nodes | {per_second:.0} placements/s ({micros:.1} µs each{share}) |"
            ));
        }
    }

    let mut problems = Vec::new();
    if options.runs_benchmark("w1") {
        let w1_options = w1::W1Options {
            agentry: options.agentry.clone(),
            clients: options.clients,
            runs_per_client: options.w1_runs,
            steps: options.w1_steps.clone(),
            setups: options.w1_setups.clone(),
        };
        let (w1_rows, w1_problems) = w1::measure(&w1_options).await?;
        rows.extend(w1_rows);
        problems.extend(w1_problems);
    }
    if options.runs_benchmark("failover") {
        let failover_options = failover::FailoverOptions {
            agentry: options.agentry.clone(),
            kills: options.kills,
            lease_ttl: options.lease_ttl,
            heartbeat_interval: options.heartbeat_interval,
            step_latency: options.step_latency,
        };
        let report = failover::measure(&failover_options).await?;
        rows.extend(report.rows(&failover_options));
        problems.extend(report.problems);
    }

    let mut sections = Vec::new();
    if options.runs_benchmark("bytes") {
        let report = bytes::measure(&options.agentry, &[10, 200]).await?;
        sections.push(report.section());
    }

    println!("| benchmark | figure |");
    println!("|---|---|");
    for row in rows {
        println!("{row}");
    }
    for section in sections {
        println!();
        print!("{section}");
    }
    if !problems.is_empty() {
        println!();
        println!("**Problems found** (a run lost, failed, or a committed step requested again):");
        println!();
        for problem in &problems {
            println!("- {problem}");
        }
        eprintln!("agentry-bench: {} problems, listed in the output", problems.len());
    }
    Ok(())
}
