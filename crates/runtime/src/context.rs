//! Context management: keeping a conversation within the model's context window.
//!
//! When a prompt would not fit (estimated tokens above the window minus the call's output
//! allowance), the older part of the conversation is replaced by a summary: the messages before
//! a *cut* — chosen so the recent messages left take at most half the window, and never
//! between a tool call and its result — are summarised by the model (policy `summarize`) or
//! dropped with a note (policy `truncate`, or when the summary call fails). Either way the
//! result is committed as a `summary` event (`{covers, text, ...}`), so a resumed run — on any
//! node — builds the same prompt from it and never summarises the same messages twice.

use agentry_core::message::{ConversationSummary, Message, Role};
use agentry_core::models::estimate_tokens;

/// System prompt of a summarisation call. (The scripted test model recognises it.)
pub const SUMMARY_INSTRUCTION: &str = "Summarize the conversation below for the assistant that continues it: keep the \
     task, decisions, facts learned from tool results and what remains to do. Answer with the summary only.";
/// How a summary opens the prompt, as a user message before the recent messages.
pub const SUMMARY_PREFIX: &str = "Summary of the earlier conversation:";

/// Returns the messages a prompt sends for `conversation`: the system prompt, the summary (as a
/// user message) when there is one, then the messages it does not cover.
pub fn prompt(system: &str, summary: Option<&ConversationSummary>, conversation: &[Message]) -> Vec<Message> {
    let covered = summary.map_or(0, |summary| (summary.covers as usize).min(conversation.len()));
    let system = (!system.is_empty()).then(|| Message::system(system.to_owned()));
    let summary = summary.map(|summary| Message::user(format!("{SUMMARY_PREFIX}\n{}", summary.text)));
    system.into_iter().chain(summary).chain(conversation[covered..].iter().cloned()).collect()
}

/// Returns the estimated tokens of the prompt [`prompt`] would build, without building it:
/// [`message_tokens`] of the system prompt, the summary and the messages it does not cover.
pub fn prompt_tokens(system: &str, summary: Option<&ConversationSummary>, conversation: &[Message]) -> u64 {
    let covered = summary.map_or(0, |summary| (summary.covers as usize).min(conversation.len()));
    let framed = |bytes: usize| (bytes as u64).div_ceil(4) + 4;
    let system = if system.is_empty() { 0 } else { framed(system.len()) };
    // The summary's message is `SUMMARY_PREFIX`, a line break, then its text.
    let summary = summary.map_or(0, |summary| framed(SUMMARY_PREFIX.len() + 1 + summary.text.len()));
    system + summary + message_tokens(&conversation[covered..])
}

/// Returns the estimated tokens of `messages` ([`estimate_tokens`] of contents and tool-call
/// arguments, plus a few per message for its framing).
pub fn message_tokens(messages: &[Message]) -> u64 {
    messages
        .iter()
        .map(|message| {
            let calls: u64 = message.tool_calls.iter().map(|call| estimate_tokens(&call.arguments) + 8).sum();
            estimate_tokens(&message.content) + calls + 4
        })
        .sum()
}

/// Returns where to cut `conversation` so that the messages from the cut on take at most
/// `keep_tokens`: an index after `covered` (what an earlier summary covers) that does not start
/// with a tool result; `None` when no such cut leaves anything new to summarise.
pub fn choose_cut(conversation: &[Message], covered: usize, keep_tokens: u64) -> Option<usize> {
    let mut kept = 0;
    let mut cut = conversation.len();
    while cut > covered {
        let cost = message_tokens(&conversation[cut - 1..cut]);
        if kept + cost > keep_tokens {
            break;
        }
        kept += cost;
        cut -= 1;
    }
    // A tool result must follow its call: move the cut past results cut off from it.
    while cut < conversation.len() && conversation[cut].role == Role::Tool {
        cut += 1;
    }
    (cut > covered).then_some(cut)
}

/// Returns the text a summarisation call gets: the earlier summary, then each message as
/// `role: content` (tool calls as `assistant called NAME ARGUMENTS`).
pub fn transcript(summary: Option<&ConversationSummary>, messages: &[Message]) -> String {
    let mut text = String::new();
    if let Some(summary) = summary {
        text.push_str(&format!("(earlier summary) {}\n", summary.text));
    }
    for message in messages {
        if !message.content.is_empty() {
            text.push_str(&format!("{}: {}\n", message.role.as_str(), message.content));
        }
        for call in &message.tool_calls {
            text.push_str(&format!("assistant called {} {}\n", call.name, call.arguments));
        }
    }
    text
}

/// Returns the note that stands for `dropped` messages when they are not summarised.
pub fn truncation_note(summary: Option<&ConversationSummary>, dropped: usize) -> String {
    let earlier = summary.map(|summary| format!("{}\n", summary.text)).unwrap_or_default();
    format!("{earlier}[{dropped} earlier messages were dropped to fit the model's context window]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentry_core::message::ToolCall;

    fn call(id: &str) -> Message {
        Message::assistant("", vec![ToolCall { id: id.into(), name: "echo".into(), arguments: "{}".into() }])
    }

    fn conversation() -> Vec<Message> {
        vec![
            Message::user("task ".repeat(40)),
            call("c1"),
            Message::tool_result("c1", "x".repeat(200)),
            call("c2"),
            Message::tool_result("c2", "y".repeat(40)),
        ]
    }

    #[test]
    fn the_cut_keeps_recent_messages_within_the_budget_and_never_orphans_a_result() {
        let messages = conversation();
        let last_two = message_tokens(&messages[3..]);
        assert_eq!(choose_cut(&messages, 0, last_two), Some(3));
        // One token short of the call: its result alone would be kept, so the cut moves past it.
        assert_eq!(choose_cut(&messages, 0, last_two - 1), Some(5));
        assert_eq!(choose_cut(&messages, 3, last_two), None, "nothing new to summarise");
    }

    #[test]
    fn the_prompt_sends_the_summary_instead_of_what_it_covers() {
        let messages = conversation();
        let summary = ConversationSummary { covers: 3, text: "did c1".into() };
        let prompt = prompt("be brief", Some(&summary), &messages);
        assert_eq!(prompt.len(), 4);
        assert_eq!(prompt[0], Message::system("be brief"));
        assert_eq!(prompt[1], Message::user(format!("{SUMMARY_PREFIX}\ndid c1")));
        assert_eq!(prompt[2..], messages[3..]);
        assert!(transcript(Some(&summary), &messages[..2]).contains("assistant called echo {}"));
        assert_eq!(prompt_tokens("be brief", Some(&summary), &messages), message_tokens(&prompt));
    }
}
