//! Fuzz target `hub_requests` (see fuzz/README.md), pure part: what the hub checks of a client's
//! `Spawn`, `SendMessage`, `Fork` and `ImportTrace` before it acts (`ImportTrace`: the wire
//! events as the handler converts them, then `import::plan`), and every function of
//! `validate`, fed the
//! corpus `fuzz/corpus/hub_requests/`, mutations of it as protobuf bytes and as proto3 JSON (the
//! gateway's form), and generated messages. Every input must be accepted or refused with an
//! error, never panic; an accepted spec must survive the wire and validation again unchanged.
//! `fuzz_requests_live.rs` sends the same kinds of requests through a running hub.

#[path = "../../../fuzz/support/harness.rs"]
mod harness;
#[path = "../../../fuzz/support/proto.rs"]
mod proto;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use proptest::prelude::*;

use agent_hub::HubConfig;
use agent_hub::fork::ForkCommand;
use agent_hub::import::{ImportCommand, SourceEvent, plan};
use agent_hub::templates::{TEMPLATE_LABEL, TemplateLibrary};
use agent_hub::validate;
use agentry_core::limits::MAX_SYSTEM_PROMPT_BYTES;
use agentry_core::models::ModelsConfig;
use agentry_core::templates::{MAX_TEMPLATE_VARS, TeamLimits, expand, is_var_name};
use agentry_core::{AgentId, AgentSpec, NodeId, RunId};
use agentry_proto::v1 as pb;
use prost::Message;

use harness::{Found, Seed, fail, text};

const TARGET: &str = "hub_requests";

/// Delimiters, keywords and extreme numbers of protobuf and JSON.
const TOKENS: &[&str] = &[
    "\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{01}",
    "\n\u{7f}",
    "\u{0a}\u{80}\u{80}\u{80}\u{80}\u{08}",
    "\u{12}\u{00}",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "null",
    "-1",
    "1e999",
    "18446744073709551616",
    "\"NaN\"",
    "\"\\u0000\"",
    "\"RUN_STATUS_FAILED\"",
    "\"spec\":{\"model\":\"openai:gpt-test\"}",
    "\"team\":{\"roles\":{\"r\":{}}}",
];

/// The hub's checks of client requests, from the public parts its handlers call
/// (`grpc/agent_hub.rs`, `templates/spawn.rs`, `fork.rs`), in their order.
struct Checks {
    models: ModelsConfig,
    library: TemplateLibrary,
    limits: TeamLimits,
}

impl Checks {
    fn new() -> Self {
        let config = HubConfig::default();
        Self {
            models: ModelsConfig::default(),
            library: TemplateLibrary::builtin().expect("the built-in templates"),
            limits: TeamLimits { max_depth: config.max_delegation_depth, max_parallel: config.max_parallel_agents },
        }
    }

    /// `Spawn`: the spec (a template expanded with its variables, or the spec alone), input,
    /// labels, parent, idempotency key, budget. Returns the spec to store.
    fn spawn(&self, request: pb::SpawnRequest) -> Result<AgentSpec, String> {
        let spec = self.spawn_spec(request.spec, &request.template, request.vars)?;
        if let Some(input) = &request.input {
            validate::input("input", input).map_err(|error| error.to_string())?;
        }
        let mut labels: BTreeMap<String, String> = request.labels.into_iter().collect();
        if !request.template.is_empty() {
            labels.insert(TEMPLATE_LABEL.to_owned(), request.template);
        }
        validate::labels("labels", &labels).map_err(|error| error.to_string())?;
        validate::optional_id::<AgentId>("parent_id", &request.parent_id).map_err(|error| error.to_string())?;
        validate::idempotency_key(&request.idempotency_key).map_err(|error| error.to_string())?;
        validate::budget(request.max_tokens, request.max_cost_usd).map_err(|error| error.to_string())?;
        Ok(spec)
    }

    /// `templates::spawn_spec` (crate-private): the same steps.
    fn spawn_spec(
        &self,
        spec: Option<pb::AgentSpec>,
        template: &str,
        vars: HashMap<String, String>,
    ) -> Result<AgentSpec, String> {
        if template.is_empty() {
            if !vars.is_empty() {
                return Err("vars are given without a template".to_owned());
            }
            let spec = spec.ok_or("spec is required")?;
            return validate::spec(AgentSpec::from(spec), &self.models, None).map_err(|error| error.to_string());
        }
        if vars.len() > MAX_TEMPLATE_VARS {
            return Err("too many vars".to_owned());
        }
        if let Some((name, _)) =
            vars.iter().find(|(name, value)| !is_var_name(name) || value.len() > MAX_SYSTEM_PROMPT_BYTES)
        {
            return Err(format!("vars: {name:?} refused"));
        }
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        let overrides = AgentSpec::from(spec.unwrap_or_default());
        let expanded =
            expand(&self.library, template, &vars, &overrides, self.limits).map_err(|error| error.to_string())?;
        validate::spec(expanded, &self.models, None).map_err(|error| error.to_string())
    }

    /// `SendMessage`: agent id, input, `on_busy`.
    fn send_message(&self, request: pb::SendMessageRequest) -> Result<(), String> {
        validate::id::<AgentId>("agent_id", &request.agent_id).map_err(|error| error.to_string())?;
        validate::input("input", &request.input).map_err(|error| error.to_string())?;
        pb::OnBusy::try_from(request.on_busy).map_err(|_| format!("on_busy: {} is not an OnBusy", request.on_busy))?;
        Ok(())
    }

    /// `Fork`: [`ForkCommand::from_request`].
    fn fork(&self, request: pb::ForkRequest) -> Result<(), String> {
        ForkCommand::from_request(request).map(drop).map_err(|error| error.to_string())
    }

    /// `ImportTrace`: the handler's conversion of the wire events (crate-private), then
    /// [`plan`].
    fn import_trace(&self, request: pb::ImportTraceRequest) -> Result<(), String> {
        let events = request
            .events
            .into_iter()
            .map(|event| SourceEvent {
                seq: event.seq,
                ts_ms: event.ts.as_ref().map(|ts| agentry_proto::convert::timestamp_ms(Some(ts))),
                kind: event.r#type,
                agent_id: event.agent_id,
                run_id: event.run_id,
                data: event.data,
            })
            .collect();
        let command = ImportCommand {
            source: request.source,
            labels: request.labels.into_iter().collect(),
            agent_id: Some(request.agent_id).filter(|agent_id| !agent_id.is_empty()),
            events,
            ..ImportCommand::default()
        };
        plan(command, AgentId::generate(), agentry_core::clock::now_ms()).map(drop).map_err(|error| error.to_string())
    }
}

/// A request of one of the four kinds.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant, reason = "a few test inputs at a time")]
enum Request {
    Spawn(pb::SpawnRequest),
    SendMessage(pb::SendMessageRequest),
    Fork(pb::ForkRequest),
    ImportTrace(pb::ImportTraceRequest),
}

/// The corpus directories, one per kind.
const KINDS: [&str; 4] = ["spawn", "send_message", "fork", "import_trace"];

impl Request {
    /// Decodes `bytes` as protobuf (`.bin`, `.hex`) or proto3 JSON (`.json`) of `kind`.
    fn decode(kind: &str, format: &str, bytes: &[u8]) -> Result<Self, String> {
        fn read<T: Message + Default + serde::de::DeserializeOwned>(format: &str, bytes: &[u8]) -> Result<T, String> {
            match format {
                "json" => serde_json::from_slice(bytes).map_err(|error| format!("not a JSON request: {error}")),
                _ => T::decode(bytes).map_err(|error| format!("not a protobuf request: {error}")),
            }
        }
        Ok(match kind {
            "spawn" => Self::Spawn(read(format, bytes)?),
            "send_message" => Self::SendMessage(read(format, bytes)?),
            "fork" => Self::Fork(read(format, bytes)?),
            "import_trace" => Self::ImportTrace(read(format, bytes)?),
            other => panic!("no request kind {other}"),
        })
    }

    /// Returns its corpus directory.
    fn kind(&self) -> &'static str {
        match self {
            Self::Spawn(_) => "spawn",
            Self::SendMessage(_) => "send_message",
            Self::Fork(_) => "fork",
            Self::ImportTrace(_) => "import_trace",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Spawn(request) => request.encode_to_vec(),
            Self::SendMessage(request) => request.encode_to_vec(),
            Self::Fork(request) => request.encode_to_vec(),
            Self::ImportTrace(request) => request.encode_to_vec(),
        }
    }

    /// Checks the request; accepted Spawn specs must round-trip.
    fn check(self, checks: &Checks) -> Result<(), String> {
        match self {
            Self::Spawn(request) => {
                let spec = checks.spawn(request)?;
                let wire = AgentSpec::from(pb::AgentSpec::from(&spec));
                assert_eq!(wire, spec, "an accepted spec must survive the wire unchanged");
                let again = spec.clone().validated().map_err(|error| error.0);
                assert_eq!(again, Ok(spec), "an accepted spec must validate again unchanged");
                Ok(())
            }
            Self::SendMessage(request) => checks.send_message(request),
            Self::Fork(request) => checks.fork(request),
            Self::ImportTrace(request) => checks.import_trace(request),
        }
    }
}

fn seeds(kind: &str) -> Vec<Seed> {
    harness::corpus(TARGET, kind)
}

/// Every corpus file decodes and checks without a panic, `ok-` files are accepted and `err-`
/// files refused.
#[test]
fn corpus_replays() {
    let checks = Checks::new();
    for kind in KINDS {
        for seed in seeds(kind) {
            let outcome = Request::decode(kind, &seed.ext, &seed.bytes).and_then(|request| request.check(&checks));
            seed.check(outcome.is_ok(), &outcome);
        }
    }
}

/// Mutated corpus files as protobuf bytes, and random bytes, decoded as each kind.
#[test]
fn request_bytes_decode_and_check() {
    let checks = Checks::new();
    let encoded: Vec<Vec<u8>> = KINDS
        .iter()
        .flat_map(|kind| seeds(kind).into_iter().filter_map(|seed| Request::decode(kind, &seed.ext, &seed.bytes).ok()))
        .map(|request| request.encode())
        .collect();
    let strategy = (prop::sample::select(KINDS.to_vec()), harness::bytes_input(encoded, TOKENS, 512));
    let save = |(kind, bytes): &(&str, Vec<u8>)| Found::new(kind, "bin", bytes.clone());
    harness::run(TARGET, "request_bytes", harness::cases(1), strategy, &save, |(kind, bytes)| {
        if let Ok(request) = Request::decode(kind, "bin", &bytes) {
            let _ = request.check(&checks);
        }
        Ok(())
    });
}

/// Mutated JSON corpus files, as the gateway receives them (`POST /agentry.v1.AgentHub/Spawn`).
#[test]
fn request_json_decodes_and_checks() {
    let checks = Checks::new();
    let json: Vec<Vec<u8>> =
        KINDS.iter().flat_map(|kind| seeds(kind)).filter(|seed| seed.ext == "json").map(|seed| seed.bytes).collect();
    let strategy = (prop::sample::select(KINDS.to_vec()), harness::mutated(json, TOKENS));
    let save = |(kind, bytes): &(&str, Vec<u8>)| Found::new(kind, "json", bytes.clone());
    harness::run(TARGET, "request_json", harness::cases(1), strategy, &save, |(kind, bytes)| {
        if let Ok(request) = Request::decode(kind, "json", &bytes) {
            let _ = request.check(&checks);
        }
        Ok(())
    });
}

/// Generated requests of each kind.
#[test]
fn generated_requests_check() {
    let checks = Checks::new();
    let strategy = prop_oneof![
        2 => proto::spawn_request(proto::INPUT_LIMIT).prop_map(Request::Spawn),
        1 => proto::send_message_request(Vec::new(), proto::INPUT_LIMIT).prop_map(Request::SendMessage),
        1 => proto::fork_request(Vec::new(), Vec::new()).prop_map(Request::Fork),
        1 => proto::import_trace_request().prop_map(Request::ImportTrace),
    ];
    let save = |request: &Request| Found::new(request.kind(), "bin", request.encode());
    harness::run(TARGET, "generated", harness::cases(1), strategy, &save, |request| {
        let _ = request.check(&checks);
        Ok(())
    });
}

/// Scalar arguments of every other check of `validate` (cancel, pause, resume, approve, list,
/// cost, commit ids).
#[derive(Debug, Clone)]
struct Scalars {
    texts: Vec<String>,
    numbers: (u64, u64, i64),
    cost: f64,
    statuses: Vec<i32>,
}

/// Every function of `validate` on arbitrary arguments: errors, never a panic; results respect
/// the limits they document.
#[test]
fn validators_take_any_argument() {
    let strategy = (
        prop::collection::vec(text(&["0193a4f2-6c1e-7d3a-9b8e-2f1c0d4e5a6b", "call-1", "ops"], proto::LIMITS), 4),
        (harness::edge_u64(), harness::edge_u64(), any::<i64>()),
        harness::edge_f64(),
        prop::collection::vec(proto::run_status(), 0..4),
    )
        .prop_map(|(texts, numbers, cost, statuses)| Scalars { texts, numbers, cost, statuses });
    harness::run(TARGET, "validators", harness::cases(1), strategy, &|_| None, |scalars| {
        let Scalars { texts, numbers: (first, second, now_ms), cost, statuses } = scalars;
        for text in &texts {
            let _ = validate::input("input", text);
            if let Ok(Some(key)) = validate::idempotency_key(text)
                && key.len() > validate::MAX_IDEMPOTENCY_KEY_BYTES
            {
                return Err(fail("an accepted idempotency key is over the limit"));
            }
            if let Ok(reason) = validate::reason(text, "default")
                && reason.len() > validate::MAX_REASON_BYTES
            {
                return Err(fail("an accepted reason is over the limit"));
            }
            let _ = validate::tool_call_id(text);
            let _ = validate::actor(text);
            let _ = validate::commit_id(text);
            let _ = validate::agent_search(text);
            let _ = validate::page_token(text);
            let _ = validate::id::<RunId>("run_id", text);
            let _ = validate::optional_id::<NodeId>("node_id", text);
        }
        let labels: BTreeMap<String, String> = texts.chunks(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect();
        let _ = validate::labels("labels", &labels);
        let _ = validate::budget(Some(first), Some(cost));
        let _ = validate::budget_raise(second, cost);
        let _ = validate::run_statuses("statuses", &statuses);
        let bucket = Duration::from_millis(first);
        for window in [None, Some(Duration::from_millis(second)), Some(Duration::MAX)] {
            if let Ok(Some(bucket_ms)) = validate::cost_bucket(Some(bucket), window, now_ms)
                && !(validate::MIN_COST_BUCKET_MS as i64..=validate::MAX_COST_BUCKET_MS as i64).contains(&bucket_ms)
            {
                return Err(fail(format!("bucket {bucket_ms} ms accepted out of bounds")));
            }
        }
        Ok(())
    });
}
