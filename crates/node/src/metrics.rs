//! The node's Prometheus metrics, derived from what it commits: a `usage` event is one model
//! call (model, tokens, cost, latency), a `tool_end` one tool call (tool, outcome, duration),
//! a `step_start` one step. Counting committed events only means a commit refused (fenced)
//! counts nothing, and the figures agree with the durable trace.
//!
//! Every series carries the const label `node` (the node's name), so several nodes can share
//! one registry (`agentry dev`). Other labels are bounded: model names (configured models or
//! `provider:model` references the hub accepted), tool names (builtins and configured MCP
//! servers' tools), outcomes. Names keep agentry's `agentry_tokens_total` and
//! `agentry_tool_latency_seconds`; every name is documented in `docs/operations.md`.
//!
//! With `metrics-tls` the listener serves HTTPS with the node's certificate ([`metrics_tls`]),
//! reloaded when its files change.

use std::time::Duration;

use agentry_core::EventDraft;
use agentry_core::event::kind;
use agentry_telemetry::prometheus::{
    CounterVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use agentry_tls::{ServerTls, ServerTlsFiles};

use crate::config::{InvalidConfig, NodeConfig};
use crate::error::NodeError;

/// How often the metrics listener's certificate files are checked for changes.
pub const METRICS_TLS_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// Buckets of model latencies in seconds, 50 ms to 2 min.
const MODEL_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0];
/// Buckets of tool latencies in seconds, 1 ms to 10 min.
const TOOL_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0];

/// The node's metrics, registered on one [`Registry`]. Cheap to clone.
#[derive(Clone)]
pub struct NodeMetrics {
    /// `agentry_model_calls_total{model}`: model calls answered.
    pub model_calls: IntCounterVec,
    /// `agentry_tokens_total{model,type}`: tokens by model, `type` = `input` | `output`.
    pub tokens: IntCounterVec,
    /// `agentry_cost_usd_total{model}`: cost of model calls in USD at the configured prices.
    pub cost_usd: CounterVec,
    /// `agentry_model_latency_seconds{model}`: model call latency (retries included).
    pub model_latency: HistogramVec,
    /// `agentry_tool_calls_total{tool,outcome}`: tool calls, `outcome` = `ok` | `error`.
    pub tool_calls: IntCounterVec,
    /// `agentry_tool_latency_seconds{tool}`: tool call latency.
    pub tool_latency: HistogramVec,
    /// `agentry_steps_total`: agent loop steps (model calls that start a step).
    pub steps: IntCounter,
    /// `agentry_node_runs_active`: runs this node executes now.
    pub runs_active: IntGauge,
    /// `agentry_node_slots`: runs this node may execute at once.
    pub slots: IntGauge,
    /// `agentry_node_dead_letters_total`: runs this node dead-lettered.
    pub dead_letters: IntCounter,
}

impl NodeMetrics {
    /// Registers the metrics of the node named `node` on `registry`.
    ///
    /// Errors when `registry` already holds them for a node of the same name.
    pub fn register(registry: &Registry, node: &str) -> Result<Self, agentry_telemetry::prometheus::Error> {
        let opts = |name: &str, help: &str| Opts::new(name, help).const_label("node", node);
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            HistogramOpts::new(name, help).const_label("node", node).buckets(buckets.to_vec())
        };
        let metrics = Self {
            model_calls: IntCounterVec::new(
                opts("agentry_model_calls_total", "Model calls answered, by model"),
                &["model"],
            )?,
            tokens: IntCounterVec::new(opts("agentry_tokens_total", "Tokens by model and type"), &["model", "type"])?,
            cost_usd: CounterVec::new(opts("agentry_cost_usd_total", "Cost of model calls in USD"), &["model"])?,
            model_latency: HistogramVec::new(
                histogram("agentry_model_latency_seconds", "Model call latency", MODEL_BUCKETS),
                &["model"],
            )?,
            tool_calls: IntCounterVec::new(
                opts("agentry_tool_calls_total", "Tool calls by tool and outcome"),
                &["tool", "outcome"],
            )?,
            tool_latency: HistogramVec::new(
                histogram("agentry_tool_latency_seconds", "Tool call latency", TOOL_BUCKETS),
                &["tool"],
            )?,
            steps: IntCounter::with_opts(opts("agentry_steps_total", "Agent loop steps"))?,
            runs_active: IntGauge::with_opts(opts("agentry_node_runs_active", "Runs this node executes now"))?,
            slots: IntGauge::with_opts(opts("agentry_node_slots", "Runs this node may execute at once"))?,
            dead_letters: IntCounter::with_opts(opts(
                "agentry_node_dead_letters_total",
                "Runs this node dead-lettered",
            ))?,
        };
        registry.register(Box::new(metrics.model_calls.clone()))?;
        registry.register(Box::new(metrics.tokens.clone()))?;
        registry.register(Box::new(metrics.cost_usd.clone()))?;
        registry.register(Box::new(metrics.model_latency.clone()))?;
        registry.register(Box::new(metrics.tool_calls.clone()))?;
        registry.register(Box::new(metrics.tool_latency.clone()))?;
        registry.register(Box::new(metrics.steps.clone()))?;
        registry.register(Box::new(metrics.runs_active.clone()))?;
        registry.register(Box::new(metrics.slots.clone()))?;
        registry.register(Box::new(metrics.dead_letters.clone()))?;
        Ok(metrics)
    }

    /// Returns metrics on a registry of their own (nodes whose metrics nobody scrapes).
    pub fn unregistered() -> Self {
        // A fresh registry holds nothing, so registering cannot collide.
        Self::register(&Registry::new(), "").unwrap_or_else(|error| unreachable!("a fresh registry: {error}"))
    }

    /// Records what the committed `events` say happened.
    pub fn record_committed(&self, events: &[EventDraft]) {
        for event in events {
            match event.kind.as_str() {
                kind::STEP_START => self.steps.inc(),
                kind::USAGE => self.record_usage(&event.data),
                kind::TOOL_END => self.record_tool(&event.data),
                _ => {}
            }
        }
    }

    fn record_usage(&self, data: &serde_json::Value) {
        let model = data["model"].as_str().unwrap_or("unknown");
        self.model_calls.with_label_values(&[model]).inc();
        let count = |key: &str| data[key].as_u64().unwrap_or(0);
        self.tokens.with_label_values(&[model, "input"]).inc_by(count("prompt_tokens"));
        self.tokens.with_label_values(&[model, "output"]).inc_by(count("completion_tokens"));
        let cost = data["cost_usd"].as_f64().filter(|cost| cost.is_finite() && *cost >= 0.0).unwrap_or(0.0);
        self.cost_usd.with_label_values(&[model]).inc_by(cost);
        self.model_latency.with_label_values(&[model]).observe(count("latency_ms") as f64 / 1000.0);
    }

    fn record_tool(&self, data: &serde_json::Value) {
        let tool = data["name"].as_str().unwrap_or("unknown");
        let outcome = if data["is_error"].as_bool().unwrap_or(false) { "error" } else { "ok" };
        self.tool_calls.with_label_values(&[tool, outcome]).inc();
        let seconds = data["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
        self.tool_latency.with_label_values(&[tool]).observe(seconds);
    }
}

/// Returns the TLS configuration of the metrics listener: the node's certificate `tls-cert`
/// and key `tls-key` when `metrics-tls` is on, `None` otherwise (plaintext).
///
/// Errors with [`NodeError::Config`] naming `tls-cert` or `tls-key` (the message names the file)
/// when they are unset or unusable.
pub fn metrics_tls(config: &NodeConfig) -> Result<Option<ServerTls>, NodeError> {
    if !config.metrics_tls {
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Err(InvalidConfig::new("metrics-tls", "serving metrics over TLS needs tls-cert and tls-key").into());
    };
    let files = ServerTlsFiles { cert: cert.clone(), key: key.clone(), client_ca: None };
    let tls = ServerTls::load(files).map_err(|error| {
        let key_name = if error.path() == Some(key.as_path()) { "tls-key" } else { "tls-cert" };
        NodeError::Config(InvalidConfig::new(key_name, error.to_string()))
    })?;
    Ok(Some(tls))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn committed_events_move_the_counters() {
        let registry = Registry::new();
        let metrics = NodeMetrics::register(&registry, "n1").expect("registered");
        metrics.record_committed(&[
            EventDraft::now(kind::STEP_START, json!({ "step": 1 })),
            EventDraft::now(
                kind::USAGE,
                json!({ "model": "m", "prompt_tokens": 10, "completion_tokens": 3, "cost_usd": 0.5, "latency_ms": 250 }),
            ),
            EventDraft::now(kind::TOOL_END, json!({ "name": "echo", "is_error": true, "duration_ms": 4 })),
        ]);
        assert_eq!(metrics.steps.get(), 1);
        assert_eq!(metrics.tokens.with_label_values(&["m", "input"]).get(), 10);
        assert_eq!(metrics.tokens.with_label_values(&["m", "output"]).get(), 3);
        assert_eq!(metrics.cost_usd.with_label_values(&["m"]).get(), 0.5);
        assert_eq!(metrics.model_latency.with_label_values(&["m"]).get_sample_sum(), 0.25);
        assert_eq!(metrics.tool_calls.with_label_values(&["echo", "error"]).get(), 1);
        assert!(NodeMetrics::register(&registry, "n2").is_ok(), "another node shares the registry");
        assert!(NodeMetrics::register(&registry, "n1").is_err(), "the same node twice is refused");
    }
}
