//! `agentry resume RUN_ID [--add-tokens N] [--add-cost USD]`: queue a paused run again; it
//! continues from its last commit. A run paused by its budget needs the budget raised first.

use agentry_sdk::proto::ResumeRunRequest;
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
    /// First raise the budget of the run's agent by this many tokens.
    #[arg(long, value_name = "N")]
    add_tokens: Option<u64>,
    /// First raise the budget of the run's agent by this many USD.
    #[arg(long, value_name = "USD")]
    add_cost: Option<f64>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

/// Resumes the run and prints it.
pub async fn run(args: ResumeArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let request = ResumeRunRequest {
        run_id: args.run_id.clone(),
        add_tokens: args.add_tokens.unwrap_or(0),
        add_cost_usd: args.add_cost.unwrap_or(0.0),
    };
    let run = client.resume_run_with(request).await.map_err(|error| refused_as(error, &args.run_id, "resumed"))?;
    print_run_result(&run, "resumed", args.output)
}
