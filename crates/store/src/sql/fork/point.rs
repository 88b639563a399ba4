//! Where a fork branches off: the rules of each [`ForkPoint`] over the source's conversation,
//! pure (the reads and writes are in `fork.rs`).
//!
//! A point becomes a prefix length `copied`: End and `Seq(s)` keep the messages committed up to
//! the last seq (or `s`), `MessageIndex(n)` the first `n`, `Step { run, step }` everything up to
//! that step's answer and the results of its tool calls. With an input, a trailing answer whose
//! tool calls are not all answered is dropped, so the input follows a valid conversation. The
//! run of the last copied message is the one a fork without input continues.

use agentry_core::{AgentId, Role, RunId};

use crate::api::{ForkPoint, StoredMessage};
use crate::error::{Error, Result};

/// A fork's share of its source's conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cut {
    /// How many messages are copied: the first `copied` of the source's.
    pub(super) copied: u64,
    /// The seq of the source's trace the fork branches at: the seq asked for (the last one for
    /// End), else the seq of the last copied message's commit (0 when unknown or none).
    pub(super) at_seq: u64,
    /// The source run a fork without input continues (the run of the last copied message):
    /// its copied messages move to the fork's run. `None` with an input.
    pub(super) continued_run: Option<RunId>,
    /// How many answers (steps) of `continued_run` are copied.
    pub(super) step: u32,
}

/// Returns the cut of `messages` (the whole conversation of agent `agent_id`, whose trace ends
/// at `last_seq`) at `point`; `with_input` when the fork continues with a new user message.
///
/// Errors ([`Error::Conflict`], naming the agent and the limit): a seq beyond `last_seq` or
/// before the seqs of the messages were recorded, a message index beyond the conversation, a
/// step the run does not have, and, without input, an empty prefix (nothing to continue).
pub(super) fn cut(
    agent_id: AgentId,
    last_seq: u64,
    messages: &[StoredMessage],
    point: &ForkPoint,
    with_input: bool,
) -> Result<Cut> {
    let count = messages.len() as u64;
    let (mut copied, asked_seq) = match point {
        ForkPoint::End => (committed_by(messages, last_seq), Some(last_seq)),
        ForkPoint::Seq(seq) => {
            check_seq(agent_id, last_seq, messages, *seq)?;
            (committed_by(messages, *seq), Some(*seq))
        }
        ForkPoint::MessageIndex(index) if *index > count => {
            return Err(Error::Conflict(format!(
                "agent {agent_id} has {count} messages: message index {index} is beyond them (give 0 to {count})"
            )));
        }
        ForkPoint::MessageIndex(index) => (*index, None),
        ForkPoint::Step { run_id, step } => (end_of_step(messages, *run_id, *step)?, None),
    };
    if with_input {
        copied = before_unanswered_calls(messages, copied);
    }
    let last = copied.checked_sub(1).and_then(|index| messages.get(index as usize));
    let continued_run = match (with_input, last) {
        (true, _) => None,
        (false, Some(message)) => message.message.run_id,
        (false, None) => {
            return Err(Error::Conflict(format!(
                "agent {agent_id} has no message before that point for a fork to continue; give an input for the fork \
                 to start from"
            )));
        }
    };
    let step = continued_run.map_or(0, |run_id| {
        let answers = messages[..copied as usize]
            .iter()
            .filter(|stored| stored.message.role == Role::Assistant && stored.message.run_id == Some(run_id))
            .count();
        u32::try_from(answers).unwrap_or(u32::MAX)
    });
    let at_seq = asked_seq.unwrap_or_else(|| last.and_then(|message| message.seq).unwrap_or(0));
    Ok(Cut { copied, at_seq, continued_run, step })
}

/// Returns how many messages were committed by seq `seq`: those before the first with a later
/// seq (seqs never decrease along a conversation; messages stored before seqs were recorded
/// come first and count as committed).
fn committed_by(messages: &[StoredMessage], seq: u64) -> u64 {
    messages.iter().position(|message| message.seq.is_some_and(|committed| committed > seq)).unwrap_or(messages.len())
        as u64
}

/// Checks a seq to fork at: at most `last_seq`, and not before the first recorded message seq
/// when older messages have none (which of those came before it is unknown).
fn check_seq(agent_id: AgentId, last_seq: u64, messages: &[StoredMessage], seq: u64) -> Result<()> {
    if seq > last_seq {
        return Err(Error::Conflict(format!(
            "agent {agent_id}'s trace ends at seq {last_seq}: seq {seq} is beyond it (see `agentry trace {agent_id}`)"
        )));
    }
    let unrecorded = messages.iter().take_while(|message| message.seq.is_none()).count();
    let first_recorded = messages.iter().find_map(|message| message.seq).unwrap_or(last_seq);
    if unrecorded > 0 && seq < first_recorded {
        return Err(Error::Conflict(format!(
            "agent {agent_id}'s first {unrecorded} messages were stored before message seqs were recorded: fork at \
             seq {first_recorded} or later, or at a message index, rather than at seq {seq}"
        )));
    }
    Ok(())
}

/// Returns the prefix length up to step `step` (from 1) of run `run_id`: its `step`-th answer
/// and the tool results that follow it answering its calls.
fn end_of_step(messages: &[StoredMessage], run_id: RunId, step: u32) -> Result<u64> {
    let answers: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, stored)| stored.message.role == Role::Assistant && stored.message.run_id == Some(run_id))
        .map(|(position, _)| position)
        .collect();
    let Some(&position) = step.checked_sub(1).and_then(|index| answers.get(index as usize)) else {
        return Err(Error::Conflict(format!(
            "run {run_id} has {} steps: step {step} is not one of them (steps count from 1)",
            answers.len()
        )));
    };
    let calls: Vec<&str> = messages[position].message.tool_calls.iter().map(|call| call.id.as_str()).collect();
    let results = messages[position + 1..]
        .iter()
        .take_while(|stored| {
            stored.message.role == Role::Tool
                && stored.message.tool_call_id.as_deref().is_some_and(|id| calls.contains(&id))
        })
        .count();
    Ok((position + 1 + results) as u64)
}

/// Returns `copied`, or the position of the trailing answer of the first `copied` messages when
/// some of its tool calls have no result among them (a user message may not follow it).
fn before_unanswered_calls(messages: &[StoredMessage], copied: u64) -> u64 {
    let prefix = &messages[..(copied as usize).min(messages.len())];
    let Some(position) = prefix.iter().rposition(|stored| stored.message.role != Role::Tool) else {
        return copied;
    };
    let answer = &prefix[position].message;
    if answer.role != Role::Assistant || answer.tool_calls.is_empty() {
        return copied;
    }
    let answered: Vec<&str> =
        prefix[position + 1..].iter().filter_map(|stored| stored.message.tool_call_id.as_deref()).collect();
    if answer.tool_calls.iter().all(|call| answered.contains(&call.id.as_str())) { copied } else { position as u64 }
}

#[cfg(test)]
mod tests {
    use agentry_core::{Message, ToolCall};

    use super::*;

    /// A conversation of two runs: run 1 `user, answer(call a), result a, answer` (seqs 2, 4,
    /// 6, 8), run 2 `user, answer(calls b c), result b` (seqs 11, 13, 15).
    fn conversation() -> (Vec<StoredMessage>, RunId, RunId) {
        let (first, second) = (RunId::generate(), RunId::generate());
        let call = |id: &str| ToolCall { id: id.into(), name: "echo".into(), arguments: "{}".into() };
        let messages = [
            (first, Message::user("q1"), 2),
            (first, Message::assistant("", vec![call("a")]), 4),
            (first, Message::tool_result("a", "ok"), 6),
            (first, Message::assistant("done", Vec::new()), 8),
            (second, Message::user("q2"), 11),
            (second, Message::assistant("", vec![call("b"), call("c")]), 13),
            (second, Message::tool_result("b", "ok"), 15),
        ];
        let stored = (0..)
            .zip(messages)
            .map(|(index, (run_id, message, seq))| StoredMessage {
                index,
                message: Message { run_id: Some(run_id), ..message },
                seq: Some(seq),
            })
            .collect();
        (stored, first, second)
    }

    #[test]
    fn end_and_seq_keep_the_messages_committed_by_then() {
        let (messages, first, second) = conversation();
        let agent = AgentId::generate();
        let end = cut(agent, 16, &messages, &ForkPoint::End, false).unwrap();
        assert_eq!(end, Cut { copied: 7, at_seq: 16, continued_run: Some(second), step: 1 });
        let mid = cut(agent, 16, &messages, &ForkPoint::Seq(7), false).unwrap();
        assert_eq!(mid, Cut { copied: 3, at_seq: 7, continued_run: Some(first), step: 1 });
        let beyond = cut(agent, 16, &messages, &ForkPoint::Seq(17), false).unwrap_err().to_string();
        assert!(beyond.contains("ends at seq 16: seq 17 is beyond it"), "{beyond}");
        let nothing = cut(agent, 16, &messages, &ForkPoint::Seq(1), false).unwrap_err().to_string();
        assert!(nothing.contains("no message before that point"), "{nothing}");
        let with_input = cut(agent, 16, &messages, &ForkPoint::Seq(1), true).unwrap();
        assert_eq!(with_input, Cut { copied: 0, at_seq: 1, continued_run: None, step: 0 });
    }

    #[test]
    fn seqs_before_they_were_recorded_are_refused() {
        let (mut messages, ..) = conversation();
        for message in &mut messages[..4] {
            message.seq = None;
        }
        let agent = AgentId::generate();
        let refused = cut(agent, 16, &messages, &ForkPoint::Seq(9), false).unwrap_err().to_string();
        assert!(refused.contains("first 4 messages were stored before message seqs were recorded"), "{refused}");
        assert!(refused.contains("fork at seq 11 or later"), "{refused}");
        assert_eq!(cut(agent, 16, &messages, &ForkPoint::Seq(11), false).unwrap().copied, 5);
        assert_eq!(cut(agent, 16, &messages, &ForkPoint::End, false).unwrap().copied, 7);
        assert_eq!(cut(agent, 16, &messages, &ForkPoint::MessageIndex(2), false).unwrap().at_seq, 0);
    }

    #[test]
    fn message_indexes_and_steps() {
        let (messages, first, second) = conversation();
        let agent = AgentId::generate();
        let two = cut(agent, 16, &messages, &ForkPoint::MessageIndex(2), false).unwrap();
        assert_eq!(two, Cut { copied: 2, at_seq: 4, continued_run: Some(first), step: 1 });
        let beyond = cut(agent, 16, &messages, &ForkPoint::MessageIndex(8), false).unwrap_err().to_string();
        assert!(beyond.contains("has 7 messages: message index 8 is beyond them"), "{beyond}");
        let step_one = cut(agent, 16, &messages, &ForkPoint::Step { run_id: first, step: 1 }, false).unwrap();
        assert_eq!(step_one, Cut { copied: 3, at_seq: 6, continued_run: Some(first), step: 1 });
        let step_two = cut(agent, 16, &messages, &ForkPoint::Step { run_id: first, step: 2 }, false).unwrap();
        assert_eq!(step_two.copied, 4);
        let partly_answered = cut(agent, 16, &messages, &ForkPoint::Step { run_id: second, step: 1 }, false).unwrap();
        assert_eq!(partly_answered.copied, 7);
        for step in [0, 3] {
            let missing = cut(agent, 16, &messages, &ForkPoint::Step { run_id: first, step }, false).unwrap_err();
            assert!(missing.to_string().contains(&format!("has 2 steps: step {step} is not one of them")));
        }
    }

    #[test]
    fn an_input_drops_a_trailing_answer_with_unanswered_calls() {
        let (messages, ..) = conversation();
        let agent = AgentId::generate();
        // Run 2's answer calls b and c; only b has a result.
        let end = cut(agent, 16, &messages, &ForkPoint::End, true).unwrap();
        assert_eq!(end, Cut { copied: 5, at_seq: 16, continued_run: None, step: 0 });
        let unanswered = cut(agent, 16, &messages, &ForkPoint::MessageIndex(2), true).unwrap();
        assert_eq!(unanswered.copied, 1);
        let answered = cut(agent, 16, &messages, &ForkPoint::MessageIndex(3), true).unwrap();
        assert_eq!(answered.copied, 3);
        let after_text = cut(agent, 16, &messages, &ForkPoint::MessageIndex(4), true).unwrap();
        assert_eq!(after_text.copied, 4);
    }
}
