//! Failover time: from `kill -9` of an `agentry node join` process to the first commit of each
//! of its runs on another node (the `run_started` event with `resumed: true` that follows the
//! run's `run_moved`), on a hub and 3 nodes as processes, PostgreSQL and NATS JetStream.
//!
//! Each round spawns a few agents whose runs take many slow model steps, waits until they are
//! `running`, SIGKILLs the node running the most runs, waits until each of its runs has resumed
//! elsewhere and starts a replacement node. At the end every run must complete, each step
//! committed once, and no committed model answer requested again (`trace_check`), and every
//! `run_moved` must come off a killed node: a move off a live node is a false positive (safe,
//! fenced, but wasted work), counted and listed.

use std::collections::BTreeSet;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::PgPool;

use agentry_proto::v1::agent_hub_client::AgentHubClient;
use agentry_test_util::trace_check::{TraceSummary, check_seqs, requests_for};
use agentry_test_util::{
    NatsServer, Observed, PgTestDatabase, ProcessCluster, ProcessClusterConfig, ScriptedModel, eventually_every,
};

use crate::{echo_agent, echo_script, percentile, show_duration};

/// Nodes kept in the cluster (a replacement is started after each kill).
const NODES: usize = 3;
/// Slots per node. Before each round the benchmark waits until the 2 nodes left after a kill
/// have a slot for every run in flight, so that a moved run does not wait for a free slot
/// (that would measure capacity, not failover).
const SLOTS: u32 = 8;
/// Agents spawned per round, before the kill.
const AGENTS_PER_KILL: usize = 3;
/// Model answers per run: long enough to be mid-run at the kill and after the move.
const STEPS: usize = 24;
/// Pause between two polls of the database.
const POLL: Duration = Duration::from_millis(20);

/// What the failover benchmark runs.
pub struct FailoverOptions {
    /// The `agentry` binary.
    pub agentry: PathBuf,
    /// Nodes killed, one per round.
    pub kills: usize,
    /// `--lease-ttl` of the hub.
    pub lease_ttl: Duration,
    /// `--heartbeat-interval` of the hub (also the reaper's period).
    pub heartbeat_interval: Duration,
    /// Latency of each model answer.
    pub step_latency: Duration,
}

/// Measured failovers and the outcome of the runs.
#[derive(Default)]
pub struct FailoverReport {
    /// Per moved run that had started: kill → its `run_started` on the new node (ms).
    failover_ms: Vec<i64>,
    /// Kill → `run_moved` (stream break + confirmation window), per sample (ms).
    detection_ms: Vec<i64>,
    /// `run_moved` → `run_started` on the new node (placement + delivery + load + commit), ms.
    resume_ms: Vec<i64>,
    /// Moved runs that had been placed on the killed node but not started there.
    moved_unstarted: usize,
    /// Runs running on the victim at the kill that ended before the reaper took them back.
    ended_before_move: usize,
    /// Kills after which the surviving nodes had fewer slots than runs in flight (moved runs
    /// may then wait for a slot, counted in their failover time).
    short_of_slots: usize,
    runs: usize,
    completed: usize,
    /// Runs moved (at least once) that then completed, and all runs moved.
    moved_completed: (usize, usize),
    /// `run_moved` events in all, and those off a node that was not killed (false positives:
    /// run, from node, reason).
    moves: usize,
    false_positives: Vec<String>,
    /// Moves off killed nodes by a broken lease stream (its confirmation), and by the reaper
    /// (lease TTL expired).
    by_stream_break: usize,
    by_ttl: usize,
    /// Failed runs, steps committed twice, committed answers requested again, lost runs.
    pub problems: Vec<String>,
}

/// One `run_moved` of a run off the victim and the `run_started` after it.
struct Move {
    run_id: String,
    moved_ms: i64,
    started: Option<(i64, Value)>,
}

/// Runs the kill rounds and the final checks; errors when the cluster cannot be run or a wait
/// times out (a run not moved, not resumed or not ended).
pub async fn measure(options: &FailoverOptions) -> anyhow::Result<FailoverReport> {
    let database = PgTestDatabase::create().await.context("creating the failover database")?;
    let nats = NatsServer::start()?;
    let model = ScriptedModel::start(echo_script(STEPS), options.step_latency).await?;
    let mut config = ProcessClusterConfig::new(&options.agentry, database.url(), nats.url(), model.base_url());
    config.lease_ttl = options.lease_ttl;
    config.heartbeat_interval = options.heartbeat_interval;
    config.slots = SLOTS;
    config.rust_log = "info".to_owned();
    let mut cluster = ProcessCluster::start(config, NODES).await.context("starting the process cluster")?;
    let pool = PgPool::connect(database.url()).await?;
    let mut client = AgentHubClient::connect(cluster.hub_url()).await?;

    let mut report = FailoverReport::default();
    let mut agents: Vec<(String, String)> = Vec::new();
    let mut run_ids = Vec::new();
    let mut moved_runs = BTreeSet::new();
    let mut killed = BTreeSet::new();
    let room = i64::from(SLOTS) * (NODES as i64 - 1) - AGENTS_PER_KILL as i64;
    for round in 0..options.kills {
        wait_for_room(&pool, room, options.step_latency * STEPS as u32 * 4 + Duration::from_secs(60)).await?;
        let mut new_runs = Vec::new();
        for index in 0..AGENTS_PER_KILL {
            let input = format!("failover {round}.{index}");
            let response = client.spawn(echo_agent(STEPS, &input)).await?.into_inner();
            agents.push((response.agent_id, input));
            new_runs.push(response.run_id);
        }
        run_ids.extend(new_runs.iter().cloned());
        wait_until_running(&pool, &new_runs).await?;
        let (victim_id, victim_name) = busiest_node(&pool).await?;
        // The kill falls anywhere between two heartbeats, not at the phase this loop settles
        // into after each move.
        tokio::time::sleep(random_below(options.heartbeat_interval)).await;
        if in_flight(&pool).await? > i64::from(SLOTS) * (NODES as i64 - 1) {
            report.short_of_slots += 1;
        }
        let victim_runs: Vec<String> =
            sqlx::query_scalar("SELECT id FROM runs WHERE node_id = $1 AND status = 'running'")
                .bind(&victim_id)
                .fetch_all(&pool)
                .await?;
        let kill_ms = now_ms();
        cluster.kill_node(&victim_name).await?;
        killed.insert(victim_id.clone());
        let timeout = 3 * options.lease_ttl + Duration::from_secs(60);
        let moves = wait_for_moves(&pool, &victim_id, &victim_runs, timeout).await?;
        report.ended_before_move += victim_runs.iter().filter(|run| !moves.iter().any(|m| &m.run_id == *run)).count();
        for moved in moves {
            let (started_ms, data) = moved.started.expect("wait_for_moves waits for run_started");
            if data["node_id"] == victim_id.as_str() {
                report.problems.push(format!("run {} restarted on the killed node {victim_id}", moved.run_id));
            }
            if data["resumed"] == true {
                report.failover_ms.push(started_ms - kill_ms);
                report.detection_ms.push(moved.moved_ms - kill_ms);
                report.resume_ms.push(started_ms - moved.moved_ms);
            } else {
                report.moved_unstarted += 1;
            }
            moved_runs.insert(moved.run_id);
        }
        // A node's heartbeats keep the phase of its start: start it at a random point between
        // two reaper passes rather than just after one, so that kills sample every phase.
        tokio::time::sleep(random_below(options.heartbeat_interval)).await;
        cluster.add_node(&format!("node-{}", NODES + 1 + round)).await?;
    }

    let run_time = options.step_latency * STEPS as u32;
    wait_until_ended(&pool, &run_ids, 4 * run_time + Duration::from_secs(120)).await?;
    let statuses: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, status, error FROM runs WHERE id = ANY($1)").bind(&run_ids).fetch_all(&pool).await?;
    report.runs = run_ids.len();
    for (run_id, status, error) in &statuses {
        if status == "completed" {
            report.completed += 1;
            report.moved_completed.0 += usize::from(moved_runs.contains(run_id));
        } else {
            report.problems.push(format!("run {run_id} ended {status}: {}", error.as_deref().unwrap_or("")));
        }
    }
    report.moved_completed.1 = moved_runs.len();
    let all_moves: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT run_id, data::jsonb ->> 'from_node_id', data::jsonb ->> 'reason' FROM events WHERE kind = 'run_moved'",
    )
    .fetch_all(&pool)
    .await?;
    report.moves = all_moves.len();
    let off_killed = all_moves.iter().filter(|(_, from_node_id, _)| killed.contains(from_node_id));
    for (_, _, reason) in off_killed {
        report.by_stream_break += usize::from(reason.contains("lease stream broke"));
        report.by_ttl += usize::from(reason.contains("lease expired"));
    }
    report.false_positives = all_moves
        .into_iter()
        .filter(|(_, from_node_id, _)| !killed.contains(from_node_id))
        .map(|(run_id, from_node_id, reason)| format!("run {run_id} moved off {from_node_id}: {reason}"))
        .collect();
    let requests = model.requests_per_step();
    for (agent_id, input) in &agents {
        let events = trace(&pool, agent_id).await?;
        let summary = TraceSummary::of(&events);
        let checks = [
            check_seqs(&events),
            summary.check_completed_once(STEPS),
            summary.check_requests(&requests_for(&requests, input), STEPS),
        ];
        for problem in checks.into_iter().filter_map(Result::err) {
            report.problems.push(format!("agent {agent_id}: {problem}"));
        }
    }
    if !report.problems.is_empty() {
        let logs = cluster.keep_logs();
        report.problems.push(format!("process logs kept in {}", logs.display()));
    }
    Ok(report)
}

impl FailoverReport {
    /// Returns the Markdown rows of the figures table.
    pub fn rows(&self, options: &FailoverOptions) -> Vec<String> {
        let sorted = |values: &[i64]| {
            let mut sorted = values.to_vec();
            sorted.sort_unstable();
            sorted
        };
        let (failover, detection, resume) =
            (sorted(&self.failover_ms), sorted(&self.detection_ms), sorted(&self.resume_ms));
        let confirmation = (options.heartbeat_interval * 2).min(options.lease_ttl);
        let settings = format!(
            "lease TTL {}, heartbeat {}, confirmation {}, {NODES} node processes × {SLOTS} slots, {STEPS}-step runs at {} \
             per model call",
            show_duration(options.lease_ttl),
            show_duration(options.heartbeat_interval),
            show_duration(confirmation),
            show_duration(options.step_latency),
        );
        let mut rows = vec![
            format!(
                "| Failover, `kill -9` of a node → the run's first commit on another node (ms); {settings} | \
                 p50 {} · p99 {} · max {} (min {}); {} samples: moves of running runs ({} distinct runs) by {} kills |",
                percentile(&failover, 0.50),
                percentile(&failover, 0.99),
                percentile(&failover, 1.0),
                percentile(&failover, 0.0),
                failover.len(),
                self.moved_completed.1,
                options.kills,
            ),
            format!(
                "| Failover split (ms): kill → `run_moved` (stream break + confirmation) · `run_moved` → `run_started` \
                 (placement + resume) | p50 {} · {} ; max {} · {} ; moves off killed nodes by a broken stream {}, \
                 by the TTL {} |",
                percentile(&detection, 0.50),
                percentile(&resume, 0.50),
                percentile(&detection, 1.0),
                percentile(&resume, 1.0),
                self.by_stream_break,
                self.by_ttl,
            ),
        ];
        let mut outcome = format!(
            "{} runs: {} completed, {} not; {} of {} moved runs completed; each run's steps committed once, {}",
            self.runs,
            self.completed,
            self.runs - self.completed,
            self.moved_completed.0,
            self.moved_completed.1,
            if self.problems.is_empty() { "no committed answer requested again" } else { "**see problems below**" },
        );
        if self.short_of_slots > 0 {
            outcome.push_str(&format!(
                "; after {} kills the surviving nodes had fewer slots than runs in flight",
                self.short_of_slots
            ));
        }
        if self.moved_unstarted > 0 || self.ended_before_move > 0 {
            outcome.push_str(&format!(
                "; not in the samples: {} moved before starting, {} ended before the move",
                self.moved_unstarted, self.ended_before_move
            ));
        }
        rows.push(format!("| Failover outcome | {outcome} |"));
        let mut false_positives = format!(
            "{} of {} `run_moved` events came off a node that was not killed",
            self.false_positives.len(),
            self.moves
        );
        if !self.false_positives.is_empty() {
            false_positives.push_str(&format!(": {}", self.false_positives.join("; ")));
        }
        rows.push(format!("| Failover false positives (runs moved off a live node) | {false_positives} |"));
        rows
    }
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds fit i64")
}

/// Returns a random duration in `[0, bound)`.
fn random_below(bound: Duration) -> Duration {
    let random = RandomState::new().build_hasher().finish();
    let bound_nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(random % bound_nanos)
}

/// Returns how many runs are queued or running.
async fn in_flight(pool: &PgPool) -> anyhow::Result<i64> {
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')");
    Ok(count.fetch_one(pool).await?)
}

/// Waits until at most `limit` runs are in flight, so that the nodes left after the next kill
/// have a slot for each.
async fn wait_for_room(pool: &PgPool, limit: i64, timeout: Duration) -> anyhow::Result<()> {
    let what = format!("at most {limit} runs in flight");
    eventually_every(&what, timeout, Duration::from_millis(200), || async {
        match in_flight(pool).await {
            Ok(count) if count <= limit => Observed::Ready(()),
            Ok(count) => Observed::NotYet(format!("{count} runs in flight")),
            Err(error) => Observed::Failed(error),
        }
    })
    .await
}

/// Waits (up to 60 s) until every run of `run_ids` is `running` on a node.
async fn wait_until_running(pool: &PgPool, run_ids: &[String]) -> anyhow::Result<()> {
    eventually_every("the new runs to be running", Duration::from_secs(60), POLL, || async {
        let statuses = sqlx::query_scalar::<_, String>("SELECT status FROM runs WHERE id = ANY($1)")
            .bind(run_ids)
            .fetch_all(pool)
            .await;
        match statuses {
            Ok(statuses) if statuses.len() == run_ids.len() && statuses.iter().all(|status| status == "running") => {
                Observed::Ready(())
            }
            Ok(statuses) => Observed::NotYet(format!("statuses {statuses:?}")),
            Err(error) => Observed::Failed(error.into()),
        }
    })
    .await
}

/// Returns `(id, name)` of the ready node running the most runs.
async fn busiest_node(pool: &PgPool) -> anyhow::Result<(String, String)> {
    let busiest = sqlx::query_as(
        "SELECT nodes.id, nodes.name FROM nodes JOIN runs ON runs.node_id = nodes.id AND runs.status = 'running' \
         WHERE nodes.state = 'ready' GROUP BY nodes.id, nodes.name ORDER BY COUNT(*) DESC, nodes.name LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    busiest.context("no ready node runs a run")
}

/// Waits (up to `timeout`) until each of `victim_runs` was moved off `victim_id` (or ended) and
/// every run moved off it has a `run_started` after its `run_moved`; returns the moves.
async fn wait_for_moves(
    pool: &PgPool,
    victim_id: &str,
    victim_runs: &[String],
    timeout: Duration,
) -> anyhow::Result<Vec<Move>> {
    let what = format!("the runs of the killed {victim_id} to move and resume");
    eventually_every(&what, timeout, POLL, || async {
        Observed::from_result(moves_off(pool, victim_id, victim_runs).await)
    })
    .await
}

/// Returns the moves off `victim_id` once each of `victim_runs` was moved (or ended) and each
/// moved run started again; else what is missing.
async fn moves_off(pool: &PgPool, victim_id: &str, victim_runs: &[String]) -> anyhow::Result<Observed<Vec<Move>>> {
    let rows: Vec<(String, i64, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT moved.run_id, moved.ts_ms, started.ts_ms, started.data FROM events AS moved \
         LEFT JOIN LATERAL (SELECT later.ts_ms, later.data FROM events AS later \
           WHERE later.agent_id = moved.agent_id AND later.run_id = moved.run_id AND later.seq > moved.seq \
             AND later.kind = 'run_started' ORDER BY later.seq LIMIT 1) AS started ON TRUE \
         WHERE moved.kind = 'run_moved' AND moved.data::jsonb ->> 'from_node_id' = $1",
    )
    .bind(victim_id)
    .fetch_all(pool)
    .await?;
    let moves: Vec<Move> = rows
        .into_iter()
        .map(|(run_id, moved_ms, started_ms, data)| Move {
            run_id,
            moved_ms,
            started: started_ms.zip(data.map(|data| serde_json::from_str(&data).unwrap_or(Value::Null))),
        })
        .collect();
    let unmoved: Vec<String> =
        victim_runs.iter().filter(|run| !moves.iter().any(|m| &m.run_id == *run)).cloned().collect();
    let ended: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM runs WHERE id = ANY($1) AND status IN ('completed', 'failed', 'cancelled')",
    )
    .bind(&unmoved)
    .fetch_one(pool)
    .await?;
    if ended as usize == unmoved.len() && moves.iter().all(|m| m.started.is_some()) {
        return Ok(Observed::Ready(moves));
    }
    let waiting: Vec<&str> = moves.iter().filter(|m| m.started.is_none()).map(|m| m.run_id.as_str()).collect();
    Ok(Observed::NotYet(format!("runs {unmoved:?} not moved, runs {waiting:?} not resumed")))
}

/// Waits until none of `run_ids` is queued, running or paused.
async fn wait_until_ended(pool: &PgPool, run_ids: &[String], timeout: Duration) -> anyhow::Result<()> {
    eventually_every("every run to end", timeout, Duration::from_millis(200), || async {
        let pending = sqlx::query_as::<_, (String, String)>(
            "SELECT id, status FROM runs WHERE id = ANY($1) AND status NOT IN ('completed', 'failed', 'cancelled')",
        )
        .bind(run_ids)
        .fetch_all(pool)
        .await;
        match pending {
            Ok(pending) if pending.is_empty() => Observed::Ready(()),
            Ok(pending) => Observed::NotYet(format!("not ended: {pending:?}")),
            Err(error) => Observed::Failed(error.into()),
        }
    })
    .await
}

/// Returns an agent's persisted events as `agentry trace --jsonl` prints them.
async fn trace(pool: &PgPool, agent_id: &str) -> anyhow::Result<Vec<Value>> {
    let rows: Vec<(i64, String, String, String)> =
        sqlx::query_as("SELECT seq, kind, run_id, data FROM events WHERE agent_id = $1 ORDER BY seq")
            .bind(agent_id)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, kind, run_id, data)| {
            let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
            json!({ "seq": seq, "type": kind, "run_id": run_id, "agent_id": agent_id, "data": data })
        })
        .collect())
}
