//! Trace import (`AgentHub.ImportTrace`, `agentry trace import FILE`): a trace — the lines of
//! `agentry trace AGENT --jsonl`, or a Go agentry trace of the same shape — loaded as a new,
//! read-only agent that can be replayed like any other.
//!
//! [`plan`] checks what the client sent and turns it into an [`agentry_store::TraceImport`]
//! (pure: the rules are unit-tested below); [`Hub::import_trace`] writes it in one
//! [`agentry_store::Store::import_trace`]. Only the trace is imported: the agent has no
//! conversation messages. Read-only is enforced where the agent is already at hand, so live
//! agents pay nothing for it: `Hub::send_message` and `Hub::raise_budget` read the agent anyway,
//! and every control of an imported run (all have ended) is refused by the store's guard first,
//! whose refusal then names the import.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use agentry_core::event::kind;
use agentry_core::limits::{MAX_EVENT_TYPE_BYTES, MAX_IMPORT_EVENTS};
use agentry_core::{Agent, AgentId, AgentSpec, EventDraft, Run, RunId, RunStatus};
use agentry_store::{ImportedRun, TraceImport};

use crate::error::{HubError, Result};
use crate::hub::Hub;
use crate::validate::{self, MAX_LABEL_VALUE_BYTES};

/// Label naming what an agent was imported from (its source, e.g. the file name).
pub const IMPORTED_FROM_LABEL: &str = "agentry.imported-from";
/// Label naming the agent id the imported trace belonged to.
pub const IMPORTED_AGENT_LABEL: &str = "agentry.imported-agent";
/// Model of an imported agent when its trace names none (in `model_start` or `run_started`).
pub const IMPORTED_MODEL: &str = "imported";
/// Error of an imported run whose trace ends before its `run_finished`, `run_failed` or
/// `run_cancelled`.
pub const UNFINISHED_RUN_ERROR: &str = "imported trace ends before the run finished";
/// Longest source (file name), agent id or run id of an import, in bytes.
pub const MAX_SOURCE_TEXT_BYTES: usize = MAX_LABEL_VALUE_BYTES;

/// One event of a trace to import, as its source wrote it (ids are the source's: any text).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEvent {
    /// Its sequence number in the source (strictly increasing, from at least 1).
    pub seq: u64,
    /// When it happened, milliseconds since the Unix epoch; `None`: the time of the import.
    pub ts_ms: Option<i64>,
    /// Event type name.
    pub kind: String,
    /// The source's agent id.
    pub agent_id: String,
    /// The source's run id: events with the same one make one run.
    pub run_id: String,
    /// Payload, a JSON object text.
    pub data: String,
}

/// What a client asked `ImportTrace` for, not yet checked (see [`plan`]).
#[derive(Debug, Clone, Default)]
pub struct ImportCommand {
    /// Where the trace comes from (the file name).
    pub source: String,
    /// Labels of the new agent, besides [`IMPORTED_FROM_LABEL`] and [`IMPORTED_AGENT_LABEL`].
    pub labels: BTreeMap<String, String>,
    /// The agent to import when the events belong to several; `None`: they must belong to one.
    pub agent_id: Option<String>,
    /// The events, in trace order.
    pub events: Vec<SourceEvent>,
    /// The tenant of the new agent: the importer's.
    pub tenant: String,
}

/// An imported trace as stored.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The new, read-only agent.
    pub agent: Agent,
    /// Its runs, in order of first appearance in the trace.
    pub runs: Vec<Run>,
    /// How many events were stored (seqs 1 to this).
    pub events: u64,
}

impl Hub {
    /// Checks `command` and stores it as a new, read-only agent (see the module docs).
    ///
    /// Errors: INVALID_ARGUMENT naming the field (`events[3].seq`, `labels`, `source`, ...) or
    /// the limit; the store's errors otherwise.
    #[tracing::instrument(skip_all, fields(source = %command.source, events = command.events.len()))]
    pub async fn import_trace(&self, command: ImportCommand) -> Result<Imported> {
        let import = plan(command, AgentId::generate(), agentry_core::clock::now_ms())?;
        let events = import.events.len() as u64;
        let source = import.source.clone();
        let (agent, runs) = self.store.import_trace(import).await?;
        tracing::info!(agent_id = %agent.id, source, runs = runs.len(), events, "trace imported");
        Ok(Imported { agent, runs, events })
    }
}

/// Returns the import of `command` as agent `agent_id`, events without a time stamped `now_ms`.
///
/// Checks: a source of 1 to [`MAX_SOURCE_TEXT_BYTES`] bytes; 1 to [`MAX_IMPORT_EVENTS`] events,
/// all of one agent (or of the one `command.agent_id` picks); per event, a seq above the
/// previous one (and at least 1), a type of 1 to [`MAX_EVENT_TYPE_BYTES`] bytes, a run id, data
/// that is a JSON object; labels as `Spawn`'s, without the two the import sets.
///
/// Each distinct source run id becomes a run, in order of first appearance, whose status comes
/// from its last event: `run_finished` completed, `run_failed` failed (with its `error`),
/// `run_cancelled` cancelled (with its `reason`), anything else failed with
/// [`UNFINISHED_RUN_ERROR`]. The spec's model is the first `model_start`'s (else
/// `run_started`'s) `model`, else [`IMPORTED_MODEL`].
pub fn plan(command: ImportCommand, agent_id: AgentId, now_ms: i64) -> Result<TraceImport> {
    let source = check_source(&command.source)?;
    if command.events.is_empty() {
        return invalid("events: the trace has no events".to_owned());
    }
    if command.events.len() > MAX_IMPORT_EVENTS {
        return invalid(format!(
            "events: {} events; the limit is {MAX_IMPORT_EVENTS} (MAX_IMPORT_EVENTS)",
            command.events.len()
        ));
    }
    let original_agent = pick_agent(&command.events, command.agent_id.as_deref())?;
    let mut runs: Vec<RunSoFar> = Vec::new();
    let mut run_positions: HashMap<String, usize> = HashMap::new();
    let mut events = Vec::with_capacity(command.events.len());
    let mut previous_seq = 0;
    for (index, event) in command.events.into_iter().enumerate() {
        if event.agent_id != original_agent {
            continue;
        }
        let field = |name: &str| format!("events[{index}].{name}");
        if event.seq == 0 {
            return invalid(format!(
                "{}: is 0; persisted events start at 1 (ephemeral ones such as `token` are not imported)",
                field("seq")
            ));
        }
        if event.seq <= previous_seq {
            return invalid(format!(
                "{}: {} does not follow {previous_seq}; seqs must increase strictly from at least 1",
                field("seq"),
                event.seq
            ));
        }
        previous_seq = event.seq;
        if event.kind.is_empty() || event.kind.len() > MAX_EVENT_TYPE_BYTES {
            return invalid(format!(
                "{}: {:?} must be 1 to {MAX_EVENT_TYPE_BYTES} bytes",
                field("type"),
                preview(&event.kind)
            ));
        }
        check_source_text(&field("run_id"), &event.run_id)?;
        let data = match serde_json::from_str::<Value>(&event.data) {
            Ok(data @ Value::Object(_)) => data,
            Ok(other) => {
                return invalid(format!(
                    "{}: must be a JSON object, not {}",
                    field("data"),
                    agentry_core::event::json_kind(&other)
                ));
            }
            Err(error) => return invalid(format!("{}: not JSON: {error}", field("data"))),
        };
        let ts_ms = event.ts_ms.unwrap_or(now_ms);
        let position = *run_positions.entry(event.run_id).or_insert_with(|| {
            runs.push(RunSoFar::new(ts_ms));
            runs.len() - 1
        });
        let run = &mut runs[position];
        run.observe(&event.kind, &data, ts_ms);
        events.push((run.id, EventDraft { kind: event.kind, data, ts_ms, trace: None }));
    }
    let labels = import_labels(command.labels, &source, &original_agent)?;
    Ok(TraceImport {
        agent_id,
        spec: imported_spec(model_of(&events)),
        labels,
        source,
        runs: runs.into_iter().map(RunSoFar::ended).collect(),
        events,
        tenant: command.tenant,
    })
}

/// A run of the trace being read: what decides its status and times.
struct RunSoFar {
    id: RunId,
    input: String,
    created_ms: i64,
    updated_ms: i64,
    last_kind: String,
    last_data: Value,
}

impl RunSoFar {
    fn new(ts_ms: i64) -> Self {
        // Generated in order of first appearance: ids are time-ordered, so the agent's latest
        // run is the trace's last.
        Self {
            id: RunId::generate(),
            input: String::new(),
            created_ms: ts_ms,
            updated_ms: ts_ms,
            last_kind: String::new(),
            last_data: Value::Null,
        }
    }

    fn observe(&mut self, event_kind: &str, data: &Value, ts_ms: i64) {
        if event_kind == kind::RUN_STARTED
            && self.input.is_empty()
            && let Some(input) = data.get("input").and_then(Value::as_str)
        {
            input.clone_into(&mut self.input);
        }
        self.updated_ms = self.updated_ms.max(ts_ms);
        event_kind.clone_into(&mut self.last_kind);
        self.last_data = data.clone();
    }

    /// Returns the run, ended as its last event says.
    fn ended(self) -> ImportedRun {
        let text = |key: &str| self.last_data.get(key).and_then(Value::as_str).filter(|text| !text.trim().is_empty());
        let (status, error) = match self.last_kind.as_str() {
            kind::RUN_FINISHED => (RunStatus::Completed, None),
            kind::RUN_FAILED => (RunStatus::Failed, Some(text("error").unwrap_or("run failed").to_owned())),
            kind::RUN_CANCELLED => (RunStatus::Cancelled, Some(text("reason").unwrap_or("cancelled").to_owned())),
            _ => (RunStatus::Failed, Some(UNFINISHED_RUN_ERROR.to_owned())),
        };
        ImportedRun {
            id: self.id,
            input: self.input,
            status,
            error,
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
        }
    }
}

/// Returns the source agent id of the events to import: `picked`, which some event must have,
/// or the one every event has.
fn pick_agent(events: &[SourceEvent], picked: Option<&str>) -> Result<String> {
    for (index, event) in events.iter().enumerate() {
        check_source_text(&format!("events[{index}].agent_id"), &event.agent_id)?;
    }
    if let Some(picked) = picked {
        if events.iter().any(|event| event.agent_id == picked) {
            return Ok(picked.to_owned());
        }
        let present: BTreeSet<&str> = events.iter().map(|event| event.agent_id.as_str()).collect();
        let present: Vec<&str> = present.into_iter().take(5).collect();
        return invalid(format!(
            "agent_id: no event of the trace belongs to agent {picked:?}; it has {}",
            present.join(", ")
        ));
    }
    let first = &events[0].agent_id;
    match events.iter().enumerate().find(|(_, event)| &event.agent_id != first) {
        Some((index, other)) => invalid(format!(
            "events[{index}].agent_id: the trace mixes agents {first} and {}; import one of them with agent_id \
             (agentry trace import --agent ID)",
            other.agent_id
        )),
        None => Ok(first.clone()),
    }
}

/// Returns `labels` with the two the import sets; errors when the client set those, or when the
/// result breaks `Spawn`'s label rules.
fn import_labels(
    mut labels: BTreeMap<String, String>,
    source: &str,
    original_agent: &str,
) -> Result<BTreeMap<String, String>> {
    for key in [IMPORTED_FROM_LABEL, IMPORTED_AGENT_LABEL] {
        if labels.contains_key(key) {
            return invalid(format!("labels: {key} is set by the import; leave it out"));
        }
    }
    labels.insert(IMPORTED_FROM_LABEL.to_owned(), source.to_owned());
    labels.insert(IMPORTED_AGENT_LABEL.to_owned(), original_agent.to_owned());
    validate::labels("labels", &labels)?;
    Ok(labels)
}

/// Returns the model the trace names: the first `model_start`'s, else the first
/// `run_started`'s, else [`IMPORTED_MODEL`].
fn model_of(events: &[(RunId, EventDraft)]) -> String {
    let named_by = |event_kind: &str| {
        events
            .iter()
            .filter(|(_, event)| event.kind == event_kind)
            .filter_map(|(_, event)| event.data.get("model").and_then(Value::as_str))
            .find(|model| !model.trim().is_empty() && model.len() <= MAX_SOURCE_TEXT_BYTES)
            .map(str::to_owned)
    };
    named_by(kind::MODEL_START).or_else(|| named_by(kind::RUN_STARTED)).unwrap_or_else(|| IMPORTED_MODEL.to_owned())
}

/// Returns the spec of an imported agent: its model only (it never runs).
fn imported_spec(model: String) -> AgentSpec {
    AgentSpec {
        model,
        tools: Vec::new(),
        system: String::new(),
        max_iterations: 0,
        node_selector: BTreeMap::new(),
        temperature: None,
        tool_choice: None,
        mcp_servers: BTreeMap::new(),
        team: None,
    }
}

/// Checks the source name and returns it trimmed.
fn check_source(source: &str) -> Result<String> {
    let source = source.trim();
    if source.is_empty() {
        return invalid("source is empty; name the trace, e.g. by its file name".to_owned());
    }
    check_source_text("source", source)?;
    Ok(source.to_owned())
}

/// Checks an id or name the source chose: 1 to [`MAX_SOURCE_TEXT_BYTES`] bytes, no control
/// characters.
fn check_source_text(field: &str, text: &str) -> Result<()> {
    if text.is_empty() {
        return invalid(format!("{field} is empty"));
    }
    if text.len() > MAX_SOURCE_TEXT_BYTES {
        return invalid(format!("{field} is {} bytes; the limit is {MAX_SOURCE_TEXT_BYTES}", text.len()));
    }
    if text.chars().any(char::is_control) {
        return invalid(format!("{field} {:?} contains control characters", preview(text)));
    }
    Ok(())
}

fn invalid<T>(message: String) -> Result<T> {
    Err(HubError::InvalidArgument(message))
}

/// Returns at most the first 64 characters of `text`, for error messages.
fn preview(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn event(seq: u64, event_kind: &str, run_id: &str, data: Value) -> SourceEvent {
        SourceEvent {
            seq,
            ts_ms: Some(1_000 + seq as i64),
            kind: event_kind.to_owned(),
            agent_id: "a1".to_owned(),
            run_id: run_id.to_owned(),
            data: data.to_string(),
        }
    }

    fn command(events: Vec<SourceEvent>) -> ImportCommand {
        ImportCommand { source: "trace.jsonl".to_owned(), events, ..ImportCommand::default() }
    }

    fn plan_of(events: Vec<SourceEvent>) -> Result<TraceImport> {
        plan(command(events), AgentId::generate(), NOW)
    }

    fn invalid_message(result: Result<TraceImport>) -> String {
        match result {
            Err(HubError::InvalidArgument(message)) => message,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn runs_follow_first_appearance_and_end_as_their_last_event_says() {
        let import = plan_of(vec![
            event(1, "run_started", "r1", json!({ "input": "hi" })),
            event(2, "model_start", "r1", json!({ "step": 1, "model": "openai:m" })),
            event(3, "run_finished", "r1", json!({ "steps": 1 })),
            event(4, "run_started", "r2", json!({})),
            event(5, "run_started", "r3", json!({})),
            event(7, "run_failed", "r2", json!({ "error": "model: 500" })),
            event(9, "run_cancelled", "r3", json!({ "reason": "too slow" })),
            event(10, "run_started", "r4", json!({})),
            event(11, "tool_start", "r4", json!({ "name": "bash" })),
        ])
        .unwrap();
        let ended: Vec<(RunStatus, Option<&str>)> =
            import.runs.iter().map(|run| (run.status, run.error.as_deref())).collect();
        assert_eq!(
            ended,
            vec![
                (RunStatus::Completed, None),
                (RunStatus::Failed, Some("model: 500")),
                (RunStatus::Cancelled, Some("too slow")),
                (RunStatus::Failed, Some(UNFINISHED_RUN_ERROR)),
            ]
        );
        assert!(import.runs.windows(2).all(|pair| pair[0].id < pair[1].id), "time-ordered ids");
        assert_eq!(
            (import.runs[0].input.as_str(), import.runs[0].created_ms, import.runs[0].updated_ms),
            ("hi", 1_001, 1_003)
        );
        let run_of_event: Vec<usize> = import
            .events
            .iter()
            .map(|(run_id, _)| import.runs.iter().position(|run| run.id == *run_id).unwrap())
            .collect();
        assert_eq!(run_of_event, vec![0, 0, 0, 1, 2, 1, 2, 3, 3]);
        assert_eq!(import.events[1].1.data, json!({ "step": 1, "model": "openai:m" }));
        assert_eq!(import.spec.model, "openai:m");
        assert_eq!(import.source, "trace.jsonl");
        assert_eq!(import.labels[IMPORTED_FROM_LABEL], "trace.jsonl");
        assert_eq!(import.labels[IMPORTED_AGENT_LABEL], "a1");
    }

    #[test]
    fn times_default_to_now_and_the_model_to_imported() {
        let mut untimed = event(1, "final", "r1", json!({ "content": "x" }));
        untimed.ts_ms = None;
        let import = plan_of(vec![untimed]).unwrap();
        assert_eq!(import.events[0].1.ts_ms, NOW);
        assert_eq!(import.spec.model, IMPORTED_MODEL);
        let named = plan_of(vec![event(1, "run_started", "r1", json!({ "model": "anthropic:c" }))]).unwrap();
        assert_eq!(named.spec.model, "anthropic:c");
    }

    #[test]
    fn bad_events_are_named_by_index_and_field() {
        let cases = [
            (vec![event(2, "a", "r", json!({})), event(2, "b", "r", json!({}))], "events[1].seq: 2 does not follow 2"),
            (vec![event(0, "a", "r", json!({}))], "events[0].seq: is 0; persisted events start at 1"),
            (vec![event(1, "", "r", json!({}))], "events[0].type"),
            (vec![event(1, &"x".repeat(65), "r", json!({}))], "must be 1 to 64 bytes"),
            (vec![event(1, "a", "", json!({}))], "events[0].run_id is empty"),
            (vec![event(1, "final", "r", json!("text"))], "events[0].data: must be a JSON object, not a string"),
        ];
        for (events, expected) in cases {
            let message = invalid_message(plan_of(events));
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
        let mut broken = event(1, "a", "r", json!({}));
        broken.data = "{".to_owned();
        assert!(invalid_message(plan_of(vec![broken])).starts_with("events[0].data: not JSON"));
        assert_eq!(invalid_message(plan_of(Vec::new())), "events: the trace has no events");
    }

    #[test]
    fn too_many_events_name_the_limit() {
        let events = vec![event(1, "a", "r", json!({})); MAX_IMPORT_EVENTS + 1];
        let message = invalid_message(plan_of(events));
        assert!(message.contains("the limit is 100000 (MAX_IMPORT_EVENTS)"), "{message}");
    }

    #[test]
    fn mixed_agents_are_refused_unless_one_is_picked() {
        let mut other = event(2, "final", "r9", json!({ "content": "other" }));
        other.agent_id = "a2".to_owned();
        let events = vec![event(1, "run_started", "r1", json!({})), other, event(3, "run_finished", "r1", json!({}))];
        let message = invalid_message(plan_of(events.clone()));
        assert!(message.contains("events[1].agent_id: the trace mixes agents a1 and a2"), "{message}");
        let picked =
            plan(ImportCommand { agent_id: Some("a2".into()), ..command(events.clone()) }, AgentId::generate(), NOW);
        let picked = picked.unwrap();
        assert_eq!((picked.events.len(), picked.runs.len()), (1, 1));
        assert_eq!(picked.labels[IMPORTED_AGENT_LABEL], "a2");
        let missing = plan(ImportCommand { agent_id: Some("a3".into()), ..command(events) }, AgentId::generate(), NOW);
        assert!(
            invalid_message(missing)
                .starts_with("agent_id: no event of the trace belongs to agent \"a3\"; it has a1, a2")
        );
    }

    #[test]
    fn labels_follow_spawn_rules_and_keep_the_import_ones() {
        let events = vec![event(1, "a", "r", json!({}))];
        let reserved = BTreeMap::from([(IMPORTED_FROM_LABEL.to_owned(), "x".to_owned())]);
        let message = invalid_message(plan(
            ImportCommand { labels: reserved, ..command(events.clone()) },
            AgentId::generate(),
            NOW,
        ));
        assert!(message.contains("agentry.imported-from is set by the import"), "{message}");
        let bad = BTreeMap::from([("bad key".to_owned(), "x".to_owned())]);
        assert!(
            invalid_message(plan(ImportCommand { labels: bad, ..command(events.clone()) }, AgentId::generate(), NOW))
                .starts_with("labels:")
        );
        let blank = ImportCommand { source: "  ".into(), ..command(events) };
        assert!(invalid_message(plan(blank, AgentId::generate(), NOW)).starts_with("source is empty"));
    }
}
