//! `agentry ps [--status S]... [--search TEXT] [--limit N]`: agents with their latest runs,
//! newest first, filtered by the hub.

use std::time::SystemTime;

use anyhow::Context;
use clap::{Args, ValueEnum};

use agentry_sdk::proto::{ListAgentsRequest, RunStatus};

use crate::commands::HubArgs;
use crate::output::{ListFormat, agents_json, agents_table, print_line};

/// Most agents the hub lists in one page.
const HUB_PAGE: u32 = 1000;

/// Options of `agentry ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// Only agents whose latest run has this status; repeat it for several (any of them
    /// matches). `dead-lettered`: failed runs a node gave up on after too many deliveries.
    #[arg(long = "status", value_enum, value_name = "STATUS")]
    statuses: Vec<PsStatus>,
    /// Only agents this finds, case-insensitive: an agent or run id starting with it, a model
    /// or label value containing it, or `key=value` for a label exactly.
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    /// Most agents shown, newest first.
    #[arg(long, value_name = "N", default_value_t = HUB_PAGE, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ListFormat::Table)]
    output: ListFormat,
}

/// The statuses of `agentry ps --status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PsStatus {
    /// Waiting to be placed or started.
    Queued,
    /// Executing on a node.
    Running,
    /// Parked until someone approves or denies a tool call.
    WaitingApproval,
    /// Stopped by an operator or a budget until resumed.
    Paused,
    /// Ended with an error (dead letters included).
    Failed,
    /// Ended by an operator.
    Cancelled,
    /// Ended with an answer.
    Completed,
    /// Failed after too many deliveries (a subset of `failed`).
    DeadLettered,
}

/// Returns the first page's request of `args`' filters, `limit` agents at most (up to a hub
/// page).
fn list_request(statuses: &[PsStatus], search: Option<&str>, limit: u32) -> ListAgentsRequest {
    let wire = |status: &PsStatus| match status {
        PsStatus::Queued => Some(RunStatus::Queued),
        PsStatus::Running => Some(RunStatus::Running),
        PsStatus::WaitingApproval => Some(RunStatus::WaitingApproval),
        PsStatus::Paused => Some(RunStatus::Paused),
        PsStatus::Failed => Some(RunStatus::Failed),
        PsStatus::Cancelled => Some(RunStatus::Cancelled),
        PsStatus::Completed => Some(RunStatus::Completed),
        PsStatus::DeadLettered => None,
    };
    ListAgentsRequest {
        limit: limit.min(HUB_PAGE),
        statuses: statuses.iter().filter_map(wire).map(|status| status as i32).collect(),
        dead_lettered: statuses.contains(&PsStatus::DeadLettered),
        query: search.unwrap_or_default().to_owned(),
        page_token: String::new(),
    }
}

/// Prints the agents, newest first, reading as many of the hub's pages as `--limit` needs.
pub async fn run(args: PsArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let limit = args.limit as usize;
    let mut request = list_request(&args.statuses, args.search.as_deref(), args.limit);
    let mut agents = Vec::new();
    loop {
        let page = client.list_agents_page(request.clone()).await?;
        agents.extend(page.agents);
        if page.next_page_token.is_empty() || agents.len() >= limit {
            break;
        }
        request.limit = u32::try_from(limit - agents.len()).unwrap_or(HUB_PAGE).min(HUB_PAGE);
        request.page_token = page.next_page_token;
    }
    agents.truncate(limit);
    let text = match args.output {
        ListFormat::Table => agents_table(&agents, SystemTime::now()),
        ListFormat::Json => agents_json(&agents).context("encoding agents as JSON")?,
    };
    print_line(&text).context("writing to stdout")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Ps {
        #[command(flatten)]
        args: PsArgs,
    }

    fn parse(arguments: &[&str]) -> Result<PsArgs, clap::Error> {
        Ps::try_parse_from(std::iter::once("ps").chain(arguments.iter().copied())).map(|ps| ps.args)
    }

    #[test]
    fn statuses_repeat_and_dead_letters_are_their_own_filter() {
        let args = parse(&["--status", "failed", "--status", "waiting-approval", "--status", "dead-lettered"]).unwrap();
        let request = list_request(&args.statuses, None, args.limit);
        assert_eq!(request.statuses, [RunStatus::Failed as i32, RunStatus::WaitingApproval as i32]);
        assert!(request.dead_lettered);
        assert_eq!((request.limit, request.query.as_str()), (1000, ""));

        let only_dead = parse(&["--status", "dead-lettered", "--search", "team=a", "--limit", "5"]).unwrap();
        let request = list_request(&only_dead.statuses, only_dead.search.as_deref(), only_dead.limit);
        assert_eq!((request.statuses.len(), request.dead_lettered, request.limit), (0, true, 5));
        assert_eq!(request.query, "team=a");
    }

    #[test]
    fn limits_are_positive_and_pages_at_most_the_hubs() {
        assert!(parse(&["--limit", "0"]).is_err());
        assert!(parse(&["--status", "sleeping"]).is_err());
        assert_eq!(list_request(&[], None, 5000).limit, HUB_PAGE);
        let every =
            ["queued", "running", "waiting-approval", "paused", "failed", "cancelled", "completed", "dead-lettered"];
        for status in every {
            assert!(parse(&["--status", status]).is_ok(), "{status}");
        }
    }
}
