//! `agentry spawn`: create an agent with a first input, optionally following its run.

use anyhow::Context;
use clap::Args;

use agentry_sdk::proto::{AgentSpec, SpawnRequest};

use crate::commands::{HubArgs, text_or_stdin};
use crate::follow::follow_run;
use crate::output::{EventFormat, print_line};
use agentry_core::labels::{collect_labels, parse_label};

/// Options of `agentry spawn`.
#[derive(Debug, Args)]
pub struct SpawnArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// Model: a configured model or route name, `provider:name`, or a fallback chain `a,b`.
    #[arg(long, env = "AGENTRY_MODEL", default_value = "openai:gpt-4o-mini", value_name = "MODEL")]
    model: String,
    /// Builtin tools the agent may call, comma-separated (echo, bash, view, write, ls).
    #[arg(long, value_delimiter = ',', value_name = "TOOL,...")]
    tools: Vec<String>,
    /// System prompt.
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
    /// Maximum model calls per run (default: the hub's).
    #[arg(long, value_name = "N")]
    max_iterations: Option<u32>,
    /// Sampling temperature, 0–2 (default: the model server's).
    #[arg(long, value_name = "T")]
    temperature: Option<f32>,
    /// Tool choice: auto, none, required, or a tool name; `required` and a tool name apply to the
    /// first model call of each run (default auto).
    #[arg(long, value_name = "CHOICE")]
    tool_choice: Option<String>,
    /// Budget: most tokens (input + output) the agent's model calls may use, its sub-agents'
    /// included; a run that would exceed it is paused (`agentry resume RUN --add-tokens N`).
    #[arg(long, value_name = "N")]
    max_tokens: Option<u64>,
    /// Budget: most USD the agent's model calls may cost (at the configured model prices).
    #[arg(long, value_name = "USD")]
    max_cost: Option<f64>,
    /// A label of the agent; repeat for more.
    #[arg(long = "label", value_parser = parse_label, value_name = "KEY=VALUE")]
    labels: Vec<(String, String)>,
    /// A label a node must have to run this agent (hard constraint); repeat for more.
    #[arg(long = "node-selector", value_parser = parse_label, value_name = "KEY=VALUE")]
    node_selector: Vec<(String, String)>,
    /// First user input; `-` reads it from stdin.
    #[arg(long, allow_hyphen_values = true, value_name = "TEXT")]
    input: String,
    /// Print the run's events until it ends; exits 1 when the run fails.
    #[arg(long)]
    follow: bool,
    /// With --follow, print events as JSON lines.
    #[arg(long, requires = "follow")]
    jsonl: bool,
}

/// Spawns the agent and prints its id.
pub async fn run(args: SpawnArgs) -> anyhow::Result<()> {
    let input = text_or_stdin(args.input).await?;
    let labels = collect_labels(&args.labels).map_err(anyhow::Error::msg)?;
    let tools = args.tools.into_iter().map(|tool| tool.trim().to_owned()).filter(|tool| !tool.is_empty()).collect();
    let spec = AgentSpec {
        model: args.model,
        tools,
        system: args.system.unwrap_or_default(),
        max_iterations: args.max_iterations.unwrap_or(0),
        temperature: args.temperature,
        node_selector: collect_labels(&args.node_selector).map_err(anyhow::Error::msg)?.into_iter().collect(),
        tool_choice: args.tool_choice.unwrap_or_default(),
    };
    let request = SpawnRequest {
        spec: Some(spec),
        input: Some(input),
        labels: labels.into_iter().collect(),
        max_tokens: args.max_tokens,
        max_cost_usd: args.max_cost,
        ..SpawnRequest::default()
    };
    let client = args.hub.connect().await?;
    let spawned = client.spawn(request).await?;
    print_line(&spawned.agent_id).context("writing to stdout")?;
    if !args.follow {
        return Ok(());
    }
    if spawned.run_id.is_empty() {
        anyhow::bail!("the hub started no run for agent {}", spawned.agent_id);
    }
    follow_run(&client, &spawned.agent_id, &spawned.run_id, EventFormat::from_flag(args.jsonl)).await
}
