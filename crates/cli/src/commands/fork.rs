//! `agentry fork AGENT_ID [--at SEQ | --at-message N] [--count N] [--model M] [--input TEXT]`:
//! new agents sharing the agent's conversation up to a point, each continuing on its own.
//! Prints the new agent ids, one per line (`-o json`: the forks with their runs and the shared
//! prefix); what was shared goes to stderr.

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use agentry_sdk::proto::{ForkRequest, ForkResponse, fork_request};

use crate::commands::{HubArgs, text_or_stdin};
use crate::output::{ResultFormat, print_line};
use agentry_core::labels::{collect_labels, parse_label};

/// Options of `agentry fork`.
#[derive(Debug, Args)]
pub struct ForkArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The agent to fork.
    agent_id: String,
    /// Branch after the commit that wrote this seq of the agent's trace (see `agentry trace
    /// AGENT`); default: after its last commit.
    #[arg(long, value_name = "SEQ", conflicts_with = "at_message")]
    at: Option<u64>,
    /// Branch after the first N messages of the agent's conversation.
    #[arg(long, value_name = "N")]
    at_message: Option<u64>,
    /// How many forks to make (1–16).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16), value_name = "N")]
    count: u32,
    /// Model of the forks (default: the agent's): a configured model or route, or
    /// `provider:name`.
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
    /// A new user message the forks continue with (`-` reads it from stdin); without it they
    /// continue the interrupted run as it was.
    #[arg(long, allow_hyphen_values = true, value_name = "TEXT")]
    input: Option<String>,
    /// A label of the forks (besides the agent's); repeat for more.
    #[arg(long = "label", value_parser = parse_label, value_name = "KEY=VALUE")]
    labels: Vec<(String, String)>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

/// Forks the agent and prints the forks.
pub async fn run(args: ForkArgs) -> anyhow::Result<()> {
    let point = match (args.at, args.at_message) {
        (Some(seq), _) => Some(fork_request::Point::AtSeq(seq)),
        (None, Some(index)) => Some(fork_request::Point::AtMessageIndex(index)),
        (None, None) => None,
    };
    let input = match args.input {
        Some(input) => text_or_stdin(input).await?,
        None => String::new(),
    };
    let request = ForkRequest {
        agent_id: args.agent_id.clone(),
        point,
        count: args.count,
        model: args.model.unwrap_or_default(),
        input,
        labels: collect_labels(&args.labels).map_err(anyhow::Error::msg)?.into_iter().collect(),
    };
    let client = args.hub.connect().await?;
    let forked = client.fork(request).await.with_context(|| format!("forking agent {}", args.agent_id))?;
    match args.output {
        ResultFormat::Text => {
            eprintln!("{}", shared_line(&args.agent_id, &forked));
            for fork in &forked.forks {
                print_line(&fork.agent_id).context("writing to stdout")?;
            }
            Ok(())
        }
        ResultFormat::Json => print_line(&forked_json(&args.agent_id, &forked)?).context("writing to stdout"),
    }
}

/// Returns what the forks share, for stderr: `forked AGENT at seq S: 3 forks share its first 5
/// messages`.
pub fn shared_line(source: &str, forked: &ForkResponse) -> String {
    let forks = match forked.forks.len() {
        1 => "1 fork shares".to_owned(),
        count => format!("{count} forks share"),
    };
    format!("forked {source} at seq {}: {forks} its first {} messages", forked.at_seq, forked.message_count)
}

/// A fork in `-o json`.
#[derive(Serialize)]
struct ForkJson<'a> {
    agent_id: &'a str,
    run_id: &'a str,
}

/// The answer of `fork -o json` and `rerun -o json`.
#[derive(Serialize)]
struct ForkedJson<'a> {
    forked_from: &'a str,
    at_seq: u64,
    message_count: u64,
    forks: Vec<ForkJson<'a>>,
}

/// Returns `forked` (forks of agent `source`) as pretty JSON: `forked_from`, `at_seq`,
/// `message_count` and `forks` (`agent_id`, `run_id` each).
pub fn forked_json(source: &str, forked: &ForkResponse) -> anyhow::Result<String> {
    let forks = forked.forks.iter().map(|fork| ForkJson { agent_id: &fork.agent_id, run_id: &fork.run_id }).collect();
    let json = ForkedJson { forked_from: source, at_seq: forked.at_seq, message_count: forked.message_count, forks };
    serde_json::to_string_pretty(&json).context("encoding the forks as JSON")
}

#[cfg(test)]
mod tests {
    use agentry_sdk::proto::ForkedAgent;

    use super::*;

    fn forked(count: usize) -> ForkResponse {
        let forks = (0..count)
            .map(|index| ForkedAgent { agent_id: format!("a{index}"), run_id: format!("r{index}") })
            .collect();
        ForkResponse { forks, message_count: 5, at_seq: 9 }
    }

    #[test]
    fn the_shared_prefix_is_told() {
        assert_eq!(shared_line("src", &forked(3)), "forked src at seq 9: 3 forks share its first 5 messages");
        assert_eq!(shared_line("src", &forked(1)), "forked src at seq 9: 1 fork shares its first 5 messages");
    }

    #[test]
    fn json_lists_the_forks_and_their_runs() {
        let json: serde_json::Value = serde_json::from_str(&forked_json("src", &forked(2)).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "forked_from": "src",
                "at_seq": 9,
                "message_count": 5,
                "forks": [{ "agent_id": "a0", "run_id": "r0" }, { "agent_id": "a1", "run_id": "r1" }],
            })
        );
    }
}
