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
    /// Only this run's events; with --follow, stop when it ends (finished, failed or cancelled;
    /// a paused run is followed until it is resumed and ends).
    #[arg(long, value_name = "RUN_ID")]
    run: Option<String>,
}

/// Prints the events.
pub async fn run(args: TraceArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let request = TraceRequest {
        agent_id: args.agent_id,
        run_id: args.run.unwrap_or_default(),
        after_seq: args.after,
        follow: args.follow,
        // While following, the model's text is printed as it streams (`token` events).
        include_ephemeral: args.follow,
    };
    let printing = print_trace(&client, request, EventFormat::from_flag(args.jsonl));
    tokio::select! {
        result = printing => result.map(|_| ()),
        // Ctrl-C ends tailing normally: everything received was printed.
        _ = tokio::signal::ctrl_c(), if args.follow => Ok(()),
    }
}
