//! `agentry send`: send input to an agent, optionally following the run it starts.

use anyhow::Context;
use clap::{Args, ValueEnum};

use agentry_sdk::proto::{OnBusy, SendMessageRequest};

use crate::commands::{HubArgs, text_or_stdin};
use crate::follow::follow_run;
use crate::output::{EventFormat, print_line};

/// What the hub does when the agent already has an active run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnBusyArg {
    /// Queue the run behind the active one.
    Enqueue,
    /// Refuse the message (exit 1).
    Reject,
    /// Cancel the agent's active and queued runs, then start this one.
    Interrupt,
}

/// Options of `agentry send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The agent.
    agent_id: String,
    /// The message; `-` reads it from stdin.
    #[arg(allow_hyphen_values = true)]
    text: String,
    /// Print the run's events until it ends; exits 1 when the run fails.
    #[arg(long)]
    follow: bool,
    /// With --follow, print events as JSON lines.
    #[arg(long, requires = "follow")]
    jsonl: bool,
    /// What to do when the agent is busy.
    #[arg(long, value_enum, default_value_t = OnBusyArg::Enqueue)]
    on_busy: OnBusyArg,
}

/// Sends the message and prints the run id.
pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    let input = text_or_stdin(args.text).await?;
    let on_busy = match args.on_busy {
        OnBusyArg::Enqueue => OnBusy::Enqueue,
        OnBusyArg::Reject => OnBusy::Reject,
        OnBusyArg::Interrupt => OnBusy::Interrupt,
    };
    let request = SendMessageRequest {
        agent_id: args.agent_id.clone(),
        input,
        on_busy: on_busy as i32,
        ..SendMessageRequest::default()
    };
    let client = args.hub.connect().await?;
    let sent = client.send_message(request).await?;
    if !sent.accepted {
        anyhow::bail!("agent {} is busy; the message was rejected (--on-busy reject)", args.agent_id);
    }
    print_line(&sent.run_id).context("writing to stdout")?;
    if args.follow {
        follow_run(&client, &args.agent_id, &sent.run_id, EventFormat::from_flag(args.jsonl)).await?;
    }
    Ok(())
}
