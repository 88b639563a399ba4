//! The hub's Prometheus metrics: names, help, and what records them.
//!
//! Counters and histograms are recorded where things happen (RPCs, commits, the reaper);
//! gauges that describe the whole cluster (runs by state, nodes by state, queue lag per node)
//! are read from the store and the broker when `/metrics` is scraped ([`crate::hub::Hub::refresh_metrics`]),
//! so every hub replica reports the same values (aggregate them with `max`, not `sum`).
//! Labels are bounded: statuses, RPC methods, gRPC codes, move causes and node names — never
//! agent or run ids. Every name is documented in `docs/operations.md`.

use std::time::Duration;

use agentry_core::{NodeState, RunStatus};
use agentry_telemetry::prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Buckets of latencies in seconds, 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Buckets of run durations in seconds, 100 ms to 1 h.
const RUN_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];

/// Label values of `agentry_cluster_slots{state}`.
const SLOT_STATES: [&str; 2] = ["total", "busy"];

/// Why runs were taken back from a node (`agentry_runs_moved_total{cause}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveCause {
    /// The node's lease expired (silent node, reaper).
    LeaseExpired,
    /// The node's lease stream broke and the node did not come back in time.
    StreamBroken,
    /// The node left gracefully with runs still going.
    NodeLeft,
    /// The node was drained: its unstarted runs went elsewhere.
    Drained,
    /// The run's task never reached its node (the hub stopped between assigning the run and
    /// publishing its task): the reaper's safety net placed it again.
    TaskLost,
}

impl MoveCause {
    /// Returns the label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeaseExpired => "lease_expired",
            Self::StreamBroken => "stream_broken",
            Self::NodeLeft => "node_left",
            Self::Drained => "drained",
            Self::TaskLost => "task_lost",
        }
    }
}

/// The hub's metrics, registered on one [`Registry`]. Cheap to clone (handles share values).
#[derive(Clone)]
pub struct HubMetrics {
    /// `agentry_runs{status}`: runs that have not ended, by status (refreshed on scrape).
    pub runs: IntGaugeVec,
    /// `agentry_runs_unplaced`: queued runs no node holds yet (the autoscaling signal).
    pub runs_unplaced: IntGauge,
    /// `agentry_runs_finished_total{status}`: runs that ended here, by final status.
    pub runs_finished: IntCounterVec,
    /// `agentry_run_duration_seconds{status}`: creation to end of the runs that ended here.
    pub run_duration: HistogramVec,
    /// `agentry_nodes{state}`: nodes by state (refreshed on scrape).
    pub nodes: IntGaugeVec,
    /// `agentry_queue_lag_messages{node}`: tasks queued for a node it has not taken yet.
    pub queue_lag: IntGaugeVec,
    /// `agentry_queue_lag_total_messages`: the sum of `agentry_queue_lag_messages` (refreshed on scrape).
    pub queue_lag_total: IntGauge,
    /// `agentry_runs_waiting`: runs waiting for a slot — unplaced queued runs plus tasks queued on
    /// nodes not taken yet (refreshed on scrape); with `agentry_cluster_slots`, the autoscaling input.
    pub runs_waiting: IntGauge,
    /// `agentry_cluster_slots{state}`: slots of the ready nodes (`total`) and the runs they
    /// execute (`busy`), as their heartbeats report them (refreshed on scrape).
    pub cluster_slots: IntGaugeVec,
    /// `agentry_lease_expiries_total`: nodes declared dead because their lease expired.
    pub lease_expiries: IntCounter,
    /// `agentry_runs_moved_total{cause}`: runs taken back from a node to be resumed elsewhere.
    pub runs_moved: IntCounterVec,
    /// `agentry_dead_letters_total`: runs failed after too many failed deliveries.
    pub dead_letters: IntCounter,
    /// `agentry_budget_exceeded_total`: model calls refused by their run's budget (run paused).
    pub budget_exceeded: IntCounter,
    /// `agentry_commit_duration_seconds`: store time of a node's commit.
    pub commit_duration: Histogram,
    /// `agentry_rpc_duration_seconds{method}`: gRPC handling time, by method.
    pub rpc_duration: HistogramVec,
    /// `agentry_rpc_errors_total{method,code}`: gRPC calls answered with an error status.
    pub rpc_errors: IntCounterVec,
    /// `agentry_trace_followers`: open `Trace` streams on this replica.
    pub trace_followers: IntGauge,
}

impl HubMetrics {
    /// Registers the hub's metrics on `registry`.
    ///
    /// Errors when `registry` already holds a metric of the same name and labels (a second
    /// hub on one registry).
    pub fn register(registry: &Registry) -> Result<Self, agentry_telemetry::prometheus::Error> {
        let metrics = Self {
            runs: IntGaugeVec::new(Opts::new("agentry_runs", "Runs that have not ended, by status"), &["status"])?,
            runs_unplaced: IntGauge::new("agentry_runs_unplaced", "Queued runs no node holds yet")?,
            runs_finished: IntCounterVec::new(
                Opts::new("agentry_runs_finished_total", "Runs that ended, by final status"),
                &["status"],
            )?,
            run_duration: HistogramVec::new(
                HistogramOpts::new("agentry_run_duration_seconds", "Time from a run's creation to its end")
                    .buckets(RUN_BUCKETS.to_vec()),
                &["status"],
            )?,
            nodes: IntGaugeVec::new(Opts::new("agentry_nodes", "Nodes by state"), &["state"])?,
            queue_lag: IntGaugeVec::new(
                Opts::new("agentry_queue_lag_messages", "Tasks queued for a node that it has not taken yet"),
                &["node"],
            )?,
            queue_lag_total: IntGauge::new(
                "agentry_queue_lag_total_messages",
                "Tasks queued for live nodes that they have not taken yet, all nodes together",
            )?,
            runs_waiting: IntGauge::new(
                "agentry_runs_waiting",
                "Runs waiting for a slot: unplaced queued runs plus tasks nodes have not taken",
            )?,
            cluster_slots: IntGaugeVec::new(
                Opts::new("agentry_cluster_slots", "Slots of the ready nodes (total) and runs they execute (busy)"),
                &["state"],
            )?,
            lease_expiries: IntCounter::new(
                "agentry_lease_expiries_total",
                "Nodes declared dead because their lease expired",
            )?,
            runs_moved: IntCounterVec::new(
                Opts::new("agentry_runs_moved_total", "Runs taken back from a node to be resumed elsewhere"),
                &["cause"],
            )?,
            dead_letters: IntCounter::new(
                "agentry_dead_letters_total",
                "Runs failed after too many failed deliveries (dead-lettered)",
            )?,
            budget_exceeded: IntCounter::new(
                "agentry_budget_exceeded_total",
                "Model calls refused by their run's budget (the run was paused)",
            )?,
            commit_duration: Histogram::with_opts(
                HistogramOpts::new("agentry_commit_duration_seconds", "Store time of a node's commit")
                    .buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            rpc_duration: HistogramVec::new(
                HistogramOpts::new("agentry_rpc_duration_seconds", "gRPC handling time by method")
                    .buckets(LATENCY_BUCKETS.to_vec()),
                &["method"],
            )?,
            rpc_errors: IntCounterVec::new(
                Opts::new("agentry_rpc_errors_total", "gRPC calls answered with an error status"),
                &["method", "code"],
            )?,
            trace_followers: IntGauge::new("agentry_trace_followers", "Open Trace streams on this hub")?,
        };
        registry.register(Box::new(metrics.runs.clone()))?;
        registry.register(Box::new(metrics.runs_unplaced.clone()))?;
        registry.register(Box::new(metrics.runs_finished.clone()))?;
        registry.register(Box::new(metrics.run_duration.clone()))?;
        registry.register(Box::new(metrics.nodes.clone()))?;
        registry.register(Box::new(metrics.queue_lag.clone()))?;
        registry.register(Box::new(metrics.queue_lag_total.clone()))?;
        registry.register(Box::new(metrics.runs_waiting.clone()))?;
        registry.register(Box::new(metrics.cluster_slots.clone()))?;
        registry.register(Box::new(metrics.lease_expiries.clone()))?;
        registry.register(Box::new(metrics.runs_moved.clone()))?;
        registry.register(Box::new(metrics.dead_letters.clone()))?;
        registry.register(Box::new(metrics.budget_exceeded.clone()))?;
        registry.register(Box::new(metrics.commit_duration.clone()))?;
        registry.register(Box::new(metrics.rpc_duration.clone()))?;
        registry.register(Box::new(metrics.rpc_errors.clone()))?;
        registry.register(Box::new(metrics.trace_followers.clone()))?;
        metrics.init_label_values();
        Ok(metrics)
    }

    /// Returns metrics on a registry of their own (tests and embedders that scrape nothing).
    pub fn unregistered() -> Self {
        // A fresh registry holds nothing, so registering cannot collide.
        Self::register(&Registry::new()).unwrap_or_else(|error| unreachable!("a fresh registry: {error}"))
    }

    /// Creates every bounded series at zero, so dashboards and `increase()` see them from the
    /// start instead of after their first event.
    fn init_label_values(&self) {
        for status in RunStatus::ALL {
            if status.is_terminal() {
                self.runs_finished.with_label_values(&[status.as_str()]);
            } else {
                self.runs.with_label_values(&[status.as_str()]);
            }
        }
        for cause in [
            MoveCause::LeaseExpired,
            MoveCause::StreamBroken,
            MoveCause::NodeLeft,
            MoveCause::Drained,
            MoveCause::TaskLost,
        ] {
            self.runs_moved.with_label_values(&[cause.as_str()]);
        }
        for state in NodeState::ALL {
            self.nodes.with_label_values(&[state.as_str()]);
        }
        for state in SLOT_STATES {
            self.cluster_slots.with_label_values(&[state]);
        }
    }

    /// Records a commit that took `elapsed` in the store; `ended` is the run's final status and
    /// age when the commit ended it, `dead_letter` whether it dead-lettered the run.
    pub fn record_commit(&self, elapsed: Duration, ended: Option<(RunStatus, Duration)>, dead_letter: bool) {
        self.commit_duration.observe(elapsed.as_secs_f64());
        if let Some((status, age)) = ended {
            self.runs_finished.with_label_values(&[status.as_str()]).inc();
            self.run_duration.with_label_values(&[status.as_str()]).observe(age.as_secs_f64());
        }
        if dead_letter {
            self.dead_letters.inc();
        }
    }

    /// Records runs moved for `cause`.
    pub fn record_moved(&self, cause: MoveCause, runs: usize) {
        self.runs_moved.with_label_values(&[cause.as_str()]).inc_by(runs as u64);
    }
}

impl crate::hub::Hub {
    /// Returns the hub's metrics.
    pub fn metrics(&self) -> &HubMetrics {
        &self.metrics
    }

    /// Reads the gauges that describe the cluster from the store and the broker (before each
    /// scrape): runs by status, unplaced and waiting runs, nodes by state, slots of the ready
    /// nodes, each live node's queue lag and their sum, and this replica's trace followers. A
    /// failed read keeps the previous values (logged).
    pub async fn refresh_metrics(&self) {
        let metrics = &self.metrics;
        metrics.trace_followers.set(self.fanout.follower_count() as i64);
        let unplaced = match self.store.run_counts().await {
            Ok(counts) => {
                for status in RunStatus::ALL.into_iter().filter(|status| !status.is_terminal()) {
                    let total: u64 =
                        counts.iter().filter(|count| count.status == status).map(|count| count.count).sum();
                    metrics.runs.with_label_values(&[status.as_str()]).set(total as i64);
                }
                let unplaced = counts
                    .iter()
                    .filter(|count| count.status == RunStatus::Queued && !count.placed)
                    .map(|count| count.count)
                    .sum::<u64>();
                metrics.runs_unplaced.set(unplaced as i64);
                Some(unplaced)
            }
            Err(error) => {
                tracing::warn!(%error, "metrics: reading run counts failed");
                None
            }
        };
        let nodes = match self.store.list_nodes().await {
            Ok(nodes) => nodes,
            Err(error) => {
                tracing::warn!(%error, "metrics: listing nodes failed");
                return;
            }
        };
        for state in NodeState::ALL {
            let count = nodes.iter().filter(|node| node.state == state).count();
            metrics.nodes.with_label_values(&[state.as_str()]).set(count as i64);
        }
        let ready = nodes.iter().filter(|node| node.state == NodeState::Ready);
        let (total, busy) = ready
            .fold((0u64, 0u64), |(total, busy), node| (total + u64::from(node.slots), busy + u64::from(node.running)));
        metrics.cluster_slots.with_label_values(&[SLOT_STATES[0]]).set(total as i64);
        metrics.cluster_slots.with_label_values(&[SLOT_STATES[1]]).set(busy as i64);
        // Only live nodes have a series: a gone node's would linger forever.
        metrics.queue_lag.reset();
        let live = nodes.iter().filter(|node| !node.state.is_gone());
        let lags = futures::future::join_all(live.map(|node| async move { (node, self.queue.backlog(node.id).await) }));
        let mut lag_total = Some(0u64);
        for (node, lag) in lags.await {
            match lag {
                Ok(lag) => {
                    metrics.queue_lag.with_label_values(&[node.name.as_str()]).set(lag as i64);
                    lag_total = lag_total.map(|sum| sum + lag);
                }
                Err(error) => {
                    tracing::warn!(%error, node = %node.name, "metrics: reading the queue lag failed");
                    lag_total = None;
                }
            }
        }
        // A sum with a missing part would under-report the backlog: keep the previous values.
        if let Some(lag_total) = lag_total {
            metrics.queue_lag_total.set(lag_total as i64);
            if let Some(unplaced) = unplaced {
                metrics.runs_waiting.set((unplaced + lag_total) as i64);
            }
        }
    }
}
