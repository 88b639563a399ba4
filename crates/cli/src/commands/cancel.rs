//! `agentry cancel RUN_ID`: stop a run for good.

use clap::Args;

use crate::commands::{HubArgs, refused_as};
use crate::output::{ResultFormat, print_run_result};

/// Options of `agentry cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The run (queued, running or paused).
    run_id: String,
    /// Why; kept as the run's error and in its `run_cancelled` event.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

/// Cancels the run and prints it.
pub async fn run(args: CancelArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let run = client
        .cancel_run(&args.run_id, args.reason.unwrap_or_default())
        .await
        .map_err(|error| refused_as(error, &args.run_id, "cancelled"))?;
    print_run_result(&run, "cancelled", args.output)
}
