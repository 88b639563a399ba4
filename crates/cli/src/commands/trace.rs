//! `agentry trace`: print an agent's events, optionally tailing them.

use clap::Args;

use agentry_sdk::proto::TraceRequest;

use crate::commands::HubArgs;
use crate::follow::print_trace;
use crate::output::EventFormat;

/// Options of `agentry trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The agent.
    agent_id: String,
    /// Print only events with a sequence number above SEQ.
    #[arg(long, default_value_t = 0, value_name = "SEQ")]
    after: u64,
    /// Keep printing new events until Ctrl-C (reconnecting if the hub restarts).
    #[arg(long)]
    follow: bool,
    /// Print events as JSON lines.
    #[arg(long)]
    jsonl: bool,
    /// Only this run's events; with --follow, stop when it ends.
    #[arg(long, value_name = "RUN_ID")]
    run: Option<String>,
}

/// Prints the events.
pub async fn run(args: TraceArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let run_id = args.run.unwrap_or_default();
    let request = TraceRequest {
        agent_id: args.agent_id,
        run_id: run_id.clone(),
        after_seq: args.after,
        follow: args.follow,
        ..TraceRequest::default()
    };
    let watch_run = (!run_id.is_empty()).then_some(run_id.as_str());
    let printing = print_trace(&client, request, EventFormat::from_flag(args.jsonl), watch_run);
    tokio::select! {
        result = printing => result.map(|_| ()),
        // Ctrl-C ends tailing normally: everything received was printed.
        _ = tokio::signal::ctrl_c(), if args.follow => Ok(()),
    }
}
