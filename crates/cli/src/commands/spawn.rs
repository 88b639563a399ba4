//! `agentry spawn`: create an agent with a first input, optionally following its run.

use anyhow::Context;
use clap::Args;

use agentry_sdk::proto::{AgentSpec, McpHttp, McpServer, McpStdio, SpawnRequest, mcp_server};

use crate::commands::templates::{collect_vars, parse_var};
use crate::commands::{HubArgs, text_or_stdin};
use crate::follow::follow_run;
use crate::output::{EventFormat, print_line};
use agentry_core::labels::{collect_labels, parse_label};

/// Model of a spawn that names neither a model nor a template.
const DEFAULT_MODEL: &str = "openai:gpt-4o-mini";

/// Options of `agentry spawn`.
#[derive(Debug, Args)]
pub struct SpawnArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// Model: a configured model or route name, `provider:name`, or a fallback chain `a,b`
    /// (default: openai:gpt-4o-mini; with --template, the template's; team members without a
    /// model of their own use this one).
    #[arg(long, env = "AGENTRY_MODEL", value_name = "MODEL")]
    model: Option<String>,
    /// Start from this role template (`agentry templates list`); the other flags given override
    /// its fields.
    #[arg(long, value_name = "NAME")]
    template: Option<String>,
    /// A value of the template's `{{key}}` placeholders (over its defaults, for its team too);
    /// repeat for more.
    #[arg(long = "var", requires = "template", value_parser = parse_var, value_name = "KEY=VALUE")]
    vars: Vec<(String, String)>,
    /// Builtin tools the agent may call, comma-separated (echo, bash, view, read_lines, write,
    /// edit_range, insert_at, search_replace, ls, find, grep, glob, fetch, patch).
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
    /// An MCP server whose tools (`NAME__TOOL`) the agent may call: `NAME=COMMAND ARGS...`
    /// (shell-quoted; started in the node's sandbox for each run) or `NAME=https://host/mcp`
    /// (streamable HTTP); repeat for more.
    #[arg(long = "mcp", value_parser = parse_mcp, value_name = "NAME=COMMAND|URL")]
    mcp: Vec<(String, McpServer)>,
    /// Let these stdio MCP servers use the network (default: none), comma-separated names.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    mcp_network: Vec<String>,
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
    let template = args.template.unwrap_or_default();
    let model = match args.model {
        Some(model) => model,
        None if template.is_empty() => DEFAULT_MODEL.to_owned(),
        None => String::new(),
    };
    let tools = args.tools.into_iter().map(|tool| tool.trim().to_owned()).filter(|tool| !tool.is_empty()).collect();
    let spec = AgentSpec {
        model,
        tools,
        system: args.system.unwrap_or_default(),
        max_iterations: args.max_iterations.unwrap_or(0),
        temperature: args.temperature,
        node_selector: collect_labels(&args.node_selector).map_err(anyhow::Error::msg)?.into_iter().collect(),
        tool_choice: args.tool_choice.unwrap_or_default(),
        mcp_servers: mcp_servers(args.mcp, &args.mcp_network)?,
        team: None,
    };
    let request = SpawnRequest {
        spec: Some(spec),
        input: Some(input),
        labels: labels.into_iter().collect(),
        max_tokens: args.max_tokens,
        max_cost_usd: args.max_cost,
        template,
        vars: collect_vars(args.vars).map_err(anyhow::Error::msg)?,
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

/// Parses `NAME=COMMAND ARGS...` (shell-quoted) or `NAME=http(s)://...` (clap value parser).
fn parse_mcp(text: &str) -> Result<(String, McpServer), String> {
    let (name, target) = text.split_once('=').ok_or_else(|| format!("{text:?} is not NAME=COMMAND or NAME=URL"))?;
    let transport = if target.starts_with("http://") || target.starts_with("https://") {
        mcp_server::Transport::Http(McpHttp { url: target.to_owned() })
    } else {
        let command = shlex::split(target).ok_or_else(|| format!("{target:?}: unbalanced quotes"))?;
        if command.is_empty() {
            return Err(format!("{text:?} names no command"));
        }
        mcp_server::Transport::Stdio(McpStdio { command, ..McpStdio::default() })
    };
    Ok((name.trim().to_owned(), McpServer { transport: Some(transport) }))
}

/// Returns the servers by name, those named in `network` allowed the network.
///
/// Errors when a name is given twice or `network` names a server that is not a stdio one.
fn mcp_servers(
    servers: Vec<(String, McpServer)>,
    network: &[String],
) -> anyhow::Result<std::collections::HashMap<String, McpServer>> {
    let mut by_name = std::collections::HashMap::new();
    for (name, server) in servers {
        if by_name.insert(name.clone(), server).is_some() {
            anyhow::bail!("--mcp: server {name:?} is given twice");
        }
    }
    for name in network.iter().map(|name| name.trim()).filter(|name| !name.is_empty()) {
        match by_name.get_mut(name).and_then(|server| server.transport.as_mut()) {
            Some(mcp_server::Transport::Stdio(stdio)) => stdio.network = true,
            _ => anyhow::bail!("--mcp-network: {name:?} is not a stdio server given with --mcp"),
        }
    }
    Ok(by_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_flags_parse_commands_and_urls() {
        let (name, stdio) = parse_mcp("files=npx -y '@scope/server fs' /tmp").unwrap();
        assert_eq!(name, "files");
        let Some(mcp_server::Transport::Stdio(stdio)) = stdio.transport else { panic!("stdio") };
        assert_eq!(stdio.command, ["npx", "-y", "@scope/server fs", "/tmp"]);
        let (_, http) = parse_mcp("web=https://mcp.example/mcp").unwrap();
        assert!(
            matches!(http.transport, Some(mcp_server::Transport::Http(McpHttp { url })) if url == "https://mcp.example/mcp")
        );
        assert!(parse_mcp("nothing").is_err());
        assert!(parse_mcp("x=").is_err());
        assert!(parse_mcp("x='open").is_err());
    }

    #[test]
    fn mcp_network_names_stdio_servers() {
        let servers = vec![parse_mcp("a=server").unwrap(), parse_mcp("b=https://h/mcp").unwrap()];
        let built = mcp_servers(servers.clone(), &["a".to_owned()]).unwrap();
        assert!(matches!(&built["a"].transport, Some(mcp_server::Transport::Stdio(stdio)) if stdio.network));
        assert!(mcp_servers(servers.clone(), &["b".to_owned()]).is_err());
        assert!(mcp_servers(vec![servers[0].clone(), servers[0].clone()], &[]).is_err());
    }
}
