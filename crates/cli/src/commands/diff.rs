//! `agentry diff AGENT_A AGENT_B`: where two conversations (typically forks of one agent)
//! diverge, and their final answers side by side.
//!
//! Messages are compared by role, content and tool calls (name and arguments), not by ids,
//! runs or seqs: a fork's copy of its source's message is the same message. [`diverge`] and
//! [`render`] are pure and unit-tested below.

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use agentry_sdk::convert::types::run_status_name;
use agentry_sdk::proto::{Message, Run};

use crate::commands::HubArgs;
use crate::output::{ResultFormat, one_line_preview, print_line, render_table};

/// Characters of a divergent message shown on its line.
const PREVIEW_CHARS: usize = 160;
/// Width of each column of the final answers, in characters.
const ANSWER_COLUMN_CHARS: usize = 60;

/// Options of `agentry diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The first agent.
    agent_a: String,
    /// The second agent.
    agent_b: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

/// Reads both conversations and prints where they diverge.
pub async fn run(args: DiffArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let mut sides = Vec::with_capacity(2);
    for agent_id in [&args.agent_a, &args.agent_b] {
        let messages = client.list_messages(agent_id.clone()).await.with_context(|| format!("reading {agent_id}"))?;
        let agent = client.get_agent(agent_id.clone()).await.with_context(|| format!("reading {agent_id}"))?;
        let answer = final_answer(&messages, agent.latest_run.as_ref());
        sides.push(Side { agent_id: agent_id.clone(), messages, answer });
    }
    let text = match args.output {
        ResultFormat::Text => render(&sides[0], &sides[1]),
        ResultFormat::Json => diff_json(&sides[0], &sides[1])?,
    };
    print_line(&text).context("writing to stdout")
}

/// One agent of a diff.
#[derive(Debug, Clone)]
pub struct Side {
    /// Its id.
    pub agent_id: String,
    /// Its conversation, in order.
    pub messages: Vec<Message>,
    /// How it ended.
    pub answer: FinalAnswer,
}

/// How a conversation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalAnswer {
    /// Its last message is an answer without tool calls.
    Answer(String),
    /// It has none (yet): its latest run's status and error, if any.
    NoAnswer {
        /// `running`, `failed`, ...; `none` without a run.
        status: String,
        /// The run's error (empty when none).
        error: String,
    },
}

/// Returns the final answer of `messages`: the last message when it is an answer without tool
/// calls, else the latest run's status (and error).
pub fn final_answer(messages: &[Message], latest_run: Option<&Run>) -> FinalAnswer {
    match messages.last() {
        Some(last) if last.role == "assistant" && last.tool_calls.is_empty() => {
            FinalAnswer::Answer(last.content.clone())
        }
        _ => FinalAnswer::NoAnswer {
            status: latest_run.map_or_else(|| "none".to_owned(), |run| run_status_name(run.status)),
            error: latest_run.map(|run| run.error.clone()).unwrap_or_default(),
        },
    }
}

/// Returns whether two messages say the same: role, content and tool calls (name, arguments).
pub fn same_message(a: &Message, b: &Message) -> bool {
    let calls = |message: &Message| -> Vec<(String, String)> {
        message.tool_calls.iter().map(|call| (call.name.clone(), call.arguments.clone())).collect()
    };
    a.role == b.role && a.content == b.content && calls(a) == calls(b)
}

/// Where two conversations part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Divergence<'a> {
    /// How many first messages they share.
    pub shared: usize,
    /// The first message of each after the shared ones; `None` where a conversation ends there.
    pub first: [Option<&'a Message>; 2],
}

/// Returns where `a` and `b` diverge.
pub fn diverge<'a>(a: &'a [Message], b: &'a [Message]) -> Divergence<'a> {
    let shared = a.iter().zip(b).take_while(|(left, right)| same_message(left, right)).count();
    Divergence { shared, first: [a.get(shared), b.get(shared)] }
}

/// Returns a message on one line: `#INDEX ROLE content`, tool calls as `name(arguments)`.
pub fn message_line(message: &Message) -> String {
    let mut parts = vec![format!("#{} {}", message.index, message.role)];
    if !message.content.is_empty() {
        parts.push(one_line_preview(&message.content, PREVIEW_CHARS));
    }
    for call in &message.tool_calls {
        parts.push(one_line_preview(&format!("{}({})", call.name, call.arguments), PREVIEW_CHARS));
    }
    parts.join(" ")
}

/// Returns the text of `agentry diff`: the shared prefix, the first divergent message of each,
/// and the final answers side by side.
pub fn render(a: &Side, b: &Side) -> String {
    let divergence = diverge(&a.messages, &b.messages);
    let mut lines = vec![format!("shared: first {} messages", divergence.shared)];
    if divergence.first == [None, None] {
        lines.push("the conversations are the same".to_owned());
    } else {
        lines.push("first divergent message:".to_owned());
        for (side, message) in [a, b].into_iter().zip(divergence.first) {
            let text = message.map_or_else(|| "(the conversation ends here)".to_owned(), message_line);
            lines.push(format!("  {}: {text}", side.agent_id));
        }
    }
    lines.push("final answers:".to_owned());
    let columns = [answer_lines(&a.answer), answer_lines(&b.answer)];
    let height = columns.iter().map(Vec::len).max().unwrap_or(0);
    let cell = |column: &Vec<String>, row: usize| column.get(row).cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = (0..height).map(|row| vec![cell(&columns[0], row), cell(&columns[1], row)]).collect();
    lines.push(render_table(&[&a.agent_id, &b.agent_id], &rows));
    lines.join("\n")
}

/// Returns an answer as the lines of its column, wrapped at [`ANSWER_COLUMN_CHARS`].
fn answer_lines(answer: &FinalAnswer) -> Vec<String> {
    let text = match answer {
        FinalAnswer::Answer(text) => text.clone(),
        FinalAnswer::NoAnswer { status, error } if error.is_empty() => format!("(no answer: {status})"),
        FinalAnswer::NoAnswer { status, error } => format!("(no answer: {status}: {error})"),
    };
    text.lines().flat_map(|line| wrap(line, ANSWER_COLUMN_CHARS)).collect()
}

/// Splits `line` into pieces of at most `width` characters, at spaces when it can.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for word in line.split(' ') {
        let mut word: String = word.to_owned();
        loop {
            let needed = current.chars().count() + usize::from(!current.is_empty()) + word.chars().count();
            if needed <= width {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(&word);
                break;
            }
            if !current.is_empty() {
                pieces.push(std::mem::take(&mut current));
                continue;
            }
            // A word longer than the column: cut it.
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            pieces.push(head);
        }
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// A message in `diff -o json`.
#[derive(Serialize)]
struct MessageJson<'a> {
    index: u64,
    seq: u64,
    role: &'a str,
    content: &'a str,
    tool_calls: Vec<serde_json::Value>,
}

/// One agent in `diff -o json`.
#[derive(Serialize)]
struct SideJson<'a> {
    agent_id: &'a str,
    messages: usize,
    first_divergent: Option<MessageJson<'a>>,
    #[serde(rename = "final")]
    answer: &'a FinalAnswer,
}

/// Returns the diff as pretty JSON: `shared` and, per agent, `agent_id`, `messages` (count),
/// `first_divergent` (a message or null) and `final` (`{"answer": TEXT}` or `{"no_answer":
/// {status, error}}`).
fn diff_json(a: &Side, b: &Side) -> anyhow::Result<String> {
    let divergence = diverge(&a.messages, &b.messages);
    let side = |side: &'_ Side, message: Option<&'_ Message>| -> serde_json::Value {
        let first_divergent = message.map(|message| MessageJson {
            index: message.index,
            seq: message.seq,
            role: &message.role,
            content: &message.content,
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| serde_json::json!({ "id": call.id, "name": call.name, "arguments": call.arguments }))
                .collect(),
        });
        let json =
            SideJson { agent_id: &side.agent_id, messages: side.messages.len(), first_divergent, answer: &side.answer };
        serde_json::to_value(json).unwrap_or_default()
    };
    let json = serde_json::json!({
        "shared": divergence.shared,
        "agents": [side(a, divergence.first[0]), side(b, divergence.first[1])],
    });
    serde_json::to_string_pretty(&json).context("encoding the diff as JSON")
}

#[cfg(test)]
mod tests {
    use agentry_sdk::proto::ToolCall;

    use super::*;

    fn message(index: u64, role: &str, content: &str, call: Option<(&str, &str)>) -> Message {
        let tool_calls = call
            .map(|(name, arguments)| ToolCall {
                id: format!("id{index}"),
                name: name.into(),
                arguments: arguments.into(),
            })
            .into_iter()
            .collect();
        Message { index, role: role.into(), content: content.into(), tool_calls, ..Message::default() }
    }

    fn conversation(answer: &str) -> Vec<Message> {
        vec![
            message(0, "user", "q", None),
            message(1, "assistant", "", Some(("echo", r#"{"text":"one"}"#))),
            message(2, "tool", "one", None),
            message(3, "assistant", answer, None),
        ]
    }

    #[test]
    fn the_shared_prefix_ignores_ids_and_runs() {
        let a = conversation("A");
        let mut b = conversation("B");
        b[1].tool_calls[0].id = "another id".into();
        b[0].run_id = "another run".into();
        let divergence = diverge(&a, &b);
        assert_eq!(divergence.shared, 3);
        assert_eq!(
            divergence.first.map(|message| message.map(|message| message.content.as_str())),
            [Some("A"), Some("B")]
        );
        let mut other_call = conversation("A");
        other_call[1].tool_calls[0].arguments = r#"{"text":"two"}"#.into();
        assert_eq!(diverge(&a, &other_call).shared, 1);
        let prefix = &a[..2];
        let divergence = diverge(&a, prefix);
        assert_eq!((divergence.shared, divergence.first[1]), (2, None));
        assert_eq!(diverge(&a, &a).first, [None, None]);
    }

    #[test]
    fn final_answers_are_the_last_answer_or_the_run_status() {
        let answered = conversation("done");
        assert_eq!(final_answer(&answered, None), FinalAnswer::Answer("done".into()));
        let run =
            Run { status: agentry_sdk::proto::RunStatus::Failed as i32, error: "model down".into(), ..Run::default() };
        let failed = final_answer(&answered[..2], Some(&run));
        assert_eq!(failed, FinalAnswer::NoAnswer { status: "failed".into(), error: "model down".into() });
        assert_eq!(final_answer(&[], None), FinalAnswer::NoAnswer { status: "none".into(), error: String::new() });
    }

    #[test]
    fn the_text_shows_the_divergence_and_the_answers_side_by_side() {
        let side = |agent_id: &str, answer: &str| Side {
            agent_id: agent_id.into(),
            messages: conversation(answer),
            answer: FinalAnswer::Answer(answer.into()),
        };
        let a = side("agent-a", "the first answer");
        let b = Side {
            answer: FinalAnswer::NoAnswer { status: "running".into(), error: String::new() },
            ..side("agent-b", "x")
        };
        let text = render(&a, &b);
        let expected = [
            "shared: first 3 messages",
            "first divergent message:",
            "  agent-a: #3 assistant the first answer",
            "  agent-b: #3 assistant x",
            "final answers:",
            "agent-a            agent-b",
            "the first answer   (no answer: running)",
        ];
        assert_eq!(text, expected.join("\n"));
        let same = render(&a, &a);
        assert!(same.contains("shared: first 4 messages\nthe conversations are the same"), "{same}");
        let json: serde_json::Value = serde_json::from_str(&diff_json(&a, &b).unwrap()).unwrap();
        assert_eq!(json["shared"], 3);
        assert_eq!(json["agents"][0]["final"], serde_json::json!({ "answer": "the first answer" }));
        assert_eq!(json["agents"][1]["first_divergent"]["content"], "x");
        assert_eq!(json["agents"][1]["final"]["no_answer"]["status"], "running");
    }

    #[test]
    fn long_answers_wrap_in_their_column() {
        assert_eq!(wrap("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(message_line(&message(1, "assistant", "", Some(("echo", "{}")))), "#1 assistant echo({})");
    }
}
