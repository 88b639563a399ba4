//! `agentry resume RUN_ID`: queue a paused run again; it continues from its last commit.

use clap::Args;

use crate::commands::{HubArgs, refused_as};
use crate::output::{ResultFormat, print_run_result};

/// Options of `agentry resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The paused run.
    run_id: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

/// Resumes the run and prints it.
pub async fn run(args: ResumeArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let run = client.resume_run(&args.run_id).await.map_err(|error| refused_as(error, &args.run_id, "resumed"))?;
    print_run_result(&run, "resumed", args.output)
}
