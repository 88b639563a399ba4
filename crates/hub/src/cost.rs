//! Cost reports: what model calls cost, summed by the store from their `usage` events.

use std::time::Duration;

use agentry_core::clock;
use agentry_store::{CostGrouping, CostRow};

use crate::error::Result;
use crate::hub::Hub;
use crate::validate;

impl Hub {
    /// Returns the cost (USD) and tokens of model calls grouped `by` (root agent, model, UTC
    /// day or tenant), costliest first, then by key. With `window`, only calls of its last
    /// stretch by this hub's clock count (`ts_ms >= now - window`); without, all of them. A
    /// sub-agent's calls count toward its root agent.
    ///
    /// With `bucket` (checked by [`crate::validate::cost_bucket`]), each group is split into
    /// time buckets of that length aligned to the Unix epoch, rows ordered by key, then bucket
    /// start ([`CostRow::bucket_start_ms`]).
    ///
    /// With `tenant`, only that tenant's agents count (a caller scoped to a tenant); `None`:
    /// every tenant.
    ///
    /// Errors: INVALID_ARGUMENT for a bad bucket (see [`crate::validate::cost_bucket`]); the
    /// store's (UNAVAILABLE when the database is unreachable).
    pub async fn cost_report(
        &self,
        by: CostGrouping,
        window: Option<Duration>,
        bucket: Option<Duration>,
        tenant: Option<&str>,
    ) -> Result<Vec<CostRow>> {
        let now_ms = clock::now_ms();
        let bucket_ms = validate::cost_bucket(bucket, window, now_ms)?;
        let since_ms = window.map(|window| now_ms.saturating_sub(clock::duration_ms(window)));
        let rows = self.store.cost_report(by, since_ms, bucket_ms, tenant).await?;
        tracing::debug!(by = by.as_str(), ?since_ms, ?bucket_ms, rows = rows.len(), "cost report");
        Ok(rows)
    }
}
