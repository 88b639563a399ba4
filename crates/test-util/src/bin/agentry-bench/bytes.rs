//! Bytes written per step: one agent alone on a hub + 1 node (processes), whose run makes
//! `N - 1` `echo` tool calls and a final answer at a zero-latency scripted model.
//!
//! - Logical bytes: `octet_length` of the agent's `events` (`kind` + `data`) and `messages`
//!   (`content` + `tool_calls`), divided by the run's steps (model answers).
//! - WAL bytes: `pg_current_wal_lsn()` before the Spawn and after the run completed, minus the
//!   idle WAL rate (heartbeats, reaper and placer passes) measured on the same cluster before the
//!   run for [`IDLE_WINDOW`], times the run's duration; divided by the steps.
//!
//! The database is a private PostgreSQL server ([`PostgresServer`]) so that no other client's
//! WAL is counted; autovacuum is off there, so that its analyze passes are not counted either.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use sqlx::PgPool;
use tokio::time::Instant;

use agentry_proto::v1::agent_hub_client::AgentHubClient;
use agentry_test_util::{
    NatsServer, Observed, PostgresServer, ProcessCluster, ProcessClusterConfig, ScriptedModel, eventually_every,
};

use crate::{echo_agent, echo_script};

/// How long the idle WAL rate is measured.
const IDLE_WINDOW: Duration = Duration::from_secs(10);

/// Bytes written by one run.
struct RunBytes {
    steps: usize,
    events: i64,
    messages: i64,
    /// WAL bytes between Spawn and completion, idle WAL not subtracted.
    wal: i64,
    /// Idle WAL rate, bytes per second.
    idle_rate: f64,
    duration: Duration,
}

impl RunBytes {
    fn per_step(&self, bytes: f64) -> f64 {
        bytes / self.steps as f64
    }

    fn logical_per_step(&self) -> f64 {
        self.per_step((self.events + self.messages) as f64)
    }

    fn idle_wal(&self) -> f64 {
        self.idle_rate * self.duration.as_secs_f64()
    }

    fn wal_per_step(&self) -> f64 {
        self.per_step(self.wal as f64 - self.idle_wal())
    }
}

/// The runs measured, in the order of the step counts asked for.
pub struct BytesReport {
    runs: Vec<RunBytes>,
    server_version: String,
}

/// Measures one run of each of `step_counts` steps, each on a fresh cluster and database.
pub async fn measure(agentry: &Path, step_counts: &[usize]) -> anyhow::Result<BytesReport> {
    let server = tokio::task::spawn_blocking(PostgresServer::start).await?.context("starting PostgreSQL")?;
    let admin = PgPool::connect(&server.url("postgres")).await?;
    sqlx::query("ALTER SYSTEM SET autovacuum = off").execute(&admin).await?;
    sqlx::query("SELECT pg_reload_conf()").execute(&admin).await?;
    let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&admin).await?;
    let server_version = version.split_whitespace().next().unwrap_or_default().to_owned();
    let mut runs = Vec::new();
    for &steps in step_counts {
        let database_url = tokio::task::block_in_place(|| server.create_database(&format!("bytes_{steps}")))?;
        runs.push(measure_run(agentry, &database_url, steps).await?);
    }
    Ok(BytesReport { runs, server_version })
}

async fn measure_run(agentry: &Path, database_url: &str, steps: usize) -> anyhow::Result<RunBytes> {
    let nats = NatsServer::start()?;
    let model = ScriptedModel::start(echo_script(steps), Duration::ZERO).await?;
    let mut config = ProcessClusterConfig::new(agentry, database_url, nats.url(), model.base_url());
    config.rust_log = "info".to_owned();
    let cluster = ProcessCluster::start(config, 1).await.context("starting the process cluster")?;
    let pool = PgPool::connect(database_url).await?;
    let mut client = AgentHubClient::connect(cluster.hub_url()).await?;

    let idle_start = wal_position(&pool).await?;
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle_rate = (wal_position(&pool).await? - idle_start) as f64 / IDLE_WINDOW.as_secs_f64();

    let wal_start = wal_position(&pool).await?;
    let started = Instant::now();
    let response = client.spawn(echo_agent(steps, &format!("bytes {steps}"))).await?.into_inner();
    wait_until_completed(&pool, &response.run_id).await?;
    let duration = started.elapsed();
    let wal = wal_position(&pool).await? - wal_start;

    let (events, usages): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(octet_length(kind) + octet_length(data)), 0)::BIGINT, \
         COUNT(*) FILTER (WHERE kind = 'usage') FROM events WHERE agent_id = $1",
    )
    .bind(&response.agent_id)
    .fetch_one(&pool)
    .await?;
    let messages: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(octet_length(content) + octet_length(tool_calls)), 0)::BIGINT FROM messages \
         WHERE agent_id = $1",
    )
    .bind(&response.agent_id)
    .fetch_one(&pool)
    .await?;
    if usages != steps as i64 {
        bail!("the {steps}-step run committed {usages} model answers");
    }
    Ok(RunBytes { steps, events, messages, wal, idle_rate, duration })
}

/// Returns the current WAL insert position, in bytes.
async fn wal_position(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::BIGINT").fetch_one(pool).await?)
}

/// Waits (up to 120 s) until the run is `completed`; errors when it ends otherwise.
async fn wait_until_completed(pool: &PgPool, run_id: &str) -> anyhow::Result<()> {
    let what = format!("run {run_id} to complete");
    eventually_every(&what, Duration::from_secs(120), Duration::from_millis(10), || async {
        match sqlx::query_scalar::<_, String>("SELECT status FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_one(pool)
            .await
        {
            Ok(status) if status == "completed" => Observed::Ready(()),
            Ok(status) if status == "failed" || status == "cancelled" => {
                Observed::Failed(anyhow!("run {run_id} ended {status}"))
            }
            Ok(status) => Observed::NotYet(status),
            Err(error) => Observed::Failed(error.into()),
        }
    })
    .await
}

impl BytesReport {
    /// Returns the Markdown subsection: one row per run and the ratio of the last to the first.
    pub fn section(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "Bytes written per step (one agent alone on a hub + 1 node, zero-latency model):");
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "| run | run time | events B/step | messages B/step | logical B/step | WAL B/step (idle subtracted) |"
        );
        let _ = writeln!(text, "|---|---|---|---|---|---|");
        for run in &self.runs {
            let _ = writeln!(
                text,
                "| {} steps | {:.2} s | {:.0} | {:.0} | {:.0} | {:.0} (run {} B − idle {:.0} B) |",
                run.steps,
                run.duration.as_secs_f64(),
                run.per_step(run.events as f64),
                run.per_step(run.messages as f64),
                run.logical_per_step(),
                run.wal_per_step(),
                run.wal,
                run.idle_wal(),
            );
        }
        if let (Some(first), Some(last)) = (self.runs.first(), self.runs.last())
            && self.runs.len() > 1
        {
            let _ = writeln!(
                text,
                "| ratio {}/{} | | {:.2} | {:.2} | {:.2} | {:.2} |",
                last.steps,
                first.steps,
                last.per_step(last.events as f64) / first.per_step(first.events as f64),
                last.per_step(last.messages as f64) / first.per_step(first.messages as f64),
                last.logical_per_step() / first.logical_per_step(),
                last.wal_per_step() / first.wal_per_step(),
            );
        }
        let idle: Vec<String> = self.runs.iter().map(|run| format!("{:.0}", run.idle_rate)).collect();
        let _ = writeln!(
            text,
            "\nPostgreSQL {} (private server, `full_page_writes=off`, autovacuum off); idle WAL {} B/s \
             (hub + 1 node heartbeating), subtracted for the run time.",
            self.server_version,
            idle.join(" / "),
        );
        text
    }
}
