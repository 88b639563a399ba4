//! proptest strategies of `agentry.v1` messages for the hub's fuzz targets (included with
//! `#[path]` next to `harness.rs`, which must be the sibling module `harness`). Values mix
//! well-formed fields (real tool names, `provider:model` references, UUIDs) with malformed and
//! oversized ones, so that generated requests reach the deep checks as well as the first ones.

#![allow(dead_code, reason = "each target uses part of the strategies")]

use std::collections::HashMap;

use proptest::prelude::*;

use agentry_proto::v1 as pb;

use super::harness::{edge_f32, edge_f64, edge_u32, edge_u64, id_text, text};

/// Sizes the hub limits (bytes): labels, ids, reasons, actors, prompts, inputs.
pub const LIMITS: &[usize] = &[63, 64, 256, 1024, 64 * 1024];
/// The user input limit (1 MiB), generated rarely (it is slow through a hub).
pub const INPUT_LIMIT: &[usize] = &[1024 * 1024];

/// Model references: configured-looking, `provider:model`, malformed.
pub const MODELS: &[&str] =
    &["openai:gpt-test", "anthropic:claude-test", "openai:", ":gpt", "gpt", "auto", "openai:gpt test", "a:b:c"];
/// Tool names: builtin, delegation, unknown.
pub const TOOLS: &[&str] =
    &["echo", "bash", "view", "write", "ls", "grep", "patch", "agent", "parallel_agents", "rm", "Bash"];
/// Label keys and values, variable names and other short identifiers.
pub const NAMES: &[&str] = &[
    "team",
    "team/a-b_c.d",
    "agentry.template",
    "agentry.imported-from",
    "has space",
    "a=b",
    "topic",
    "coder",
    "reviewer",
    "x",
    "-",
];
/// Template names: built-in and unknown.
pub const TEMPLATES: &[&str] = &["agent_0", "coder", "reviewer", "tester", "researcher", "nope"];
/// Tool choices.
pub const TOOL_CHOICES: &[&str] = &["auto", "none", "required", "bash", "agent", "view"];
/// Event types.
pub const EVENT_TYPES: &[&str] = &[
    "run_started",
    "model_start",
    "usage",
    "tool_start",
    "tool_end",
    "final",
    "run_finished",
    "run_failed",
    "run_cancelled",
    "token",
    "approval_requested",
];
/// Event data: JSON objects, other JSON, not JSON.
pub const EVENT_DATA: &[&str] = &[
    "{}",
    "{\"content\":\"done\"}",
    "{\"dead_letter\":true,\"error\":\"x\"}",
    "{\"model\":\"openai:gpt-test\",\"input\":\"hi\"}",
    "{\"input_tokens\":18446744073709551615,\"cost_usd\":1e308}",
    "[]",
    "null",
    "1e999",
    "\"text\"",
    "{",
    "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
];
/// Message roles.
pub const ROLES: &[&str] = &["user", "assistant", "tool", "system", "", "User", "robot"];
/// W3C traceparents: valid and not.
pub const TRACEPARENTS: &[&str] = &[
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-00000000000000000000000000000000-0000000000000000-00",
    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-xyz",
];

fn map(
    keys: BoxedStrategy<String>,
    values: BoxedStrategy<String>,
    max: usize,
) -> BoxedStrategy<HashMap<String, String>> {
    prop::collection::hash_map(keys, values, 0..max).boxed()
}

fn names() -> BoxedStrategy<String> {
    text(NAMES, &[63, 64, 65])
}

/// Label maps: mostly empty or valid (`zone=eu-1`), sometimes with odd keys and values.
fn labels() -> BoxedStrategy<HashMap<String, String>> {
    let valid = prop::collection::hash_map(
        prop::sample::select(vec!["zone", "team", "team/a-b_c.d", "gpu", "x.y"]).prop_map(str::to_owned),
        prop::sample::select(vec!["eu-1", "true", "", "a b"]).prop_map(str::to_owned),
        1..3,
    );
    prop_oneof![4 => Just(HashMap::new()), 3 => valid, 1 => map(names(), text(&["v"], &[256, 257]), 3)].boxed()
}

/// Values chosen mostly from `good` (`weight` to one), else any of `strategy`.
fn mostly<T: Clone + std::fmt::Debug + 'static>(good: Vec<T>, strategy: BoxedStrategy<T>) -> BoxedStrategy<T> {
    prop_oneof![3 => prop::sample::select(good), 1 => strategy].boxed()
}

/// Variable names of the built-in templates.
const VARS: &[&str] = &["language", "project", "style", "focus", "test_command"];

fn mcp_server() -> BoxedStrategy<pb::McpServer> {
    let stdio = (
        prop::collection::vec(text(&["npx", "/bin/server", "--flag"], &[8192]), 0..4),
        map(names(), text(&["1"], &[]), 3),
        any::<bool>(),
    )
        .prop_map(|(command, env, network)| pb::mcp_server::Transport::Stdio(pb::McpStdio { command, env, network }));
    let http = text(&["http://127.0.0.1:9/mcp", "https://example.invalid/mcp", "ftp://x", "http://"], &[2048])
        .prop_map(|url| pb::mcp_server::Transport::Http(pb::McpHttp { url }));
    prop::option::weighted(0.9, prop_oneof![stdio, http]).prop_map(|transport| pb::McpServer { transport }).boxed()
}

/// A spec without a team: mostly valid (a model, distinct builtin tools, defaults), each field
/// sometimes malformed.
fn flat_spec() -> BoxedStrategy<pb::AgentSpec> {
    let valid_tools = prop::sample::subsequence(vec!["echo", "bash", "view", "write", "ls", "grep"], 0..4)
        .prop_map(|tools| tools.into_iter().map(str::to_owned).collect::<Vec<_>>());
    (
        mostly(vec!["openai:gpt-test".to_owned()], text(MODELS, &[])),
        prop_oneof![3 => valid_tools, 1 => prop::collection::vec(text(TOOLS, &[]), 0..4)],
        mostly(vec![String::new(), "You review code.".to_owned()], text(&["Use {{topic}}"], &[64 * 1024])),
        prop_oneof![3 => 0..20u32, 1 => edge_u32()],
        prop_oneof![2 => Just(None), 2 => (0.0..=2.0f32).prop_map(Some), 1 => prop::option::of(edge_f32())],
        labels(),
        prop_oneof![4 => Just(String::new()), 1 => text(TOOL_CHOICES, &[])],
        prop_oneof![4 => Just(HashMap::new()), 1 => prop::collection::hash_map(names(), mcp_server(), 0..2)],
    )
        .prop_map(|(model, tools, system, max_iterations, temperature, node_selector, tool_choice, mcp_servers)| {
            pb::AgentSpec {
                model,
                tools,
                system,
                max_iterations,
                temperature,
                node_selector,
                tool_choice,
                mcp_servers,
                team: None,
            }
        })
        .boxed()
}

/// Agent specs, with teams nested up to three levels.
pub fn agent_spec() -> BoxedStrategy<pb::AgentSpec> {
    flat_spec()
        .prop_recursive(3, 12, 3, |inner| {
            (
                flat_spec(),
                prop::collection::hash_map(
                    mostly(vec!["coder".to_owned(), "reviewer".to_owned()], names()),
                    (text(&["Writes code"], &[]), prop::option::weighted(0.9, inner))
                        .prop_map(|(description, spec)| pb::TeamRole { description, spec }),
                    1..3,
                ),
                prop_oneof![3 => 1..8u32, 1 => edge_u32()],
            )
                .prop_map(|(spec, roles, max_parallel)| pb::AgentSpec {
                    team: Some(pb::Team { roles, max_parallel }),
                    ..spec
                })
        })
        .boxed()
}

/// A template and its variables: none; a built-in one with its variables; or anything.
fn template_and_vars() -> BoxedStrategy<(String, HashMap<String, String>)> {
    let values = || mostly(vec!["Rust".to_owned(), "agentry".to_owned()], text(&["x"], &[64 * 1024]));
    let builtin =
        prop::sample::select(vec!["agent_0", "coder", "reviewer", "tester", "researcher"]).prop_map(str::to_owned);
    let known_vars =
        prop::collection::hash_map(prop::sample::select(VARS.to_vec()).prop_map(str::to_owned), values(), 0..3);
    prop_oneof![
        4 => Just((String::new(), HashMap::new())),
        3 => (builtin, known_vars),
        1 => (text(TEMPLATES, &[]), map(names(), values(), 3)),
    ]
    .boxed()
}

/// `Spawn` requests: a spec or a template with variables, input, labels, budget.
pub fn spawn_request(input_limits: &'static [usize]) -> BoxedStrategy<pb::SpawnRequest> {
    (
        prop::option::weighted(0.9, agent_spec()),
        prop::option::weighted(0.8, mostly(vec!["hi".to_owned()], text(&["build it"], input_limits))),
        labels(),
        prop_oneof![6 => Just(String::new()), 1 => id_text()],
        mostly(vec![String::new(), "key-1".to_owned()], text(&[], &[256, 257])),
        prop_oneof![3 => Just(None), 1 => prop::option::of(edge_u64())],
        prop_oneof![3 => Just(None), 1 => Just(Some(2.5)), 1 => prop::option::of(edge_f64())],
        template_and_vars(),
    )
        .prop_map(|(spec, input, labels, parent_id, idempotency_key, max_tokens, max_cost_usd, (template, vars))| {
            pb::SpawnRequest {
                spec,
                input,
                labels,
                parent_id,
                idempotency_key,
                max_tokens,
                max_cost_usd,
                template,
                vars,
            }
        })
        .boxed()
}

/// `SendMessage` requests; agent ids from `agents` (known to the hub) or generated.
pub fn send_message_request(
    agents: Vec<String>,
    input_limits: &'static [usize],
) -> BoxedStrategy<pb::SendMessageRequest> {
    (
        known_or_generated(agents),
        text(&["next", "go on"], input_limits),
        text(&["", "k"], &[256, 257]),
        prop_oneof![3 => 0..4i32, 1 => any::<i32>()],
    )
        .prop_map(|(agent_id, input, idempotency_key, on_busy)| pb::SendMessageRequest {
            agent_id,
            input,
            idempotency_key,
            on_busy,
        })
        .boxed()
}

/// `Fork` requests; agent and run ids from `agents`/`runs` (known to the hub) or generated.
pub fn fork_request(agents: Vec<String>, runs: Vec<String>) -> BoxedStrategy<pb::ForkRequest> {
    use pb::fork_request::Point;
    let point = prop_oneof![
        Just(None),
        edge_u64().prop_map(|seq| Some(Point::AtSeq(seq))),
        edge_u64().prop_map(|index| Some(Point::AtMessageIndex(index))),
        (known_or_generated(runs), edge_u32())
            .prop_map(|(run_id, step)| Some(Point::AtStep(pb::ForkAtStep { run_id, step }))),
    ];
    (
        prop_oneof![1 => Just(String::new()), 3 => known_or_generated(agents)],
        point,
        prop_oneof![3 => 0..20u32, 1 => edge_u32()],
        text(MODELS, &[]),
        text(&["", "try again"], &[]),
        map(names(), names(), 3),
    )
        .prop_map(|(agent_id, point, count, model, input, labels)| pb::ForkRequest {
            agent_id,
            point,
            count,
            model,
            input,
            labels,
        })
        .boxed()
}

/// `ImportTrace` requests.
pub fn import_trace_request() -> BoxedStrategy<pb::ImportTraceRequest> {
    let agents = prop::sample::select(vec!["a", "b", ""]).prop_map(str::to_owned);
    let event = (
        prop_oneof![3 => 0..8u64, 1 => edge_u64()],
        prop::option::of((any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| pb_timestamp(seconds, nanos))),
        text(EVENT_TYPES, &[64, 65]),
        prop_oneof![4 => agents, 1 => text(&[], &[256, 257])],
        text(&["r1", "r2"], &[256, 257]),
        text(EVENT_DATA, &[]),
    )
        .prop_map(|(seq, ts, r#type, agent_id, run_id, data)| pb::ImportedEvent {
            seq,
            ts,
            r#type,
            agent_id,
            run_id,
            data,
        });
    (
        text(&["trace.jsonl"], &[256, 257]),
        map(names(), names(), 3),
        prop::collection::vec(event, 0..6),
        prop_oneof![3 => Just(String::new()), 1 => text(&["a", "b"], &[])],
    )
        .prop_map(|(source, labels, events, agent_id)| pb::ImportTraceRequest { source, labels, events, agent_id })
        .boxed()
}

fn pb_timestamp(seconds: i64, nanos: i32) -> agentry_proto::Timestamp {
    agentry_proto::Timestamp { seconds, nanos }
}

fn known_or_generated(known: Vec<String>) -> BoxedStrategy<String> {
    if known.is_empty() {
        return id_text();
    }
    prop_oneof![2 => prop::sample::select(known), 1 => id_text()].boxed()
}

/// Wire run statuses: the known ones and unknown numbers.
pub fn run_status() -> BoxedStrategy<i32> {
    prop_oneof![4 => 0..9i32, 1 => any::<i32>()].boxed()
}

/// Messages of a commit.
pub fn message() -> BoxedStrategy<pb::Message> {
    let call = (text(&["call-1"], &[]), text(TOOLS, &[]), text(&["{\"command\":\"ls\"}", "{"], &[]))
        .prop_map(|(id, name, arguments)| pb::ToolCall { id, name, arguments });
    (
        text(ROLES, &[]),
        text(&["done"], &[16 * 1024]),
        prop::collection::vec(call, 0..3),
        text(&["", "call-1"], &[]),
        prop_oneof![3 => Just(String::new()), 1 => id_text()],
        edge_u64(),
        edge_u64(),
    )
        .prop_map(|(role, content, tool_calls, tool_call_id, run_id, index, seq)| pb::Message {
            role,
            content,
            tool_calls,
            tool_call_id,
            run_id,
            index,
            seq,
        })
        .boxed()
}

/// Events of a commit.
pub fn event_draft() -> BoxedStrategy<pb::EventDraft> {
    (text(EVENT_TYPES, &[64, 65]), text(EVENT_DATA, &[]), any::<i64>(), text(TRACEPARENTS, &[]))
        .prop_map(|(r#type, data, ts_unix_ms, traceparent)| pb::EventDraft { r#type, data, ts_unix_ms, traceparent })
        .boxed()
}

/// Budget operations of a commit.
pub fn budget_op() -> BoxedStrategy<pb::BudgetOp> {
    (edge_u32(), edge_u64(), edge_f64(), any::<bool>(), edge_u64(), edge_f64())
        .prop_map(|(settle_step, settle_tokens, settle_cost_usd, reserve, reserve_tokens, reserve_cost_usd)| {
            pb::BudgetOp { settle_step, settle_tokens, settle_cost_usd, reserve, reserve_tokens, reserve_cost_usd }
        })
        .boxed()
}

/// Delegations of a commit (sub-agents to start).
pub fn delegation() -> BoxedStrategy<pb::Delegation> {
    (
        text(&["call-1"], &[]),
        edge_u32(),
        text(&["coder", "reviewer", ""], &[]),
        text(&["do it"], &[]),
        id_text(),
        id_text(),
        run_status(),
        text(&["", "ok"], &[]),
        text(&["", "boom"], &[]),
    )
        .prop_map(|(tool_call_id, position, role, input, child_agent_id, child_run_id, status, answer, error)| {
            pb::Delegation { tool_call_id, position, role, input, child_agent_id, child_run_id, status, answer, error }
        })
        .boxed()
}

/// `Commit` requests; `run_id` from `runs` or generated.
pub fn commit_request(runs: Vec<String>) -> BoxedStrategy<pb::CommitRequest> {
    (
        known_or_generated(runs),
        edge_u64(),
        prop::collection::vec(event_draft(), 0..4),
        prop::collection::vec(message(), 0..3),
        run_status(),
        text(&["", "boom"], &[]),
        text(&["", "c-1"], &[64, 65]),
        prop::option::of(budget_op()),
        prop::collection::vec(delegation(), 0..2),
        any::<bool>(),
    )
        .prop_map(|(run_id, epoch, events, messages, status, error, commit_id, budget, delegations, wake_parent)| {
            pb::CommitRequest {
                run_id,
                epoch,
                events,
                messages,
                status,
                error,
                commit_id,
                budget,
                delegations,
                wake_parent,
            }
        })
        .boxed()
}

/// Heartbeats of a `Lease` stream.
pub fn lease_request() -> BoxedStrategy<pb::LeaseRequest> {
    let lease = (id_text(), edge_u64()).prop_map(|(run_id, epoch)| pb::RunLease { run_id, epoch });
    (id_text(), edge_u32(), prop::collection::vec(lease, 0..4))
        .prop_map(|(node_id, running, leases)| pb::LeaseRequest { node_id, running, leases })
        .boxed()
}
