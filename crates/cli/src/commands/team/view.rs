//! The pure part of following a delegation tree: [`TeamView`] turns each report of a follower
//! (`team/follow.rs`) into output lines in arrival order and names the sub-agents to follow next.
//!
//! A `tool_start` whose data carries `children: [{agent_id, run_id, role}]` (a delegation call)
//! names sub-agents to follow, one level deeper, so grandchildren are followed too. In the human
//! format every line of an agent at depth `d` is indented by `2 d` spaces and prefixed with
//! `[ROLE SHORT_ID]`; JSON lines are printed as they are (they name their agent). The root's
//! terminal line is held and printed last, after the lines its sub-agents' followers still
//! deliver (their runs ended before the root's could).

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use agentry_sdk::event_kind::{TOKEN, TOOL_START};
use agentry_sdk::proto::TraceEvent;

use crate::commands::tree::short_id;
use crate::follow::TraceEnd;
use crate::output::{EventFormat, event_line};

/// An agent of the followed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its id.
    pub agent_id: String,
    /// The run followed: the root's first run, a sub-agent's delegated run.
    pub run_id: String,
    /// 0 for the root, 1 for its sub-agents, ...
    pub depth: u32,
    /// What its lines are prefixed with: role (or template) and short id.
    pub tag: String,
}

/// What a follower task reports.
#[derive(Debug)]
pub enum Report {
    /// An event of the member's run.
    Event(Arc<Member>, TraceEvent),
    /// The member's stream ended: after its run's end, or with this error.
    Ended(Arc<Member>, Option<String>),
}

/// What to do after a report.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// Lines for stdout, in order.
    pub lines: Vec<String>,
    /// Lines for stderr.
    pub warnings: Vec<String>,
    /// Sub-agents to start following.
    pub follow: Vec<Member>,
}

/// The state of a followed tree: which agents are followed, and how the root's run ended.
#[derive(Debug)]
pub struct TeamView {
    root: Member,
    format: EventFormat,
    /// Agents followed (or being followed), so that none is followed twice.
    followed: HashSet<String>,
    /// Followers started whose stream has not ended.
    active: usize,
    /// How the root's run ended, with its line, held until the end.
    root_end: Option<(TraceEnd, String)>,
    /// Why the root's stream ended without its run's end.
    root_lost: Option<String>,
}

impl TeamView {
    /// Returns the view of a tree whose root follower is started.
    pub fn new(root: Member, format: EventFormat) -> Self {
        let followed = HashSet::from([root.agent_id.clone()]);
        Self { root, format, followed, active: 1, root_end: None, root_lost: None }
    }

    /// Handles one report.
    pub fn on_report(&mut self, report: &Report) -> Step {
        match report {
            Report::Event(member, event) => self.on_event(member, event),
            Report::Ended(member, error) => self.on_ended(member, error.as_deref()),
        }
    }

    /// Handles an event of `member`'s run.
    pub fn on_event(&mut self, member: &Member, event: &TraceEvent) -> Step {
        let mut step = Step::default();
        // Streamed text of several agents cannot share the terminal; `final` has it all.
        if event.r#type == TOKEN {
            return step;
        }
        let line = member_line(member, &event_line(event, self.format), self.format);
        if member.agent_id == self.root.agent_id
            && let Some(end) = crate::follow::run_end(event, &self.root.run_id)
        {
            self.root_end = Some((end, line));
            return step;
        }
        step.lines.push(line);
        if event.r#type == TOOL_START {
            for child in children(event) {
                if self.followed.insert(child.agent_id.clone()) {
                    let tag = format!("{} {}", child.role, short_id(&child.agent_id));
                    step.follow.push(Member {
                        agent_id: child.agent_id,
                        run_id: child.run_id,
                        depth: member.depth + 1,
                        tag,
                    });
                    self.active += 1;
                }
            }
        }
        step
    }

    /// Handles the end of `member`'s stream (`error`: why it broke).
    pub fn on_ended(&mut self, member: &Member, error: Option<&str>) -> Step {
        let mut step = Step::default();
        self.active = self.active.saturating_sub(1);
        if member.agent_id == self.root.agent_id {
            if self.root_end.is_none() {
                let reason = error.unwrap_or("the trace ended before the run did");
                self.root_lost = Some(format!("following run {}: {reason}", self.root.run_id));
            }
        } else if let Some(error) = error {
            step.warnings.push(format!("stopped following {} (run {}): {error}", member.tag, member.run_id));
        }
        step
    }

    /// Returns whether the root's run ended (or its trace was lost).
    pub fn root_ended(&self) -> bool {
        self.root_end.is_some() || self.root_lost.is_some()
    }

    /// Returns whether nothing is left to print: the root's run ended and every follower's
    /// stream too, or the root's trace was lost.
    pub fn is_done(&self) -> bool {
        self.root_lost.is_some() || (self.root_end.is_some() && self.active == 0)
    }

    /// Returns the lines left to print (the root's terminal line) and the command's result:
    /// `Ok` only when the root's run completed.
    pub fn finish(self) -> (Vec<String>, anyhow::Result<()>) {
        let run_id = &self.root.run_id;
        if let Some(lost) = self.root_lost {
            return (Vec::new(), Err(anyhow::anyhow!(lost)));
        }
        let Some((end, line)) = self.root_end else {
            return (Vec::new(), Err(anyhow::anyhow!("the trace of run {run_id} ended before the run did")));
        };
        let result = match end {
            TraceEnd::RunFinished | TraceEnd::Done => Ok(()),
            TraceEnd::RunFailed(reason) => Err(anyhow::anyhow!("run {run_id} failed: {reason}")),
            TraceEnd::RunCancelled(reason) => Err(anyhow::anyhow!("run {run_id} cancelled: {reason}")),
        };
        (vec![line], result)
    }
}

/// Returns `line` of `member` as printed: in the human format each of its lines indented by two
/// spaces per depth and prefixed with `[TAG] ` (continuation lines of a multi-line event
/// aligned below the first); JSON lines unchanged.
pub fn member_line(member: &Member, line: &str, format: EventFormat) -> String {
    if format == EventFormat::Jsonl {
        return line.to_owned();
    }
    let indent = "  ".repeat(member.depth as usize);
    let head = format!("{indent}[{}] ", member.tag);
    let continuation = " ".repeat(head.chars().count());
    let mut text = String::with_capacity(line.len() + head.len());
    for (index, part) in line.split('\n').enumerate() {
        if index > 0 {
            text.push('\n');
            text.push_str(&continuation);
        } else {
            text.push_str(&head);
        }
        text.push_str(part);
    }
    text
}

/// A sub-agent named by a delegation call's `tool_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// Its id.
    pub agent_id: String,
    /// Its delegated run.
    pub run_id: String,
    /// The team role it plays (`-` when not given).
    pub role: String,
}

/// Returns the sub-agents of a `tool_start` event: its `data.children` entries with an agent and
/// a run id, in order; none for other events or data.
pub fn children(event: &TraceEvent) -> Vec<Child> {
    let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
    let Some(entries) = data.get("children").and_then(Value::as_array) else { return Vec::new() };
    let text = |entry: &Value, key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default().trim().to_owned();
    entries
        .iter()
        .filter_map(|entry| {
            let (agent_id, run_id) = (text(entry, "agent_id"), text(entry, "run_id"));
            if agent_id.is_empty() || run_id.is_empty() {
                return None;
            }
            let role = Some(text(entry, "role")).filter(|role| !role.is_empty()).unwrap_or_else(|| "-".to_owned());
            Some(Child { agent_id, run_id, role })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn member(agent_id: &str, run_id: &str, depth: u32, tag: &str) -> Member {
        Member { agent_id: agent_id.into(), run_id: run_id.into(), depth, tag: tag.into() }
    }

    fn event(seq: u64, kind: &str, agent_id: &str, run_id: &str, data: Value) -> TraceEvent {
        TraceEvent {
            seq,
            ts: Some(agentry_sdk::Timestamp { seconds: 1_700_000_585, nanos: 123_000_000 }),
            r#type: kind.to_owned(),
            agent_id: agent_id.to_owned(),
            run_id: run_id.to_owned(),
            data: data.to_string(),
            ..TraceEvent::default()
        }
    }

    /// A `tool_start` of a delegation call to `children` (agent id, run id, role).
    fn delegation(seq: u64, agent_id: &str, run_id: &str, children: &[(&str, &str, &str)]) -> TraceEvent {
        let children: Vec<Value> = children
            .iter()
            .map(|(agent_id, run_id, role)| json!({ "agent_id": agent_id, "run_id": run_id, "role": role }))
            .collect();
        let data = json!({ "step": 0, "name": "parallel_agents", "arguments": "{}", "children": children });
        event(seq, "tool_start", agent_id, run_id, data)
    }

    /// Feeds `reports` to a view of root `root-00000001` (run `r0`) and returns what it printed
    /// (stdout lines, then `!`-prefixed warnings, in order), the members it started following,
    /// whether it is done, and the view.
    fn feed(reports: Vec<Report>) -> (Vec<String>, Vec<Member>, TeamView) {
        let mut view = TeamView::new(member("root-00000001", "r0", 0, "agent_0 00000001"), EventFormat::Human);
        let mut printed = Vec::new();
        let mut followed = Vec::new();
        for report in reports {
            let step = view.on_report(&report);
            printed.extend(step.lines);
            printed.extend(step.warnings.into_iter().map(|warning| format!("! {warning}")));
            followed.extend(step.follow);
        }
        (printed, followed, view)
    }

    #[test]
    fn children_are_read_from_delegation_starts() {
        let start = delegation(3, "a", "r", &[("c1", "cr1", "coder"), ("c2", "cr2", "")]);
        let expected = vec![
            Child { agent_id: "c1".into(), run_id: "cr1".into(), role: "coder".into() },
            Child { agent_id: "c2".into(), run_id: "cr2".into(), role: "-".into() },
        ];
        assert_eq!(children(&start), expected);
        let odd = event(4, "tool_start", "a", "r", json!({ "children": [{ "agent_id": "c3" }, 7, { "run_id": "x" }] }));
        assert!(children(&odd).is_empty());
        assert!(children(&event(5, "tool_start", "a", "r", json!({ "name": "bash" }))).is_empty());
        let mut broken = event(6, "tool_start", "a", "r", json!({}));
        broken.data = "not json".into();
        assert!(children(&broken).is_empty());
    }

    #[test]
    fn lines_are_indented_by_depth_and_tagged() {
        let child = member("c", "cr", 2, "coder 0000abcd");
        assert_eq!(member_line(&child, "#1 step_start", EventFormat::Human), "    [coder 0000abcd] #1 step_start");
        let multi = member_line(&child, "#9 final line one\nline two", EventFormat::Human);
        assert_eq!(multi, "    [coder 0000abcd] #9 final line one\n                     line two");
        assert_eq!(member_line(&child, r#"{"seq":1}"#, EventFormat::Jsonl), r#"{"seq":1}"#);
    }

    #[test]
    fn sub_agents_are_followed_recursively_and_interleaved_in_arrival_order() {
        let root = Arc::new(member("root-00000001", "r0", 0, "agent_0 00000001"));
        let (printed, followed, _) = feed(vec![
            Report::Event(Arc::clone(&root), event(1, "run_started", "root-00000001", "r0", json!({}))),
            Report::Event(
                Arc::clone(&root),
                delegation(
                    2,
                    "root-00000001",
                    "r0",
                    &[("kid-0000000a", "ra", "coder"), ("kid-0000000b", "rb", "tester")],
                ),
            ),
        ]);
        assert_eq!(
            followed,
            vec![member("kid-0000000a", "ra", 1, "coder 0000000a"), member("kid-0000000b", "rb", 1, "tester 0000000b")]
        );
        assert_eq!(printed.len(), 2);
        assert!(printed[0].starts_with("[agent_0 00000001] #1 "), "{}", printed[0]);
        assert!(printed[1].contains("tool_start parallel_agents"), "{}", printed[1]);

        let coder = Arc::new(followed[0].clone());
        let tester = Arc::new(followed[1].clone());
        let (printed, grandchildren, view) = feed(vec![
            Report::Event(
                Arc::clone(&root),
                delegation(
                    2,
                    "root-00000001",
                    "r0",
                    &[("kid-0000000a", "ra", "coder"), ("kid-0000000b", "rb", "tester")],
                ),
            ),
            Report::Event(Arc::clone(&tester), event(1, "step_start", "kid-0000000b", "rb", json!({ "step": 0 }))),
            Report::Event(
                Arc::clone(&coder),
                delegation(2, "kid-0000000a", "ra", &[("grand-0000000c", "rc", "reviewer")]),
            ),
            // The same delegation seen again (e.g. replayed): not followed twice.
            Report::Event(
                Arc::clone(&coder),
                delegation(2, "kid-0000000a", "ra", &[("grand-0000000c", "rc", "reviewer")]),
            ),
            Report::Event(Arc::clone(&tester), event(2, "token", "kid-0000000b", "rb", json!({ "text": "x" }))),
            Report::Event(Arc::clone(&tester), event(3, "final", "kid-0000000b", "rb", json!({ "content": "ok" }))),
        ]);
        // A fresh view: the root's children again, then the coder's child, once.
        assert_eq!(grandchildren[..2], followed[..]);
        assert_eq!(grandchildren[2..], [member("grand-0000000c", "rc", 2, "reviewer 0000000c")]);
        let heads: Vec<&str> = printed.iter().map(|line| line.split(" #").next().unwrap_or_default()).collect();
        assert_eq!(
            heads,
            [
                "[agent_0 00000001]",
                "  [tester 0000000b]",
                "  [coder 0000000a]",
                "  [coder 0000000a]",
                "  [tester 0000000b]",
            ],
            "tokens are skipped; lines come in arrival order"
        );
        assert!(printed[1].ends_with("step_start step=0"), "{}", printed[1]);
        assert!(printed[4].ends_with("final ok"), "{}", printed[4]);
        assert!(!view.root_ended() && !view.is_done());
    }

    #[test]
    fn the_root_end_is_printed_last_after_the_sub_agents_lines() {
        let root = Arc::new(member("root-00000001", "r0", 0, "agent_0 00000001"));
        let start = delegation(2, "root-00000001", "r0", &[("kid-0000000a", "ra", "coder")]);
        let (_, followed, mut view) = feed(vec![Report::Event(Arc::clone(&root), start)]);
        let coder = Arc::new(followed[0].clone());

        let steps = [
            Report::Event(Arc::clone(&coder), event(4, "run_finished", "kid-0000000a", "ra", json!({ "steps": 1 }))),
            Report::Event(Arc::clone(&root), event(8, "final", "root-00000001", "r0", json!({ "content": "done" }))),
            Report::Event(Arc::clone(&root), event(9, "run_finished", "root-00000001", "r0", json!({ "steps": 2 }))),
            Report::Ended(Arc::clone(&root), None),
        ];
        let mut printed = Vec::new();
        for report in &steps {
            printed.extend(view.on_report(report).lines);
        }
        assert_eq!(printed.len(), 2, "the root's end is held: {printed:?}");
        assert!(printed[1].starts_with("[agent_0 00000001] #8 ") && printed[1].ends_with("final done"));
        assert!(view.root_ended() && !view.is_done(), "the coder's stream has not ended");
        // A late line of the coder, then its stream's end.
        let late =
            view.on_report(&Report::Event(Arc::clone(&coder), event(5, "usage", "kid-0000000a", "ra", json!({}))));
        assert_eq!(late.lines.len(), 1);
        view.on_report(&Report::Ended(Arc::clone(&coder), None));
        assert!(view.is_done());
        let (last, result) = view.finish();
        assert_eq!(last.len(), 1);
        assert!(
            last[0].starts_with("[agent_0 00000001] #9 ") && last[0].ends_with("run_finished run=r0 steps=2"),
            "{}",
            last[0]
        );
        assert!(result.is_ok());
    }

    #[test]
    fn a_failed_root_or_a_lost_trace_fails_and_a_lost_child_warns() {
        let root = Arc::new(member("root-00000001", "r0", 0, "agent_0 00000001"));
        let failed = event(9, "run_failed", "root-00000001", "r0", json!({ "error": "model: timeout" }));
        let (_, _, view) = feed(vec![Report::Event(Arc::clone(&root), failed), Report::Ended(Arc::clone(&root), None)]);
        assert!(view.is_done());
        let (_, result) = view.finish();
        assert_eq!(result.unwrap_err().to_string(), "run r0 failed: model: timeout");

        // Another run of the root's agent does not end the followed one.
        let other = event(3, "run_finished", "root-00000001", "r9", json!({ "steps": 1 }));
        let (printed, _, view) = feed(vec![Report::Event(Arc::clone(&root), other)]);
        assert_eq!((printed.len(), view.root_ended()), (1, false));

        let start = delegation(2, "root-00000001", "r0", &[("kid-0000000a", "ra", "coder")]);
        let coder = Arc::new(member("kid-0000000a", "ra", 1, "coder 0000000a"));
        let (printed, _, view) = feed(vec![
            Report::Event(Arc::clone(&root), start),
            Report::Ended(coder, Some("hub unreachable".into())),
            Report::Ended(Arc::clone(&root), Some("hub unreachable".into())),
        ]);
        assert_eq!(printed[1], "! stopped following coder 0000000a (run ra): hub unreachable");
        assert!(view.is_done());
        assert_eq!(view.finish().1.unwrap_err().to_string(), "following run r0: hub unreachable");
    }
}
