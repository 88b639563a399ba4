//! `agentry pause RUN_ID`: stop executing a run and keep it until it is resumed or cancelled.

use clap::Args;

use crate::commands::{HubArgs, refused_as};
use crate::output::{ResultFormat, print_run_result};

/// Options of `agentry pause`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The run (queued or running).
    run_id: String,
    /// Why; kept in the run's `run_paused` event.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

/// Pauses the run and prints it.
pub async fn run(args: PauseArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let run = client
        .pause_run(&args.run_id, args.reason.unwrap_or_default())
        .await
        .map_err(|error| refused_as(error, &args.run_id, "paused"))?;
    print_run_result(&run, "paused", args.output)
}
