//! Reading a trace file: one JSON object per line, as `agentry trace AGENT --jsonl` prints them:
//! `seq`, `ts` (RFC 3339, optional), `type`, `agent_id`, `run_id`, `data` (an object; absent is
//! `{}`); other fields (`parent_agent_id`, ...) are ignored.
//!
//! The Go agentry's trace files (`internal/trace`: `{ts, type, agent_id, data}` per line) are
//! read too: a missing `seq` is the previous one plus 1 (the line order); a missing `run_id` is
//! the previous line's, and a new run (`run-2`, ...) starts after an event that ends one
//! (`run_finished`, `run_failed`, `run_cancelled`); a missing `agent_id` is `agent`; data that
//! is not an object is wrapped: `{"content": …}` for `final` (the shape of ours), else
//! `{"value": …}`.
//!
//! Every problem is reported as `FILE:LINE: what is wrong`, before anything is sent. The hub
//! checks the events again (`agent_hub::import::plan`).

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use agentry_core::limits::{MAX_EVENT_TYPE_BYTES, MAX_IMPORT_EVENTS};
use agentry_sdk::proto::ImportedEvent;

/// The events of a trace file, ready to send.
#[derive(Debug, Default)]
pub struct TraceFile {
    /// The events to import, in file order.
    pub events: Vec<ImportedEvent>,
    /// Lines skipped as ephemeral (`seq` 0, e.g. `token` events of a followed trace).
    pub ephemeral: usize,
    /// Lines skipped as another agent's (with `--agent`).
    pub other_agents: usize,
}

/// Where an accepted event came from, for errors about later lines.
struct Accepted {
    line: usize,
    seq: u64,
}

/// Parses `text`, the content of `file`, keeping the events of `picked_agent` (all events must
/// then belong to one agent when it is `None`).
///
/// Errors: `FILE:LINE: ...` for a line that is not a JSON object, lacks a field or has one of
/// the wrong kind, or breaks the order of seqs or the one-agent rule; `FILE: ...` for a file
/// without events or with more than [`MAX_IMPORT_EVENTS`].
pub fn parse_trace(file: &str, text: &str, picked_agent: Option<&str>) -> Result<TraceFile, String> {
    let mut trace = TraceFile::default();
    let mut first_agent: Option<(String, usize)> = None;
    let mut previous: Option<Accepted> = None;
    let mut defaults = Defaults::default();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let at_line = |what: String| format!("{file}:{number}: {what}");
        let parsed = parse_line(line).map_err(at_line)?;
        let event = defaults.fill(parsed);
        if event.seq == 0 {
            trace.ephemeral += 1;
            continue;
        }
        match (picked_agent, &first_agent) {
            (Some(picked), _) if event.agent_id != picked => {
                trace.other_agents += 1;
                continue;
            }
            (None, Some((agent, agent_line))) if &event.agent_id != agent => {
                return Err(at_line(format!(
                    "agent {} differs from agent {agent} of line {agent_line}: a trace file holds one agent's events; \
                     pick one with --agent ID",
                    event.agent_id
                )));
            }
            (_, None) => first_agent = Some((event.agent_id.clone(), number)),
            _ => {}
        }
        if let Some(previous) = &previous
            && event.seq <= previous.seq
        {
            return Err(at_line(format!(
                "seq {} does not follow seq {} of line {}; seqs must increase",
                event.seq, previous.seq, previous.line
            )));
        }
        previous = Some(Accepted { line: number, seq: event.seq });
        if trace.events.len() == MAX_IMPORT_EVENTS {
            return Err(format!("{file}: more than {MAX_IMPORT_EVENTS} events (MAX_IMPORT_EVENTS); split the file"));
        }
        trace.events.push(event);
    }
    if trace.events.is_empty() {
        return Err(match picked_agent {
            Some(picked) => format!("{file}: no event of agent {picked}"),
            None => format!("{file}: no events to import"),
        });
    }
    Ok(trace)
}

/// A line's event, its optional fields not filled yet.
struct ParsedLine {
    seq: Option<u64>,
    agent_id: Option<String>,
    run_id: Option<String>,
    event: ImportedEvent,
}

/// What a line without `seq`, `run_id` or `agent_id` gets (Go agentry files have none).
#[derive(Default)]
struct Defaults {
    last_seq: u64,
    run_id: Option<String>,
    runs: usize,
    run_ended: bool,
}

impl Defaults {
    /// Returns the event of `line` with its missing fields filled in.
    fn fill(&mut self, line: ParsedLine) -> ImportedEvent {
        let ParsedLine { seq, agent_id, run_id, mut event } = line;
        // Saturating: after seq u64::MAX, a line without one repeats it, which parse_trace
        // refuses as out of order (instead of overflowing).
        event.seq = seq.unwrap_or(self.last_seq.saturating_add(1));
        if event.seq > 0 {
            self.last_seq = event.seq;
        }
        event.agent_id = agent_id.unwrap_or_else(|| "agent".to_owned());
        event.run_id = match run_id {
            Some(run_id) => run_id,
            None => match (&self.run_id, self.run_ended) {
                (Some(run_id), false) => run_id.clone(),
                _ => {
                    self.runs += 1;
                    format!("run-{}", self.runs)
                }
            },
        };
        self.run_id = Some(event.run_id.clone());
        self.run_ended = agentry_core::event::kind::ends_run(&event.r#type);
        event
    }
}

/// Parses one line; errors say what is wrong with it.
fn parse_line(line: &str) -> Result<ParsedLine, String> {
    let value: Value = serde_json::from_str(line).map_err(|error| format!("not JSON: {error}"))?;
    let Value::Object(object) = value else {
        return Err(format!("{} is not a JSON object", agentry_core::event::json_kind(&value)));
    };
    let seq = match object.get("seq") {
        None | Some(Value::Null) => None,
        Some(seq) => Some(seq.as_u64().ok_or_else(|| format!("seq must be a whole number, not {seq}"))?),
    };
    let kind = required_text(&object, "type")?;
    if kind.len() > MAX_EVENT_TYPE_BYTES {
        return Err(format!("type is {} bytes; the limit is {MAX_EVENT_TYPE_BYTES}", kind.len()));
    }
    let data = match object.get("data") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(data @ Value::Object(_)) => data.to_string(),
        Some(other) if kind == agentry_core::event::kind::FINAL => serde_json::json!({ "content": other }).to_string(),
        Some(other) => serde_json::json!({ "value": other }).to_string(),
    };
    let ts = match object.get("ts") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(parse_rfc3339(text).ok_or_else(|| bad_time(text))?),
        Some(other) => return Err(bad_time(&other.to_string())),
    };
    Ok(ParsedLine {
        seq,
        agent_id: optional_text(&object, "agent_id")?,
        run_id: optional_text(&object, "run_id")?,
        event: ImportedEvent {
            ts: ts.map(agentry_sdk::convert::system_timestamp),
            r#type: kind,
            data,
            ..Default::default()
        },
    })
}

fn required_text(object: &Map<String, Value>, key: &str) -> Result<String, String> {
    optional_text(object, key)?.ok_or_else(|| format!("{key} is missing"))
}

fn optional_text(object: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Err(format!("{key} is empty")),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(format!("{key} must be a string, not {}", agentry_core::event::json_kind(other))),
    }
}

fn bad_time(text: &str) -> String {
    format!("ts {text} is not an RFC 3339 time (e.g. 2025-01-31T14:03:05.123Z or 2025-01-31T16:03:05+02:00)")
}

/// Parses an RFC 3339 time in UTC (`Z`) or with an offset (`+02:00`).
fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    let offset_start = text.len().checked_sub(6)?;
    let has_offset = matches!(bytes.get(offset_start), Some(b'+' | b'-')) && bytes.get(offset_start + 3) == Some(&b':');
    if !has_offset {
        return humantime::parse_rfc3339(text).ok();
    }
    let hours: u64 = text.get(offset_start + 1..offset_start + 3)?.parse().ok()?;
    let minutes: u64 = text.get(offset_start + 4..)?.parse().ok()?;
    let local = humantime::parse_rfc3339(&format!("{}Z", &text[..offset_start])).ok()?;
    let offset = Duration::from_secs(hours * 3600 + minutes * 60);
    // Local time = UTC + offset.
    if bytes[offset_start] == b'+' { local.checked_sub(offset) } else { local.checked_add(offset) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn line(seq: u64, kind: &str, agent: &str, run: &str) -> String {
        json!({ "seq": seq, "ts": "2025-01-31T14:03:05.123Z", "type": kind, "agent_id": agent, "run_id": run,
                "data": { "step": seq } })
        .to_string()
    }

    fn error_of(text: &str) -> String {
        parse_trace("t.jsonl", text, None).expect_err("invalid")
    }

    #[test]
    fn lines_become_events_in_order() {
        let text = [line(1, "run_started", "a", "r"), String::new(), line(2, "final", "a", "r")].join("\n");
        let trace = parse_trace("t.jsonl", &text, None).expect("valid");
        assert_eq!(trace.events.len(), 2);
        let first = &trace.events[0];
        assert_eq!(
            (first.seq, first.r#type.as_str(), first.agent_id.as_str(), first.run_id.as_str()),
            (1, "run_started", "a", "r")
        );
        assert_eq!(first.data, r#"{"step":1}"#);
        assert_eq!(first.ts, Some(agentry_sdk::Timestamp { seconds: 1_738_332_185, nanos: 123_000_000 }));
    }

    #[test]
    fn problems_name_the_file_and_line() {
        let cases = [
            ("not json".to_owned(), "t.jsonl:1: not JSON"),
            ("[1]".to_owned(), "t.jsonl:1: an array is not a JSON object"),
            (
                r#"{"seq":-1,"type":"x","agent_id":"a","run_id":"r"}"#.to_owned(),
                "t.jsonl:1: seq must be a whole number",
            ),
            (r#"{"seq":1,"agent_id":"a","run_id":"r"}"#.to_owned(), "t.jsonl:1: type is missing"),
            (r#"{"seq":1,"type":"x","agent_id":"","run_id":"r"}"#.to_owned(), "t.jsonl:1: agent_id is empty"),
            (
                r#"{"seq":1,"type":"x","agent_id":"a","run_id":7}"#.to_owned(),
                "t.jsonl:1: run_id must be a string, not a number",
            ),
            (
                r#"{"seq":1,"type":"x","agent_id":"a","run_id":"r","ts":"yesterday"}"#.to_owned(),
                "t.jsonl:1: ts yesterday is not an RFC 3339 time",
            ),
            (
                format!("{}\n{}", line(2, "a", "a", "r"), line(2, "b", "a", "r")),
                "t.jsonl:2: seq 2 does not follow seq 2 of line 1",
            ),
            (
                format!("{}\n\n{}", line(1, "a", "a1", "r"), line(2, "b", "a2", "r")),
                "t.jsonl:3: agent a2 differs from agent a1 of line 1",
            ),
            (String::new(), "t.jsonl: no events to import"),
        ];
        for (text, expected) in cases {
            let error = error_of(&text);
            assert!(error.starts_with(expected), "{error:?} does not start with {expected:?}");
        }
        let long_type = line(1, &"x".repeat(65), "a", "r");
        assert!(error_of(&long_type).contains("type is 65 bytes; the limit is 64"));
    }

    #[test]
    fn ephemeral_lines_are_skipped_and_an_agent_can_be_picked() {
        let text =
            [line(0, "token", "a1", "r"), line(1, "a", "a1", "r"), line(1, "b", "a2", "q"), line(2, "c", "a1", "r")]
                .join("\n");
        let picked = parse_trace("t.jsonl", &text, Some("a1")).expect("valid");
        assert_eq!((picked.events.len(), picked.ephemeral, picked.other_agents), (2, 1, 1));
        assert!(parse_trace("t.jsonl", &text, Some("a3")).expect_err("none").ends_with("no event of agent a3"));
    }

    #[test]
    fn go_agentry_lines_get_seqs_runs_and_object_data() {
        let text = [
            r#"{"ts":"2025-01-31T14:03:05.123456789+01:00","type":"run_started","agent_id":"a","data":{}}"#,
            r#"{"ts":"2025-01-31T14:03:06Z","type":"final","agent_id":"a","data":"the answer"}"#,
            r#"{"ts":"2025-01-31T14:03:06Z","type":"run_finished","agent_id":"a","data":null}"#,
            r#"{"ts":"2025-01-31T14:04:00Z","type":"tool_end","agent_id":"a","data":42}"#,
        ]
        .join("\n");
        let trace = parse_trace("go.jsonl", &text, None).expect("valid");
        let events: Vec<(u64, &str, &str, &str)> = trace
            .events
            .iter()
            .map(|event| (event.seq, event.r#type.as_str(), event.run_id.as_str(), event.data.as_str()))
            .collect();
        assert_eq!(
            events,
            vec![
                (1, "run_started", "run-1", "{}"),
                (2, "final", "run-1", r#"{"content":"the answer"}"#),
                (3, "run_finished", "run-1", "{}"),
                (4, "tool_end", "run-2", r#"{"value":42}"#),
            ]
        );
        let unnamed = parse_trace("go.jsonl", r#"{"type":"x"}"#, None).expect("valid");
        assert_eq!(unnamed.events[0].agent_id, "agent");
        let after_max = [r#"{"seq":18446744073709551615,"type":"x"}"#, r#"{"type":"y"}"#].join("\n");
        assert!(error_of(&after_max).starts_with("t.jsonl:2: seq 18446744073709551615 does not follow"));
    }

    #[test]
    fn times_may_carry_an_offset_or_be_absent() {
        let utc = parse_rfc3339("2025-01-31T14:03:05.123Z").expect("utc");
        assert_eq!(parse_rfc3339("2025-01-31T16:03:05.123+02:00"), Some(utc));
        assert_eq!(parse_rfc3339("2025-01-31T09:33:05.123-04:30"), Some(utc));
        assert_eq!(parse_rfc3339("2025-01-31T14:03:05.123456789Z").map(|t| t > utc), Some(true));
        assert_eq!(parse_rfc3339("2025-01-31"), None);
        let untimed = r#"{"seq":1,"type":"x","agent_id":"a","run_id":"r"}"#;
        let trace = parse_trace("t.jsonl", untimed, None).expect("valid");
        assert_eq!((trace.events[0].ts, trace.events[0].data.as_str()), (None, "{}"));
    }
}
