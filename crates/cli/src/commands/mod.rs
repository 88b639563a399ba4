//! The `agentry` command line: one module per command (`<noun>/<verb>.rs` for grouped ones).

mod approve;
mod audit;
mod cancel;
mod certs;
mod config;
mod connect;
mod cost;
mod dev;
mod diff;
mod fork;
mod health;
mod hub;
mod node;
mod nodes;
mod pause;
mod ps;
#[cfg(test)]
mod reference;
mod rerun;
mod resume;
mod send;
mod spawn;
mod team;
mod templates;
mod token;
mod trace;
mod tree;
mod whoami;

use clap::{Parser, Subcommand};
use tokio::io::AsyncReadExt;

use agentry_sdk::ClientError;

pub use connect::{DEFAULT_HUB_URL, HubArgs};

/// Agentry Cloud: a distributed runtime for LLM agents.
#[derive(Debug, Parser)]
#[command(name = "agentry", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file (TOML, sections `[hub]` and `[node]`) for `dev`, `hub serve`, `node join`
    /// and `config print`; `AGENTRY_*` variables and flags override it.
    #[arg(long, global = true, env = "AGENTRY_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Log lines on stderr: text, or json (one object per line: timestamp, level, target,
    /// fields, span and spans); filtered by RUST_LOG.
    #[arg(long, global = true, env = "AGENTRY_LOG_FORMAT", value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a hub and nodes in one process (SQLite, in-process broker) for local development.
    Dev(dev::DevArgs),
    /// Hub commands.
    #[command(subcommand)]
    Hub(hub::HubCommand),
    /// Node commands.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Create an agent and start its first run; prints the agent id.
    Spawn(spawn::SpawnArgs),
    /// Send input to an agent, starting a run; prints the run id.
    Send(send::SendArgs),
    /// Print an agent's trace events (`trace AGENT`), or load a trace file as a read-only agent
    /// (`trace import FILE`).
    Trace(trace::TraceArgs),
    /// List agents with their latest runs.
    Ps(ps::PsArgs),
    /// List the nodes known to the hub.
    Nodes(nodes::NodesArgs),
    /// Stop a run for good (it ends as cancelled).
    Cancel(cancel::CancelArgs),
    /// Pause a queued or running run until it is resumed or cancelled.
    Pause(pause::PauseArgs),
    /// Resume a paused run from its last committed step.
    Resume(resume::ResumeArgs),
    /// Sum what model calls cost, by root agent, model, UTC day or tenant.
    Cost(cost::CostArgs),
    /// Let a tool call the policy held for approval run; its run continues.
    Approve(approve::DecideArgs),
    /// Refuse a tool call the policy held for approval; the model is told, its run continues.
    Deny(approve::DecideArgs),
    /// List tool calls held for approval, with their decisions.
    Approvals(approve::ApprovalsArgs),
    /// Configuration commands.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Role templates: `templates list`, `templates show NAME`.
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
    /// Teams: `team run TEMPLATE --input TEXT [--follow]` starts an agent with its team.
    #[command(subcommand)]
    Team(team::TeamCommand),
    /// Print an agent's delegation tree with each agent's status and cost.
    Tree(tree::TreeArgs),
    /// Fork an agent: new agents that share its conversation up to a point, then diverge.
    Fork(fork::ForkArgs),
    /// Show where two agents' conversations diverge, and their final answers side by side.
    Diff(diff::DiffArgs),
    /// Start a new run on a fork of a run's agent, from the end of one of its steps.
    Rerun(rerun::RerunArgs),
    /// Check a hub's gRPC health service (or, with `--http`, a node's `/readyz`); exit 0 when
    /// healthy, 1 when unhealthy, 2 when unreachable.
    Health(health::HealthArgs),
    /// Certificates: `certs dev` makes a CA and hub, node and client certificates for local use.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Bearer tokens: `token hash` prints the SHA-256 an auth file holds for a token.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Print who the hub takes you for: actor, role, tenant and how you were authenticated.
    Whoami(whoami::WhoamiArgs),
    /// List the hub's audit log, newest first: who did what to which agent, run or node, from
    /// where, and whether it was allowed.
    Audit(audit::AuditArgs),
}

impl Command {
    /// Returns whether this command runs a server (logs at `info` by default) rather than a
    /// client call (logs at `warn`).
    pub fn is_server(&self) -> bool {
        match self {
            Self::Dev(_) | Self::Hub(_) => true,
            Self::Node(command) => command.is_server(),
            _ => false,
        }
    }

    /// Runs the command; `config_file` is the global `--config`.
    pub async fn run(self, config_file: Option<std::path::PathBuf>) -> anyhow::Result<()> {
        match self {
            Self::Dev(args) => dev::run(args, config_file).await,
            Self::Hub(command) => command.run(config_file).await,
            Self::Node(command) => command.run(config_file).await,
            Self::Config(command) => command.run(config_file).await,
            Self::Spawn(args) => spawn::run(args).await,
            Self::Send(args) => send::run(args).await,
            Self::Trace(args) => trace::run(args).await,
            Self::Ps(args) => ps::run(args).await,
            Self::Nodes(args) => nodes::run(args).await,
            Self::Cancel(args) => cancel::run(args).await,
            Self::Pause(args) => pause::run(args).await,
            Self::Resume(args) => resume::run(args).await,
            Self::Cost(args) => cost::run(args).await,
            Self::Approve(args) => approve::decide(args, true).await,
            Self::Deny(args) => approve::decide(args, false).await,
            Self::Approvals(args) => approve::list(args).await,
            Self::Templates(command) => command.run().await,
            Self::Team(command) => command.run().await,
            Self::Tree(args) => tree::run(args).await,
            Self::Fork(args) => fork::run(args).await,
            Self::Diff(args) => diff::run(args).await,
            Self::Rerun(args) => rerun::run(args).await,
            Self::Health(args) => health::run(args).await,
            Self::Certs(command) => command.run(),
            Self::Token(command) => command.run().await,
            Self::Whoami(args) => whoami::run(args).await,
            Self::Audit(args) => audit::run(args).await,
        }
    }
}

/// Returns the error of a refused run control: a run in the wrong state (`FailedPrecondition`)
/// says which run cannot be `done` (`cancelled`, `paused`, `resumed`); other errors are kept.
pub fn refused_as(error: ClientError, run_id: &str, done: &str) -> anyhow::Error {
    let wrong_state = error.code() == Some(tonic::Code::FailedPrecondition);
    let error = anyhow::Error::new(error);
    if wrong_state { error.context(format!("run {run_id} cannot be {done}")) } else { error }
}

/// Returns `text`, or all of stdin when `text` is `-`.
pub async fn text_or_stdin(text: String) -> anyhow::Result<String> {
    if text != "-" {
        return Ok(text);
    }
    let mut input = String::new();
    tokio::io::stdin()
        .read_to_string(&mut input)
        .await
        .map_err(|error| anyhow::anyhow!("reading the input from stdin: {error}"))?;
    Ok(input)
}

/// Parses a duration like `5s`, `1m30s` or `250ms` (clap value parser).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("{error} (examples: 5s, 1m30s, 250ms)"))
}

/// Returns a duration as flag text the config layer parses (`1m 30s`).
pub fn duration_flag(duration: std::time::Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// Binds the HTTP listener of `/metrics`, `/healthz` and `/readyz` at `address` (a
/// `metrics_address()` of the hub's or node's config); `None` when there is none.
///
/// Errors name the address (e.g. it is in use).
pub async fn bind_metrics(address: Option<&str>) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    use anyhow::Context;
    let Some(address) = address else { return Ok(None) };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the metrics listener {address} (metrics-listen; `off` serves none)"))?;
    Ok(Some(listener))
}

/// Warns when runs would call api.openai.com without a key (they would all fail).
pub fn warn_without_api_key(config: &agent_node::NodeConfig) {
    let openai = config.default_endpoints().openai;
    if openai.api_key.is_none() && openai.base_url.contains("api.openai.com") {
        tracing::warn!(base_url = %openai.base_url, "OPENAI_API_KEY is not set; model calls will fail");
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_run_in_the_wrong_state_names_the_refused_action() {
        let ended = ClientError::Status(tonic::Status::failed_precondition("run r1 has ended (cancelled)"));
        let message = crate::report::one_line(&refused_as(ended, "r1", "cancelled"));
        assert_eq!(message, "run r1 cannot be cancelled: failed precondition: run r1 has ended (cancelled)");
        let unknown = ClientError::Status(tonic::Status::not_found("run r2 not found"));
        assert_eq!(crate::report::one_line(&refused_as(unknown, "r2", "paused")), "not found: run r2 not found");
    }

    #[test]
    fn durations_use_humantime() {
        assert_eq!(parse_duration("1m30s"), Ok(std::time::Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
    }
}
