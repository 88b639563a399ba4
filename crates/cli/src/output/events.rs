//! Trace events as human lines (`#12 14:03:05.123 tool_start bash {"command":"ls"}`) or JSONL.

use serde::Serialize;
use serde_json::Value;

use agentry_sdk::event_kind as kind;
use agentry_sdk::proto::TraceEvent;

use super::{one_line_preview, rfc3339};

/// Characters of tool output shown on a `tool_end` line.
const TOOL_OUTPUT_PREVIEW_CHARS: usize = 200;

/// How trace events are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    /// One readable line per event (the final answer in full).
    Human,
    /// One agentry-compatible JSON object per line.
    Jsonl,
}

impl EventFormat {
    /// Returns [`EventFormat::Jsonl`] when `jsonl` is set.
    pub fn from_flag(jsonl: bool) -> Self {
        if jsonl { Self::Jsonl } else { Self::Human }
    }
}

/// Returns the line printed for `event`.
pub fn event_line(event: &TraceEvent, format: EventFormat) -> String {
    match format {
        EventFormat::Human => human_line(event),
        EventFormat::Jsonl => jsonl_line(event),
    }
}

/// An event in the JSONL form: `data` is the payload object, not its text.
#[derive(Serialize)]
struct JsonEvent<'a> {
    seq: u64,
    ts: Option<String>,
    #[serde(rename = "type")]
    kind: &'a str,
    agent_id: &'a str,
    run_id: &'a str,
    data: Value,
    #[serde(skip_serializing_if = "str::is_empty")]
    parent_agent_id: &'a str,
}

fn jsonl_line(event: &TraceEvent) -> String {
    let json = JsonEvent {
        seq: event.seq,
        ts: rfc3339(event.ts.as_ref()),
        kind: &event.r#type,
        agent_id: &event.agent_id,
        run_id: &event.run_id,
        data: parse_data(&event.data),
        parent_agent_id: &event.parent_agent_id,
    };
    // A struct of strings, numbers and a `Value` always serializes.
    serde_json::to_string(&json).unwrap_or_default()
}

/// Returns the payload as JSON: `{}` when empty, the raw text as a string when not JSON.
fn parse_data(data: &str) -> Value {
    if data.trim().is_empty() {
        return Value::Object(serde_json::Map::new());
    }
    serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.to_owned()))
}

fn human_line(event: &TraceEvent) -> String {
    let seq = if event.seq == 0 { "-".to_owned() } else { event.seq.to_string() };
    // `2025-01-31T14:03:05.123Z` → `14:03:05.123` (UTC).
    let time = rfc3339(event.ts.as_ref())
        .and_then(|ts| ts.get(11..23).map(str::to_owned))
        .unwrap_or_else(|| "--:--:--.---".to_owned());
    let data = parse_data(&event.data);
    let detail = describe(event, &data).unwrap_or_else(|| compact(&data));
    let head = format!("#{seq} {time} {}", event.r#type);
    if detail.is_empty() { head } else { format!("{head} {detail}") }
}

/// Returns the readable detail of a known event type; `None` (print the data JSON) for
/// unknown types or payloads missing the expected fields.
fn describe(event: &TraceEvent, data: &Value) -> Option<String> {
    let text = |key: &str| data.get(key).and_then(Value::as_str);
    let number = |key: &str| data.get(key).and_then(Value::as_u64);
    let detail = match event.r#type.as_str() {
        kind::RUN_STARTED => {
            let resumed = if data.get("resumed").and_then(Value::as_bool) == Some(true) { " resumed" } else { "" };
            format!("run={} node={} epoch={}{resumed}", event.run_id, text("node_id")?, number("epoch")?)
        }
        kind::STEP_START => format!("step={}", number("step")?),
        kind::MODEL_START => format!("{} step={}", text("model")?, number("step")?),
        kind::TOOL_START => format!("{} {}", text("name")?, arguments(data.get("arguments")?)),
        kind::TOOL_END => {
            let output = one_line_preview(text("output")?, TOOL_OUTPUT_PREVIEW_CHARS);
            let error = if data.get("is_error").and_then(Value::as_bool) == Some(true) { " (error)" } else { "" };
            let duration = number("duration_ms").map(|ms| format!(" [{ms} ms]")).unwrap_or_default();
            format!("{} {output}{error}{duration}", text("name")?)
        }
        kind::USAGE => {
            let (prompt, completion) = (number("prompt_tokens")?, number("completion_tokens")?);
            let total = number("total_tokens").unwrap_or(prompt + completion);
            let latency = number("latency_ms").map(|ms| format!(" in {ms} ms")).unwrap_or_default();
            format!("{total} tokens ({prompt} prompt + {completion} completion){latency}")
        }
        kind::FINAL => text("content")?.to_owned(),
        kind::RUN_FINISHED => format!("run={} steps={}", event.run_id, number("steps")?),
        kind::RUN_FAILED => format!("run={} {}", event.run_id, text("error")?),
        kind::RUN_CANCELLED | kind::RUN_PAUSED => with_reason(format!("run={}", event.run_id), text("reason")),
        kind::RUN_RESUMED => format!("run={}", event.run_id),
        kind::RUN_MOVED => match text("to_node_id") {
            Some(to_node_id) => format!("{} -> {to_node_id} epoch={}", text("from_node_id")?, number("epoch")?),
            None => with_reason(format!("from={} epoch={}", text("from_node_id")?, number("epoch")?), text("reason")),
        },
        kind::TOOL_INTERRUPTED => format!("{} policy={}", text("name")?, text("policy")?),
        kind::APPROVAL_REQUESTED => {
            let call = text("tool_call_id")?;
            let held = format!("{} {} call={call}", text("name")?, arguments(data.get("arguments")?));
            format!("{held} (agentry approve|deny {} {call})", event.run_id)
        }
        kind::APPROVAL_DECIDED => {
            let decision = if data.get("approved")?.as_bool()? { "approved" } else { "denied" };
            with_reason(format!("call={} {decision} by {}", text("tool_call_id")?, text("actor")?), text("reason"))
        }
        _ => return None,
    };
    Some(detail)
}

/// Returns `head`, then `reason` when there is one.
fn with_reason(head: String, reason: Option<&str>) -> String {
    match reason.map(str::trim) {
        Some(reason) if !reason.is_empty() => format!("{head} {}", one_line_preview(reason, usize::MAX)),
        _ => head,
    }
}

/// Returns tool arguments on one line: compact JSON when the text is JSON.
fn arguments(arguments: &Value) -> String {
    match arguments {
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(parsed) => compact(&parsed),
            Err(_) => one_line_preview(text, usize::MAX),
        },
        other => compact(other),
    }
}

fn compact(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, data: Value) -> TraceEvent {
        TraceEvent {
            seq: 12,
            ts: Some(agentry_sdk::Timestamp { seconds: 1_700_000_585, nanos: 123_000_000 }),
            r#type: kind.to_owned(),
            agent_id: "agent-1".to_owned(),
            run_id: "run-1".to_owned(),
            data: data.to_string(),
            ..TraceEvent::default()
        }
    }

    fn human(kind: &str, data: Value) -> String {
        event_line(&event(kind, data), EventFormat::Human)
    }

    #[test]
    fn jsonl_has_the_agentry_shape() {
        let line = event_line(&event("tool_start", json!({ "name": "bash" })), EventFormat::Jsonl);
        let parsed: Value = serde_json::from_str(&line).expect("JSON");
        let expected = json!({
            "seq": 12,
            "ts": "2023-11-14T22:23:05.123Z",
            "type": "tool_start",
            "agent_id": "agent-1",
            "run_id": "run-1",
            "data": { "name": "bash" },
        });
        assert_eq!(parsed, expected);
        assert!(line.starts_with(r#"{"seq":12,"ts":"#), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn jsonl_adds_the_parent_when_set() {
        let mut child = event("final", json!({ "content": "hi" }));
        child.parent_agent_id = "agent-0".to_owned();
        let parsed: Value = serde_json::from_str(&event_line(&child, EventFormat::Jsonl)).expect("JSON");
        assert_eq!(parsed["parent_agent_id"], "agent-0");
    }

    #[test]
    fn tool_lines_show_name_arguments_and_output() {
        let arguments = json!({ "command": "ls" }).to_string();
        let start = human("tool_start", json!({ "name": "bash", "arguments": arguments }));
        assert_eq!(start, r#"#12 22:23:05.123 tool_start bash {"command":"ls"}"#);
        let end = human("tool_end", json!({ "name": "bash", "output": "a\nb", "is_error": true, "duration_ms": 7 }));
        assert_eq!(end, r"#12 22:23:05.123 tool_end bash a\nb (error) [7 ms]");
        let long = human("tool_end", json!({ "name": "view", "output": "x".repeat(500), "is_error": false }));
        assert!(long.ends_with("xx…"), "{long}");
        assert!(long.len() < 260, "{long}");
    }

    #[test]
    fn usage_final_and_failure_lines_are_readable() {
        let usage = json!({ "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "latency_ms": 850 });
        assert_eq!(human("usage", usage), "#12 22:23:05.123 usage 120 tokens (100 prompt + 20 completion) in 850 ms");
        let answer = "line one\nline two";
        assert_eq!(human("final", json!({ "content": answer })), format!("#12 22:23:05.123 final {answer}"));
        let failed = human("run_failed", json!({ "error": "model: 401 unauthorized" }));
        assert_eq!(failed, "#12 22:23:05.123 run_failed run=run-1 model: 401 unauthorized");
    }

    #[test]
    fn run_control_and_move_lines_show_the_reason() {
        let cancelled = human("run_cancelled", json!({ "reason": "too slow" }));
        assert_eq!(cancelled, "#12 22:23:05.123 run_cancelled run=run-1 too slow");
        assert_eq!(human("run_paused", json!({ "reason": "", "epoch": 2 })), "#12 22:23:05.123 run_paused run=run-1");
        assert_eq!(human("run_resumed", json!({})), "#12 22:23:05.123 run_resumed run=run-1");
        let moved = human("run_moved", json!({ "from_node_id": "n1", "reason": "lease expired", "epoch": 3 }));
        assert_eq!(moved, "#12 22:23:05.123 run_moved from=n1 epoch=3 lease expired");
        let interrupted = human("tool_interrupted", json!({ "name": "bash", "policy": "retry", "step": 1 }));
        assert_eq!(interrupted, "#12 22:23:05.123 tool_interrupted bash policy=retry");
    }

    #[test]
    fn approval_lines_say_what_waits_and_how_to_decide() {
        let arguments = r#"{"command":"git push"}"#;
        let requested =
            human("approval_requested", json!({ "name": "bash", "arguments": arguments, "tool_call_id": "c1" }));
        let expected = r#"#12 22:23:05.123 approval_requested bash {"command":"git push"} call=c1 (agentry approve|deny run-1 c1)"#;
        assert_eq!(requested, expected);
        let decided = json!({ "tool_call_id": "c1", "approved": false, "actor": "bob", "reason": "not now" });
        assert_eq!(
            human("approval_decided", decided),
            "#12 22:23:05.123 approval_decided call=c1 denied by bob not now"
        );
    }

    #[test]
    fn unknown_types_and_odd_payloads_print_their_data() {
        assert_eq!(
            human("approval_requested", json!({ "tool": "bash" })),
            r#"#12 22:23:05.123 approval_requested {"tool":"bash"}"#
        );
        assert_eq!(human("usage", json!({ "weird": 1 })), r#"#12 22:23:05.123 usage {"weird":1}"#);
        assert_eq!(human("step_start", json!({})), "#12 22:23:05.123 step_start");
    }
}
