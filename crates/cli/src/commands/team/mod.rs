//! `agentry team run [TEMPLATE] --input TEXT [--var K=V]... [--model M] [--follow]`: spawn an
//! agent from a role template (default `agent_0`) with its team, and optionally follow the whole
//! delegation tree's traces, interleaved (`team/follow.rs`).

mod follow;
mod view;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;

use agentry_sdk::proto::{AgentSpec, SpawnRequest};

use crate::commands::templates::{collect_vars, parse_var};
use crate::commands::tree::short_id;
use crate::commands::{HubArgs, text_or_stdin};
use crate::output::{EventFormat, ResultFormat, print_line};
use follow::follow_team;
use view::Member;

/// The template `team run` starts from when none is named.
pub const DEFAULT_TEMPLATE: &str = "agent_0";

/// `agentry team ...`.
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Start an agent from a role template (default agent_0) with its team; prints the agent and
    /// run ids, and with --follow the traces of the agent and of every sub-agent it starts.
    Run(TeamRunArgs),
}

/// Options of `agentry team run`.
#[derive(Debug, Args)]
pub struct TeamRunArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The role template (`agentry templates list`).
    #[arg(default_value = DEFAULT_TEMPLATE, value_name = "TEMPLATE")]
    template: String,
    /// The task; `-` reads it from stdin.
    #[arg(long, allow_hyphen_values = true, value_name = "TEXT")]
    input: String,
    /// A value of one of the template's `{{var}}` placeholders; repeat for more.
    #[arg(long = "var", value_parser = parse_var, value_name = "KEY=VALUE")]
    vars: Vec<(String, String)>,
    /// Model, over the template's (its team members without a model of their own inherit it).
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
    /// Tool choice of the agent's first model call, over the template's: `required` (it must
    /// call a tool — with a team, typically delegate), a tool name such as `parallel_agents`,
    /// `auto` or `none`; later calls are `auto`.
    #[arg(long, value_name = "CHOICE")]
    tool_choice: Option<String>,
    /// Budget: most tokens (input + output) the agent and its sub-agents may use together.
    #[arg(long, value_name = "N")]
    max_tokens: Option<u64>,
    /// Budget: most USD the agent and its sub-agents may spend together.
    #[arg(long, value_name = "USD")]
    max_cost: Option<f64>,
    /// Print the agent's trace and, indented below it, those of the sub-agents it starts, until
    /// its run ends; exits 1 when the run fails or is cancelled.
    #[arg(long)]
    follow: bool,
    /// Output format: with --follow, json prints every event as a JSON line (after the ids).
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

impl TeamCommand {
    /// Runs it.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Run(args) => run_team(args).await,
        }
    }
}

/// Returns the Spawn of `team run`: the template, its variables (a key given twice is an
/// error naming it), a spec carrying only the model and tool choice overrides, the input and
/// the budget.
fn spawn_request(args: &TeamRunArgs, input: String) -> anyhow::Result<SpawnRequest> {
    let vars = collect_vars(args.vars.clone()).map_err(anyhow::Error::msg)?;
    let template = args.template.trim();
    if template.is_empty() {
        anyhow::bail!("TEMPLATE is empty (default {DEFAULT_TEMPLATE}; see `agentry templates list`)");
    }
    let given =
        |value: &Option<String>| value.as_deref().map(str::trim).filter(|text| !text.is_empty()).map(str::to_owned);
    let (model, tool_choice) = (given(&args.model), given(&args.tool_choice));
    let spec = (model.is_some() || tool_choice.is_some()).then(|| AgentSpec {
        model: model.unwrap_or_default(),
        tool_choice: tool_choice.unwrap_or_default(),
        ..AgentSpec::default()
    });
    Ok(SpawnRequest {
        template: template.to_owned(),
        vars,
        spec,
        input: Some(input),
        max_tokens: args.max_tokens,
        max_cost_usd: args.max_cost,
        ..SpawnRequest::default()
    })
}

/// The ids `team run` prints.
#[derive(Serialize)]
struct Started<'a> {
    agent_id: &'a str,
    run_id: &'a str,
}

/// Returns the line of the started ids: `agent ID run ID`, or one JSON object.
fn started_line(agent_id: &str, run_id: &str, format: ResultFormat) -> String {
    match format {
        ResultFormat::Text => format!("agent {agent_id} run {run_id}"),
        // Two strings always serialize.
        ResultFormat::Json => serde_json::to_string(&Started { agent_id, run_id }).unwrap_or_default(),
    }
}

/// Spawns the team's agent, prints its ids and, with `--follow`, the tree's traces.
async fn run_team(args: TeamRunArgs) -> anyhow::Result<()> {
    let input = text_or_stdin(args.input.clone()).await?;
    let request = spawn_request(&args, input)?;
    let client = args.hub.connect().await?;
    let spawned = client.spawn(request).await.with_context(|| format!("starting template {}", args.template))?;
    print_line(&started_line(&spawned.agent_id, &spawned.run_id, args.output)).context("writing to stdout")?;
    if !args.follow {
        return Ok(());
    }
    if spawned.run_id.is_empty() {
        anyhow::bail!("the hub started no run for agent {}", spawned.agent_id);
    }
    let root = Member {
        tag: format!("{} {}", args.template.trim(), short_id(&spawned.agent_id)),
        agent_id: spawned.agent_id,
        run_id: spawned.run_id,
        depth: 0,
    };
    let format = match args.output {
        ResultFormat::Text => EventFormat::Human,
        ResultFormat::Json => EventFormat::Jsonl,
    };
    tokio::select! {
        result = follow_team(&client, root, format) => result,
        // Ctrl-C stops following; the team goes on.
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// Parses `agentry team run ARGS...`.
    fn parse(args: &[&str]) -> Result<TeamRunArgs, clap::Error> {
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(subcommand)]
            team: TeamCommand,
        }
        let argv = ["agentry", "run"].iter().chain(args).copied();
        Cli::try_parse_from(argv).map(|cli| match cli.team {
            TeamCommand::Run(run) => run,
        })
    }

    #[test]
    fn the_template_defaults_to_agent_0_and_the_spec_carries_only_the_model() {
        let defaults = parse(&["--input", "build it"]).unwrap();
        let request = spawn_request(&defaults, "build it".into()).unwrap();
        assert_eq!((request.template.as_str(), request.input.as_deref()), ("agent_0", Some("build it")));
        assert!(request.spec.is_none() && request.vars.is_empty());
        assert_eq!((request.max_tokens, request.max_cost_usd), (None, None));

        let args = parse(&[
            "coder",
            "--input",
            "x",
            "--var",
            "language=rust",
            "--var",
            " style = a=b",
            "--model",
            "gpt",
            "--max-tokens",
            "500",
        ])
        .unwrap();
        let request = spawn_request(&args, "x".into()).unwrap();
        assert_eq!(request.template, "coder");
        let vars: std::collections::BTreeMap<_, _> = request.vars.into_iter().collect();
        assert_eq!(vars, [("language".to_owned(), "rust".to_owned()), ("style".to_owned(), " a=b".to_owned())].into());
        assert_eq!(request.spec, Some(AgentSpec { model: "gpt".into(), ..AgentSpec::default() }));
        assert_eq!(request.max_tokens, Some(500));

        let forced = parse(&["--input", "x", "--tool-choice", "required"]).unwrap();
        let request = spawn_request(&forced, "x".into()).unwrap();
        assert_eq!(request.spec, Some(AgentSpec { tool_choice: "required".into(), ..AgentSpec::default() }));
    }

    #[test]
    fn bad_vars_are_refused_naming_them() {
        assert!(parse(&["--input", "x", "--var", "novalue"]).unwrap_err().to_string().contains("\"novalue\""));
        assert!(parse(&["--input", "x", "--var", "=v"]).unwrap_err().to_string().contains("is not a variable name"));
        let twice = parse(&["--input", "x", "--var", "a=1", "--var", "a=2"]).unwrap();
        let error = spawn_request(&twice, "x".into()).unwrap_err().to_string();
        assert_eq!(error, "--var a is given twice");
        let blank = parse(&[" ", "--input", "x"]).unwrap();
        assert!(spawn_request(&blank, "x".into()).unwrap_err().to_string().contains("TEMPLATE is empty"));
        assert!(parse(&["agent_0"]).is_err(), "--input is required");
    }

    #[test]
    fn the_started_line_has_both_ids() {
        assert_eq!(started_line("a1", "r1", ResultFormat::Text), "agent a1 run r1");
        assert_eq!(started_line("a1", "r1", ResultFormat::Json), r#"{"agent_id":"a1","run_id":"r1"}"#);
    }
}
