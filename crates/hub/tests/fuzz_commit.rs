//! Fuzz target `commit_payload` (see fuzz/README.md): what the hub does with a node's
//! `CommitRequest` before it stores it — protobuf decoding, `validate::commit_id`,
//! `CommitBatch::try_from` (ids, statuses, roles, event data as JSON, budget costs, delegations)
//! — then the store's commit itself (SQLite in memory, on a run placed at a known epoch). Also
//! the other payloads crossing the node boundary: `LeaseRequest` beats (hub side) and
//! `LoadRunResponse` (node side). Fed the corpus `fuzz/corpus/commit_payload/`, its mutations
//! and generated messages. Every input must be accepted or refused, never panic; a batch that
//! decodes must re-encode to itself; a commit the store accepts must read back.

#[path = "../../../fuzz/support/harness.rs"]
mod harness;
#[path = "../../../fuzz/support/proto.rs"]
mod proto;

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use tokio::runtime::Runtime;

use agent_hub::validate;
use agentry_core::{AgentId, AgentSpec, CommitBatch, Heartbeat, LoadedRun, NodeId, NodeInfo, NodeState, RunId};
use agentry_proto::v1 as pb;
use agentry_store::{NewAgent, NewRun, SqliteStore, Store};
use prost::Message;

use harness::{Found, Seed, fail};

const TARGET: &str = "commit_payload";

/// Protobuf wire pieces: tags of the commit's fields, long varints, JSON delimiters.
const TOKENS: &[&str] = &[
    "\u{0a}\u{24}",
    "\u{1a}\u{00}",
    "\u{22}\u{00}",
    "\u{42}\u{00}",
    "\u{4a}\u{00}",
    "\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{01}",
    "\u{80}\u{80}\u{80}\u{80}\u{10}",
    "{}",
    "{\"dead_letter\":true}",
    "\"",
    "null",
];

/// The hub's `NodeService.Commit` before the store: `validate::commit_id`, then the conversion.
fn decode_commit(request: pb::CommitRequest) -> Result<CommitBatch, String> {
    validate::commit_id(&request.commit_id).map_err(|error| error.to_string())?;
    CommitBatch::try_from(request).map_err(|error| error.to_string())
}

/// [`decode_commit`], then: the batch re-encodes to a request that decodes to the same batch
/// (what a node sends is what the hub stores).
fn check_commit(request: pb::CommitRequest) -> Result<Option<CommitBatch>, TestCaseError> {
    let Ok(batch) = decode_commit(request) else { return Ok(None) };
    let again = CommitBatch::try_from(pb::CommitRequest::from(&batch));
    if again.as_ref() != Ok(&batch) {
        return Err(fail(format!("a decoded batch does not survive the wire: {batch:?} became {again:?}")));
    }
    Ok(Some(batch))
}

/// A payload of the node boundary, by corpus directory.
fn decode_payload(kind: &str, bytes: &[u8]) -> Result<(), String> {
    match kind {
        "commit" => {
            let request = pb::CommitRequest::decode(bytes).map_err(|error| error.to_string())?;
            check_commit(request).map_err(|error| error.to_string())?.map(drop).ok_or("refused".to_owned())
        }
        "lease" => {
            let beat = pb::LeaseRequest::decode(bytes).map_err(|error| error.to_string())?;
            Heartbeat::try_from(beat).map(drop).map_err(|error| error.to_string())
        }
        _ => {
            let response = pb::LoadRunResponse::decode(bytes).map_err(|error| error.to_string())?;
            LoadedRun::try_from(response).map(drop).map_err(|error| error.to_string())
        }
    }
}

const KINDS: [&str; 3] = ["commit", "lease", "load_run"];

/// Returns the protobuf bytes of a corpus file of `kind` (a `.json` file is proto3 JSON, which
/// may itself be refused).
fn seed_bytes(kind: &str, seed: &Seed) -> Result<Vec<u8>, String> {
    fn encode<T: Message + serde::de::DeserializeOwned>(seed: &Seed) -> Result<Vec<u8>, String> {
        let message: T = serde_json::from_slice(&seed.bytes).map_err(|error| format!("not proto3 JSON: {error}"))?;
        Ok(message.encode_to_vec())
    }
    match (seed.ext.as_str(), kind) {
        ("json", "commit") => encode::<pb::CommitRequest>(seed),
        ("json", "lease") => encode::<pb::LeaseRequest>(seed),
        ("json", _) => encode::<pb::LoadRunResponse>(seed),
        _ => Ok(seed.bytes.clone()),
    }
}

/// Returns the protobuf bytes of the corpus files of `kinds` that have some.
fn seeds(kinds: &[&str]) -> Vec<Vec<u8>> {
    kinds
        .iter()
        .flat_map(|kind| harness::corpus(TARGET, kind).into_iter().filter_map(|seed| seed_bytes(kind, &seed).ok()))
        .collect()
}

/// Every corpus file decodes without a panic; `ok-` files are accepted, `err-` refused.
#[test]
fn corpus_replays() {
    for kind in KINDS {
        for seed in harness::corpus(TARGET, kind) {
            let outcome = seed_bytes(kind, &seed).and_then(|bytes| decode_payload(kind, &bytes));
            seed.check(outcome.is_ok(), &outcome);
        }
    }
}

/// Mutated corpus payloads and random bytes, decoded as each payload.
#[test]
fn payload_bytes_decode() {
    let strategy = (prop::sample::select(KINDS.to_vec()), harness::bytes_input(seeds(&KINDS), TOKENS, 512));
    let save = |(kind, bytes): &(&str, Vec<u8>)| Found::new(kind, "bin", bytes.clone());
    harness::run(TARGET, "payload_bytes", harness::cases(1), strategy, &save, |(kind, bytes)| {
        match decode_payload(kind, &bytes) {
            Err(error) if error.contains("does not survive the wire") => Err(fail(error)),
            _ => Ok(()),
        }
    });
}

/// Generated commits and beats.
#[test]
fn generated_payloads_decode() {
    let strategy = (proto::commit_request(Vec::new()), proto::lease_request());
    let save =
        |(commit, _): &(pb::CommitRequest, pb::LeaseRequest)| Found::new("commit", "bin", commit.encode_to_vec());
    harness::run(TARGET, "generated", harness::cases(1), strategy, &save, |(commit, beat)| {
        check_commit(commit)?;
        let _ = Heartbeat::try_from(beat);
        Ok(())
    });
}

/// A store with a node, making placed runs to commit to.
struct Placed {
    runtime: Runtime,
    store: Arc<SqliteStore>,
    node_id: NodeId,
}

impl Placed {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let store = Arc::new(runtime.block_on(SqliteStore::connect("sqlite::memory:")).expect("an in-memory store"));
        let node_id = NodeId::generate();
        let node = NodeInfo {
            id: node_id,
            name: "fuzz".to_owned(),
            state: NodeState::Ready,
            slots: 4,
            running: 0,
            labels: BTreeMap::new(),
            last_heartbeat_ms: agentry_core::clock::now_ms(),
        };
        runtime.block_on(store.register_node(node)).expect("registering the node");
        Self { runtime, store, node_id }
    }

    /// Returns a new agent's run, assigned to the node: `(agent, run, epoch)`.
    async fn placed_run(&self) -> (AgentId, RunId, u64) {
        let agent = NewAgent {
            id: AgentId::generate(),
            spec: AgentSpec {
                model: "openai:gpt-test".to_owned(),
                tools: Vec::new(),
                system: String::new(),
                max_iterations: 4,
                node_selector: BTreeMap::new(),
                temperature: None,
                tool_choice: None,
                mcp_servers: BTreeMap::new(),
                team: None,
            },
            labels: BTreeMap::new(),
            parent_id: None,
            idempotency_key: None,
            budget_id: Some(format!("budget-{}", AgentId::generate())),
            budget_limits: Some(agentry_core::budget::BudgetLimits { max_tokens: Some(1000), max_cost_usd: Some(1.0) }),
            tenant: agentry_core::DEFAULT_TENANT.to_owned(),
        };
        let run = NewRun { id: RunId::generate(), input: "hi".to_owned(), trace_parent: None };
        let (agent, run) = self.store.create_agent(agent, Some(run)).await.expect("creating the agent");
        let run = run.expect("its first run");
        let assigned = self.store.assign_run(run.id, self.node_id, run.epoch).await.expect("assigning the run");
        (agent.id, assigned.id, assigned.epoch)
    }
}

/// Decoded commits (mutated corpus, generated) applied to a run placed at a known epoch: the
/// store accepts or refuses each without a panic, and reads back what it accepted.
#[test]
fn decoded_commits_store_or_refuse() {
    let placed = Placed::new();
    let decoded = harness::mutated(seeds(&["commit"]), TOKENS)
        .prop_filter_map("a commit that decodes", |bytes| pb::CommitRequest::decode(bytes.as_slice()).ok());
    let request = prop_oneof![decoded, proto::commit_request(Vec::new())];
    // Most commits target the placed run at its epoch; some keep their own run id and epoch.
    let strategy = (request, prop::bool::weighted(0.85));
    let save = |(request, _): &(pb::CommitRequest, bool)| Found::new("commit", "bin", request.encode_to_vec());
    harness::run(TARGET, "store_commit", harness::cases(4), strategy, &save, |(mut request, on_placed_run)| {
        placed.runtime.block_on(async {
            let (agent_id, run_id, epoch) = placed.placed_run().await;
            if on_placed_run {
                request.run_id = run_id.to_string();
                request.epoch = epoch;
            }
            let Some(batch) = check_commit(request)? else { return Ok(()) };
            if placed.store.commit(batch).await.is_ok() {
                let events = placed.store.events_after(agent_id, None, 0, 1000).await;
                if let Err(error) = events {
                    return Err(fail(format!("an accepted commit does not read back: {error}")));
                }
                if let Err(error) = placed.store.get_agent(agent_id).await {
                    return Err(fail(format!("the agent of an accepted commit does not read back: {error}")));
                }
            }
            Ok(())
        })
    });
}
