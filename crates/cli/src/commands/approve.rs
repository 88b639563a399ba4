//! `agentry approve|deny RUN_ID CALL_ID [--reason TEXT]`: decide on a tool call the policy held
//! for approval; the run is queued again and continues on any live node. `agentry approvals
//! [--pending] [--run RUN_ID]` lists requests with their decisions.

use std::time::SystemTime;

use anyhow::Context;
use clap::Args;

use agentry_sdk::proto::{ApproveRequest, ListApprovalsRequest};

use crate::commands::{HubArgs, refused_as};
use crate::output::{ListFormat, ResultFormat, approvals_json, approvals_table, print_line, print_run_result};

/// Options of `agentry approve` and `agentry deny`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The run waiting for the approval.
    run_id: String,
    /// The held tool call (see `agentry approvals --pending`).
    call_id: String,
    /// Why (recorded; a denial shows it to the model).
    #[arg(long, default_value = "")]
    reason: String,
    /// Who decides (recorded with the decision); default `$USER@host`.
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

/// Records the decision and prints the run.
pub async fn decide(args: DecideArgs, approved: bool) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let request = ApproveRequest {
        run_id: args.run_id.clone(),
        tool_call_id: args.call_id.clone(),
        approved,
        reason: args.reason,
        actor: args.actor.unwrap_or_else(default_actor),
    };
    let action = if approved { "approved" } else { "denied" };
    let run = client.approve(request).await.map_err(|error| refused_as(error, &args.run_id, action))?;
    print_run_result(&run, action, args.output)
}

/// Returns `$USER@host` (or what of it is known).
fn default_actor() -> String {
    let user = std::env::var("USER").ok().filter(|user| !user.is_empty()).unwrap_or_else(|| "unknown".to_owned());
    let host = std::fs::read_to_string("/etc/hostname").map(|host| host.trim().to_owned()).unwrap_or_default();
    if host.is_empty() { user } else { format!("{user}@{host}") }
}

/// Options of `agentry approvals`.
#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// Only requests nobody decided on yet.
    #[arg(long)]
    pending: bool,
    /// Only this run's requests.
    #[arg(long, value_name = "RUN_ID")]
    run: Option<String>,
    /// At most this many (newest first).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ListFormat::Table)]
    output: ListFormat,
}

/// Prints the approvals.
pub async fn list(args: ApprovalsArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let request =
        ListApprovalsRequest { pending_only: args.pending, run_id: args.run.unwrap_or_default(), limit: args.limit };
    let approvals = client.list_approvals(request).await?;
    let text = match args.output {
        ListFormat::Table => approvals_table(&approvals, SystemTime::now()),
        ListFormat::Json => approvals_json(&approvals).context("encoding approvals as JSON")?,
    };
    print_line(&text).context("writing to stdout")
}
