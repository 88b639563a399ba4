//! `agentry trace AGENT`: print an agent's events, optionally tailing them; `agentry trace
//! import FILE` loads a trace file (`trace/import.rs`, read by `trace/jsonl.rs`) as a
//! read-only agent.

mod import;
mod jsonl;

use clap::{Args, Subcommand};

use agentry_sdk::proto::TraceRequest;

use crate::commands::HubArgs;
use crate::follow::print_trace;
use crate::output::EventFormat;

/// Options of `agentry trace`: an agent's events, or a subcommand.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TraceArgs {
    /// What else to do with traces.
    #[command(subcommand)]
    command: Option<TraceCommand>,
    #[command(flatten)]
    hub: HubArgs,
    /// The agent.
    #[arg(required = true)]
    agent_id: Option<String>,
    /// Print only events with a sequence number above SEQ.
    #[arg(long, default_value_t = 0, value_name = "SEQ")]
    after: u64,
    /// Keep printing new events until Ctrl-C (reconnecting if the hub restarts); ends after the
    /// backlog for a read-only import, whose runs have all ended.
    #[arg(long)]
    follow: bool,
    /// Print events as JSON lines (the format `agentry trace import` reads).
    #[arg(long)]
    jsonl: bool,
    /// Only this run's events; with --follow, stop when it ends (finished, failed or cancelled;
    /// a paused run is followed until it is resumed and ends).
    #[arg(long, value_name = "RUN_ID")]
    run: Option<String>,
}

/// The subcommands of `agentry trace`.
#[derive(Debug, Subcommand)]
enum TraceCommand {
    /// Load a trace file (JSON lines, as `agentry trace AGENT --jsonl` prints them) as a new,
    /// read-only agent; prints its id.
    Import(import::ImportArgs),
}

/// Prints the events, or runs the subcommand.
pub async fn run(args: TraceArgs) -> anyhow::Result<()> {
    if let Some(TraceCommand::Import(import_args)) = args.command {
        return import::run(import_args).await;
    }
    // Required unless a subcommand is given (clap checks it).
    let agent_id = args.agent_id.unwrap_or_default();
    let client = args.hub.connect().await?;
    // An import never changes: tailing it would wait forever.
    let follow = args.follow && client.get_agent(agent_id.clone()).await?.imported_from.is_empty();
    let request = TraceRequest {
        agent_id,
        run_id: args.run.unwrap_or_default(),
        after_seq: args.after,
        follow,
        // While following, the model's text is printed as it streams (`token` events).
        include_ephemeral: follow,
    };
    let printing = print_trace(&client, request, EventFormat::from_flag(args.jsonl));
    tokio::select! {
        result = printing => result.map(|_| ()),
        // Ctrl-C ends tailing normally: everything received was printed.
        _ = tokio::signal::ctrl_c(), if follow => Ok(()),
    }
}
