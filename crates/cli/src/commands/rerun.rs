//! `agentry rerun RUN_ID --from-step N [--input TEXT] [--follow]`: a new run on a fork of the
//! run's agent, from the end of step N (its answer and tool results); the original agent and
//! run stay as they were. Prints the fork's agent id and run id on one line.

use anyhow::Context;
use clap::Args;

use agentry_sdk::proto::{ForkAtStep, ForkRequest, fork_request};

use crate::commands::fork::{forked_json, shared_line};
use crate::commands::{HubArgs, text_or_stdin};
use crate::follow::follow_run;
use crate::output::{EventFormat, ResultFormat, print_line};

/// Options of `agentry rerun`.
#[derive(Debug, Args)]
pub struct RerunArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The run to start again.
    run_id: String,
    /// Keep the run's steps up to this one (from 1: the first model call), with their tool
    /// results; the new run continues after it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    from_step: u32,
    /// A new user message to continue with (`-` reads it from stdin); without it the model is
    /// asked for step N + 1 again.
    #[arg(long, allow_hyphen_values = true, value_name = "TEXT")]
    input: Option<String>,
    /// Model of the new run (default: the agent's).
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
    /// Print the new run's events until it ends; exits 1 when it fails.
    #[arg(long)]
    follow: bool,
    /// Output format (of the ids; `--follow` prints events as text).
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

/// Forks the run's agent at the step and prints the fork and its run.
pub async fn run(args: RerunArgs) -> anyhow::Result<()> {
    let input = match args.input {
        Some(input) => text_or_stdin(input).await?,
        None => String::new(),
    };
    let at_step = ForkAtStep { run_id: args.run_id.clone(), step: args.from_step };
    let request = ForkRequest {
        point: Some(fork_request::Point::AtStep(at_step)),
        count: 1,
        model: args.model.unwrap_or_default(),
        input,
        ..ForkRequest::default()
    };
    let client = args.hub.connect().await?;
    let source = client.get_run(args.run_id.clone()).await.with_context(|| format!("reading run {}", args.run_id))?;
    let forked = client
        .fork(request)
        .await
        .with_context(|| format!("rerunning run {} from step {}", args.run_id, args.from_step))?;
    let fork = forked.forks.first().context("the hub answered the rerun without a fork")?;
    match args.output {
        ResultFormat::Text => {
            eprintln!("{}", shared_line(&source.agent_id, &forked));
            print_line(&format!("{} {}", fork.agent_id, fork.run_id)).context("writing to stdout")?;
        }
        ResultFormat::Json => print_line(&forked_json(&source.agent_id, &forked)?).context("writing to stdout")?,
    }
    if args.follow {
        follow_run(&client, &fork.agent_id, &fork.run_id, EventFormat::Human).await?;
    }
    Ok(())
}
