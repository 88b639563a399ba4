//! `agentry cost [--by agent|model|day|tenant] [--since DURATION] [--bucket DURATION]
//! [--output table|json|csv]`: what model calls cost, summed by the hub's store from their
//! `usage` events, optionally per time bucket. A sub-agent's calls count toward its root agent.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use agentry_sdk::proto::{CostGrouping, GetCostRequest};

use crate::commands::{HubArgs, parse_duration};
use crate::output::{CostFormat, cost_csv, cost_json, cost_table, print_line};

/// Options of `agentry cost`.
#[derive(Debug, Args)]
pub struct CostArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// How to group model calls.
    #[arg(long, value_enum, default_value_t = CostBy::Agent)]
    by: CostBy,
    /// Only calls of this last stretch of time, e.g. 24h or 7d (default: all time).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    since: Option<Duration>,
    /// Split each group into time buckets of this length, aligned to the Unix epoch (UTC), e.g.
    /// 1h or 1d (at least 1s; hourly buckets need a --since window: at most 100000 buckets).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    bucket: Option<Duration>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = CostFormat::Table)]
    output: CostFormat,
}

/// The groupings of `agentry cost --by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CostBy {
    /// Root agent: a sub-agent's calls count toward the agent at the top of its tree.
    Agent,
    /// The model the call used (a configured model name or `provider:model`).
    Model,
    /// UTC date of the call (YYYY-MM-DD).
    Day,
    /// The tenant the root agent belongs to.
    Tenant,
}

impl CostBy {
    /// Returns the wire grouping and the table's column title.
    fn grouping(self) -> (CostGrouping, &'static str) {
        match self {
            Self::Agent => (CostGrouping::Agent, "AGENT"),
            Self::Model => (CostGrouping::Model, "MODEL"),
            Self::Day => (CostGrouping::Day, "DAY"),
            Self::Tenant => (CostGrouping::Tenant, "TENANT"),
        }
    }
}

/// Prints the cost report, costliest group first; with `--bucket`, by group, then bucket.
pub async fn run(args: CostArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let (grouping, title) = args.by.grouping();
    let millis = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let window_ms = args.since.map(millis);
    // A zero bucket would mean none: it is sent as the smallest, which the hub refuses.
    let bucket_ms = args.bucket.map_or(0, |bucket| millis(bucket).max(1));
    let rows = client.get_cost(GetCostRequest { by: grouping.into(), window_ms, bucket_ms }).await?;
    let bucketed = bucket_ms != 0;
    let text = match args.output {
        CostFormat::Table => cost_table(&rows, title, bucketed),
        CostFormat::Json => cost_json(&rows).context("encoding the cost report as JSON")?,
        CostFormat::Csv => cost_csv(&rows, bucketed),
    };
    print_line(&text).context("writing to stdout")
}
