//! `agentry audit [--since DURATION|TIME] [--actor NAME] [--limit N] [--output table|json]`:
//! the hub's append-only audit log, newest first — spawns, messages, run controls, approvals,
//! forks, imports, node joins, leaves and cordons, and every refused call. Admins see every
//! record, operators their tenant's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;

use agentry_sdk::Timestamp;
use agentry_sdk::proto::ListAuditRequest;

use crate::commands::HubArgs;
use crate::output::{ListFormat, audit_json, audit_table, print_line};

/// Most records the hub returns in one page.
const HUB_PAGE: u32 = 1000;

/// Options of `agentry audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// Only records at or after this time: a stretch of time back from now (`1h`, `7d`) or a
    /// UTC time in RFC 3339 (`2025-01-31T14:00:00Z`).
    #[arg(long, value_parser = parse_since, value_name = "DURATION|TIME")]
    since: Option<Since>,
    /// Only records of this actor (exactly: a token's name, a JWT subject, `node:NAME`,
    /// `anonymous`).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
    /// Most records shown, newest first.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ListFormat::Table)]
    output: ListFormat,
}

/// The lower bound of `--since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Since {
    /// This long before now.
    Ago(Duration),
    /// This time.
    At(SystemTime),
}

impl Since {
    /// Returns the bound as a time, `now` being the present.
    fn time(self, now: SystemTime) -> SystemTime {
        match self {
            Self::Ago(duration) => now.checked_sub(duration).unwrap_or(UNIX_EPOCH),
            Self::At(time) => time,
        }
    }
}

/// Parses `--since` (clap value parser): a humantime duration, else an RFC 3339 time (UTC).
fn parse_since(text: &str) -> Result<Since, String> {
    if let Ok(duration) = humantime::parse_duration(text) {
        return Ok(Since::Ago(duration));
    }
    humantime::parse_rfc3339_weak(text).map(Since::At).map_err(|_| {
        format!("{text:?} is neither a duration (30m, 1h, 7d) nor an RFC 3339 UTC time (2025-01-31T14:00:00Z)")
    })
}

/// Returns a time as a protobuf timestamp (the epoch for earlier times).
fn timestamp(time: SystemTime) -> Timestamp {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since_epoch.subsec_nanos()).unwrap_or(0),
    }
}

/// Returns the first page's request: records since `since`, of `actor`, `limit` at most (up to
/// a hub page).
fn audit_request(since: Option<SystemTime>, actor: Option<&str>, limit: u32) -> ListAuditRequest {
    ListAuditRequest {
        since: since.map(timestamp),
        actor: actor.unwrap_or_default().to_owned(),
        limit: limit.min(HUB_PAGE),
        page_token: String::new(),
    }
}

/// Prints the records, newest first, reading as many of the hub's pages as `--limit` needs.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let since = args.since.map(|since| since.time(SystemTime::now()));
    let limit = args.limit as usize;
    let mut request = audit_request(since, args.actor.as_deref(), args.limit);
    let mut records = Vec::new();
    loop {
        let page = client.list_audit(request.clone()).await?;
        records.extend(page.records);
        if page.next_page_token.is_empty() || records.len() >= limit {
            break;
        }
        request.limit = u32::try_from(limit - records.len()).unwrap_or(HUB_PAGE).min(HUB_PAGE);
        request.page_token = page.next_page_token;
    }
    records.truncate(limit);
    let text = match args.output {
        ListFormat::Table => audit_table(&records),
        ListFormat::Json => audit_json(&records).context("encoding audit records as JSON")?,
    };
    print_line(&text).context("writing to stdout")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Audit {
        #[command(flatten)]
        args: AuditArgs,
    }

    fn parse(arguments: &[&str]) -> Result<AuditArgs, clap::Error> {
        Audit::try_parse_from(std::iter::once("audit").chain(arguments.iter().copied())).map(|audit| audit.args)
    }

    #[test]
    fn since_is_a_duration_back_from_now_or_a_time() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ago = parse(&["--since", "1h"]).expect("a duration").since.expect("set");
        assert_eq!(ago.time(now), now - Duration::from_secs(3_600));
        let at = parse(&["--since", "2023-11-14T22:13:20Z"]).expect("a time").since.expect("set");
        assert_eq!(at.time(now), now);
        let error = parse(&["--since", "yesterday"]).expect_err("neither").to_string();
        assert!(error.contains("neither a duration"), "{error}");
        assert_eq!(Since::Ago(Duration::from_secs(u64::MAX)).time(now), UNIX_EPOCH);
    }

    #[test]
    fn the_request_carries_the_filters_and_pages_at_most_the_hubs() {
        let args = parse(&["--actor", "ci", "--limit", "5000", "--output", "json"]).expect("valid");
        assert_eq!(args.output, ListFormat::Json);
        let since = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        let request = audit_request(Some(since), args.actor.as_deref(), args.limit);
        assert_eq!(request.since, Some(Timestamp { seconds: 1_700_000_000, nanos: 250_000_000 }));
        assert_eq!((request.actor.as_str(), request.limit), ("ci", HUB_PAGE));
        let default = parse(&[]).expect("valid");
        assert_eq!(audit_request(None, None, default.limit), ListAuditRequest { limit: 100, ..Default::default() });
        assert!(parse(&["--limit", "0"]).is_err());
    }
}
