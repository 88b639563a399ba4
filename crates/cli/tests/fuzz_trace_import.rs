//! Fuzz target `trace_import` (see fuzz/README.md): `agentry trace import FILE` end to end
//! without a network — the CLI's JSONL parser (`commands/trace/jsonl.rs`), the events as the hub
//! receives them (`ImportTraceRequest`), the hub's import planning (`agent_hub::import::plan`)
//! and the store's import (SQLite in memory), which must read back what it took. Fed the corpus
//! `fuzz/corpus/trace_import/`, its mutations (bytes and lines), generated lines, and generated
//! requests as a client other than the CLI could send them. Every input must be imported or
//! refused with an error, never panic.
//!
//! The parser lives in the binary crate; it is compiled into this test from its source file
//! (it uses only external crates), so its own unit tests run here a second time.

#[path = "../../../fuzz/support/harness.rs"]
mod harness;

#[path = "../src/commands/trace/jsonl.rs"]
mod jsonl;

use std::sync::Arc;

use proptest::prelude::*;
use tokio::runtime::Runtime;

use agent_hub::import::{ImportCommand, SourceEvent, plan};
use agentry_core::AgentId;
use agentry_sdk::proto::ImportedEvent;
use agentry_store::{SqliteStore, Store, TraceImport};

use harness::{Found, edge_u64, fail, text};

const TARGET: &str = "trace_import";
const KIND: &str = "jsonl";
/// `now` of the plans: a fixed time, so that a case replays the same.
const NOW_MS: i64 = 1_738_332_185_123;

/// JSON and trace syntax: delimiters, field names, event types, times, extreme numbers.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "\n",
    "\"seq\":",
    "\"ts\":",
    "\"type\":",
    "\"agent_id\":",
    "\"run_id\":",
    "\"data\":",
    "\"run_finished\"",
    "\"final\"",
    "\"model_start\"",
    "null",
    "0",
    "-1",
    "18446744073709551615",
    "18446744073709551616",
    "1e999",
    "\"2025-01-31T14:03:05.123Z\"",
    "+14:00",
    "-23:59",
    "\"\\u0000\"",
    "\"\\ud800\"",
];

/// The hub's conversion of a wire event (`grpc/agent_hub.rs`, crate-private): a missing time is
/// `None`, a present one in milliseconds.
fn source_event(event: ImportedEvent) -> SourceEvent {
    SourceEvent {
        seq: event.seq,
        ts_ms: event.ts.as_ref().map(|ts| agentry_sdk::convert::timestamp_ms(Some(ts))),
        kind: event.r#type,
        agent_id: event.agent_id,
        run_id: event.run_id,
        data: event.data,
    }
}

/// A request as `agentry trace import` would send it.
fn command(source: &str, events: Vec<ImportedEvent>, agent_id: Option<&str>) -> ImportCommand {
    ImportCommand {
        source: source.to_owned(),
        agent_id: agent_id.map(str::to_owned),
        events: events.into_iter().map(source_event).collect(),
        ..ImportCommand::default()
    }
}

/// Parses `text` as the CLI does, then plans the import as the hub does; returns the plan or
/// the first refusal. A plan holds the parsed events of the picked agent, at least one.
fn import(text: &str, picked: Option<&str>) -> Result<TraceImport, String> {
    let trace = jsonl::parse_trace("fuzz.jsonl", text, picked)?;
    let parsed = trace.events.len();
    let skipped = trace.ephemeral + trace.other_agents;
    let planned = plan(command("fuzz.jsonl", trace.events, picked), AgentId::generate(), NOW_MS)
        .map_err(|error| error.to_string())?;
    assert!(
        !planned.events.is_empty() && planned.events.len() <= parsed,
        "a plan of {parsed} parsed events ({skipped} skipped) holds {}",
        planned.events.len()
    );
    Ok(planned)
}

/// The store, on its own runtime, to import plans into.
struct Importer {
    runtime: Runtime,
    store: Arc<SqliteStore>,
}

impl Importer {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let store = Arc::new(runtime.block_on(SqliteStore::connect("sqlite::memory:")).expect("an in-memory store"));
        Self { runtime, store }
    }

    /// Imports `planned`; what the store accepts must read back: the agent and every event.
    fn store(&self, planned: TraceImport) -> Result<(), TestCaseError> {
        let events = planned.events.len();
        self.runtime.block_on(async {
            let Ok((agent, _runs)) = self.store.import_trace(planned).await else { return Ok(()) };
            let stored = self
                .store
                .events_after(agent.id, None, 0, u32::MAX)
                .await
                .map_err(|error| fail(format!("an imported trace does not read back: {error}")))?;
            if stored.len() != events {
                return Err(fail(format!("{events} events imported, {} read back", stored.len())));
            }
            self.store.get_agent(agent.id).await.map_err(|error| fail(format!("the imported agent: {error}")))?;
            Ok(())
        })
    }
}

/// Every corpus file: parsed, planned and stored without a panic; `ok-` files import, `err-`
/// files are refused by the parser or the plan.
#[test]
fn corpus_replays() {
    let importer = Importer::new();
    for seed in harness::corpus(TARGET, KIND) {
        let outcome = import(&seed.text(), None);
        seed.check(outcome.is_ok(), &outcome.as_ref().map(|planned| planned.events.len()));
        if let Ok(planned) = outcome
            && let Err(error) = importer.store(planned)
        {
            panic!("corpus file {}: {error}", seed.name);
        }
    }
}

/// Mutated corpus files (bytes and lines), parsed for every agent and for each one they name.
#[test]
fn mutated_trace_files_import_or_refuse() {
    let importer = Importer::new();
    let files: Vec<Vec<u8>> = harness::corpus(TARGET, KIND).into_iter().map(|seed| seed.bytes).collect();
    let strategy = (harness::mutated_text(files, TOKENS), prop::option::of(prop::sample::select(vec!["a", "agent"])));
    let save = |(text, _): &(String, Option<&str>)| Found::new(KIND, "jsonl", text.clone().into_bytes());
    harness::run(TARGET, "mutated", harness::cases(1), strategy, &save, |(text, picked)| match import(&text, picked) {
        Ok(planned) => importer.store(planned),
        Err(_) => Ok(()),
    });
}

/// A JSON value of a trace line's field: the right type or not.
fn field_value() -> BoxedStrategy<String> {
    prop_oneof![
        text(
            &["a", "r", "run_finished", "final", "2025-01-31T14:03:05Z", "2025-01-31T14:03:05.1+02:00"],
            &[64, 65, 256, 257]
        )
        .prop_map(|text| serde_json::Value::String(text).to_string()),
        edge_u64().prop_map(|number| number.to_string()),
        any::<i64>().prop_map(|number| number.to_string()),
        any::<f64>().prop_map(|number| serde_json::json!(number).to_string()),
        prop::sample::select(vec![
            "null",
            "true",
            "{}",
            "[]",
            "{\"content\":\"x\"}",
            "{\"model\":\"m\"}",
            "{\"error\":\"e\"}"
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

/// Generated trace lines: mostly well-formed (seqs in order or implicit, one agent, object
/// data), each field sometimes missing or of the wrong type.
fn trace_file() -> BoxedStrategy<String> {
    let good =
        |values: &[&str]| prop::sample::select(values.iter().map(|value| format!("{value:?}")).collect::<Vec<_>>());
    let field = |key: &'static str, good: BoxedStrategy<String>| {
        prop_oneof![8 => good.prop_map(Some), 1 => Just(None), 1 => field_value().prop_map(Some)]
            .prop_map(move |value| value.map(|value| format!("\"{key}\":{value}")))
    };
    let line = (
        prop_oneof![Just(None), any::<bool>().prop_map(Some)],
        field("ts", good(&["2025-01-31T14:03:05.123Z", "2025-01-31T16:03:05+02:00"]).boxed()),
        field("type", good(&["run_started", "model_start", "final", "run_finished", "run_failed", "tool_end"]).boxed()),
        field("agent_id", good(&["a"]).boxed()),
        field("run_id", good(&["r1", "r2"]).boxed()),
        field(
            "data",
            prop::sample::select(vec!["{}", "{\"model\":\"m\"}", "{\"error\":\"e\"}", "\"text\"", "7"])
                .prop_map(str::to_owned)
                .boxed(),
        ),
    );
    prop::collection::vec(line, 0..8)
        .prop_map(|lines| {
            let lines: Vec<String> = lines
                .into_iter()
                .enumerate()
                .map(|(index, (seq, ts, kind, agent, run, data))| {
                    // A seq: none (implicit), this line's number, or a repeated one.
                    let seq = seq.map(|ordered| format!("\"seq\":{}", if ordered { index + 1 } else { 1 }));
                    let fields: Vec<String> = [seq, ts, kind, agent, run, data].into_iter().flatten().collect();
                    format!("{{{}}}", fields.join(","))
                })
                .collect();
            lines.join("\n")
        })
        .boxed()
}

/// Generated trace files.
#[test]
fn generated_trace_files_import_or_refuse() {
    let importer = Importer::new();
    let save = |text: &String| Found::new(KIND, "jsonl", text.clone().into_bytes());
    harness::run(TARGET, "generated", harness::cases(1), trace_file(), &save, |text| match import(&text, None) {
        Ok(planned) => importer.store(planned),
        Err(_) => Ok(()),
    });
}

/// Generated `ImportTrace` requests, as any client could send them (not only the CLI's parser):
/// any seq, time, type, ids and data.
#[test]
fn generated_requests_plan_or_refuse() {
    let importer = Importer::new();
    let event = (
        prop_oneof![3 => 0..6u64, 1 => edge_u64()],
        prop::option::of((any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| agentry_sdk::Timestamp { seconds, nanos })),
        text(&["run_started", "model_start", "final", "run_finished", "run_failed", "run_cancelled"], &[64, 65]),
        prop_oneof![8 => Just("a".to_owned()), 1 => Just("b".to_owned()), 1 => text(&[], &[256, 257])],
        text(&["r1", "r2"], &[256, 257]),
        prop_oneof![
            4 => prop::sample::select(vec!["{}", "{\"model\":\"openai:gpt-test\"}", "{\"error\":\"e\"}"]).prop_map(str::to_owned),
            1 => text(&["[]", "{", "null"], &[]),
        ],
    )
        .prop_map(|(seq, ts, r#type, agent_id, run_id, data)| ImportedEvent { seq, ts, r#type, agent_id, run_id, data });
    let strategy = (
        prop_oneof![3 => Just("trace.jsonl".to_owned()), 1 => text(&[], &[256, 257])],
        prop::collection::vec(event, 0..6),
        prop_oneof![3 => Just(None), 1 => prop::sample::select(vec!["a", "b", "c"]).prop_map(Some)],
        prop::bool::weighted(0.7),
    );
    harness::run(
        TARGET,
        "requests",
        harness::cases(1),
        strategy,
        &|_| None,
        |(source, mut events, picked, ordered)| {
            if ordered {
                // Seqs 1, 2, 3...: the order a trace has (else the generated seqs, often out of order).
                for (seq, event) in (1..).zip(&mut events) {
                    event.seq = seq;
                }
            }
            match plan(command(&source, events, picked), AgentId::generate(), NOW_MS) {
                Ok(planned) => importer.store(planned),
                Err(_) => Ok(()),
            }
        },
    );
}
