//! Cost reports: what model calls cost, summed by the store from their `usage` events.

use std::time::Duration;

use agentry_core::clock;
use agentry_store::{CostGrouping, CostRow};

use crate::error::Result;
use crate::hub::Hub;

impl Hub {
    /// Returns the cost (USD) and tokens of model calls grouped `by` (root agent, model, UTC
    /// day or tenant), costliest first, then by key. With `window`, only calls of its last
    /// stretch by this hub's clock count (`ts_ms >= now - window`); without, all of them. A
    /// sub-agent's calls count toward its root agent.
    ///
    /// Errors: the store's (UNAVAILABLE when the database is unreachable).
    pub async fn cost_report(&self, by: CostGrouping, window: Option<Duration>) -> Result<Vec<CostRow>> {
        let since_ms = window.map(|window| {
            let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
            clock::now_ms().saturating_sub(window_ms)
        });
        let rows = self.store.cost_report(by, since_ms).await?;
        tracing::debug!(by = by.as_str(), ?since_ms, groups = rows.len(), "cost report");
        Ok(rows)
    }
}
