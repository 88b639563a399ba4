//! Rows as both databases return them, and their checked conversion into domain types.
//!
//! Columns are plain SQL types (text, 64-bit integers) so one `FromRow` derive serves both
//! backends. Anything that does not decode is reported as [`Error::Corrupt`], naming the column.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use agentry_core::{
    Agent, AgentSpec, Message, NodeId, NodeInfo, NodeState, Role, Run, RunStatus, ToolCall, TraceEvent, TraceParent,
};

use crate::api::{PlaceableRun, StoredMessage};
use crate::error::{Error, Result};
use agentry_core::budget::{BudgetLimits, BudgetState, Spend};

/// A row of `agents` (or the agent columns of `agent_summaries`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AgentRow {
    pub(crate) id: String,
    pub(crate) spec: String,
    pub(crate) labels: String,
    pub(crate) parent_id: Option<String>,
    pub(crate) created_ms: i64,
    pub(crate) last_seq: i64,
    /// Absent from statements that do not select it (then `None`).
    #[sqlx(default)]
    pub(crate) budget_id: Option<String>,
    /// Absent from statements that do not select it (then `None`: a live agent).
    #[sqlx(default)]
    pub(crate) imported_from: Option<String>,
    /// Absent from statements that do not select it (then `None`: not a fork).
    #[sqlx(default)]
    pub(crate) forked_from: Option<String>,
    /// With `forked_from`: the seq it branched at.
    #[sqlx(default)]
    pub(crate) forked_at_seq: Option<i64>,
    /// Selected by every statement: an agent read without its tenant would escape its
    /// tenant's checks.
    pub(crate) tenant: String,
}

/// A row of `runs`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RunRow {
    id: String,
    pub(crate) agent_id: String,
    status: String,
    epoch: i64,
    node_id: Option<String>,
    input: String,
    error: Option<String>,
    created_ms: i64,
    updated_ms: i64,
    wait_reason: Option<String>,
    /// Absent from the column lists of `agent_summaries` (a listing needs no trace).
    #[sqlx(default)]
    traceparent: Option<String>,
}

/// A row of `placeable_runs.sql`: a run with its agent's spec and previous node.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PlaceableRow {
    #[sqlx(flatten)]
    pub(crate) run: RunRow,
    pub(crate) agent_spec: String,
    pub(crate) previous_node_id: Option<String>,
}

/// A row of `run_counts.sql`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RunCountRow {
    pub(crate) status: String,
    pub(crate) placed: i64,
    pub(crate) count: i64,
}

/// A row of `node_loads.sql`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct NodeLoadRow {
    pub(crate) node_id: String,
    pub(crate) load: i64,
}

/// The `run_*` columns of `agent_summaries`: all NULL when the agent has no run.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LatestRunRow {
    run_id: Option<String>,
    run_status: Option<String>,
    run_epoch: Option<i64>,
    run_node_id: Option<String>,
    run_input: Option<String>,
    run_error: Option<String>,
    run_created_ms: Option<i64>,
    run_updated_ms: Option<i64>,
    run_wait_reason: Option<String>,
    /// Selected by `create_agent(s).sql`; absent from the `agent_summaries` view.
    #[sqlx(default)]
    run_traceparent: Option<String>,
}

/// A row of the `agent_summaries` view.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AgentSummaryRow {
    #[sqlx(flatten)]
    pub(crate) agent: AgentRow,
    #[sqlx(flatten)]
    pub(crate) latest_run: LatestRunRow,
}

/// A row of `messages`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MessageRow {
    idx: i64,
    run_id: String,
    role: String,
    content: String,
    tool_calls: String,
    tool_call_id: Option<String>,
    /// Absent from statements that do not select it (then `None`).
    #[sqlx(default)]
    seq: Option<i64>,
}

/// A row of `events`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    agent_id: String,
    seq: i64,
    run_id: String,
    kind: String,
    data: String,
    ts_ms: i64,
    traceparent: Option<String>,
}

/// A row of `nodes`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct NodeRow {
    id: String,
    name: String,
    state: String,
    slots: i64,
    running: i64,
    labels: String,
    last_heartbeat_ms: i64,
}

/// A row of `select_commit_marker.sql`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CommitMarkerRow {
    /// Id of the run's last applied commit.
    pub(crate) last_commit_id: Option<String>,
    /// The agent's highest event seq.
    pub(crate) last_seq: i64,
}

/// A row of `budgets`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BudgetRow {
    id: String,
    max_tokens: Option<i64>,
    max_cost_usd: Option<f64>,
    used_tokens: i64,
    used_cost_usd: f64,
    reserved_tokens: i64,
    reserved_cost_usd: f64,
}

impl TryFrom<BudgetRow> for BudgetState {
    type Error = Error;

    fn try_from(row: BudgetRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            limits: BudgetLimits {
                max_tokens: row.max_tokens.map(|max| unsigned("budgets.max_tokens", max)).transpose()?,
                max_cost_usd: row.max_cost_usd,
            },
            used: Spend { tokens: unsigned("budgets.used_tokens", row.used_tokens)?, cost_usd: row.used_cost_usd },
            reserved: Spend {
                tokens: unsigned("budgets.reserved_tokens", row.reserved_tokens)?,
                cost_usd: row.reserved_cost_usd,
            },
        })
    }
}

/// A row of `select_run_budget.sql`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RunBudgetRow {
    pub(crate) budget_id: Option<String>,
    pub(crate) reserved_tokens: i64,
    pub(crate) reserved_cost_usd: f64,
    pub(crate) settled_step: i64,
}

/// A row of `select_load_events.sql`: an event's kind and JSON data.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KindDataRow {
    pub(crate) kind: String,
    pub(crate) data: String,
}

/// The counters of an agent after a commit reserved its positions.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AgentPositions {
    /// Highest event seq given out.
    pub(crate) last_seq: i64,
    /// Number of messages, i.e. the index after the last one.
    pub(crate) message_count: i64,
}

impl TryFrom<AgentRow> for Agent {
    type Error = Error;

    fn try_from(row: AgentRow) -> Result<Self> {
        Ok(Self {
            id: parse("agents.id", &row.id)?,
            spec: serde_json::from_str::<AgentSpec>(&row.spec).map_err(corrupt("agents.spec"))?,
            labels: decode_labels("agents.labels", &row.labels)?,
            parent_id: row.parent_id.as_deref().map(|text| parse("agents.parent_id", text)).transpose()?,
            created_ms: row.created_ms,
            last_seq: unsigned("agents.last_seq", row.last_seq)?,
            budget_id: row.budget_id,
            imported_from: row.imported_from,
            forked_from: match (row.forked_from.as_deref(), row.forked_at_seq) {
                (Some(source), Some(seq)) => {
                    Some((parse("agents.forked_from", source)?, unsigned("agents.forked_at_seq", seq)?))
                }
                _ => None,
            },
            tenant: row.tenant,
        })
    }
}

impl TryFrom<RunRow> for Run {
    type Error = Error;

    fn try_from(row: RunRow) -> Result<Self> {
        Ok(Self {
            id: parse("runs.id", &row.id)?,
            agent_id: parse("runs.agent_id", &row.agent_id)?,
            status: parse::<RunStatus>("runs.status", &row.status)?,
            epoch: unsigned("runs.epoch", row.epoch)?,
            node_id: row.node_id.as_deref().map(|text| parse("runs.node_id", text)).transpose()?,
            input: row.input,
            error: row.error,
            wait_reason: row.wait_reason,
            created_ms: row.created_ms,
            updated_ms: row.updated_ms,
            trace_parent: row.traceparent.as_deref().and_then(TraceParent::parse),
        })
    }
}

impl AgentSummaryRow {
    /// Splits the row into the agent and its latest run.
    pub(crate) fn into_parts(self) -> Result<(Agent, Option<Run>)> {
        let agent_id = self.agent.id.clone();
        let agent = Agent::try_from(self.agent)?;
        let latest = self.latest_run;
        let Some(run_id) = latest.run_id else {
            return Ok((agent, None));
        };
        let missing = |column: &str| Error::Corrupt(format!("agent_summaries.{column} is NULL for run {run_id}"));
        let row = RunRow {
            agent_id,
            status: latest.run_status.ok_or_else(|| missing("run_status"))?,
            epoch: latest.run_epoch.ok_or_else(|| missing("run_epoch"))?,
            node_id: latest.run_node_id,
            input: latest.run_input.ok_or_else(|| missing("run_input"))?,
            error: latest.run_error,
            created_ms: latest.run_created_ms.ok_or_else(|| missing("run_created_ms"))?,
            updated_ms: latest.run_updated_ms.ok_or_else(|| missing("run_updated_ms"))?,
            wait_reason: latest.run_wait_reason,
            traceparent: latest.run_traceparent,
            id: run_id,
        };
        Ok((agent, Some(Run::try_from(row)?)))
    }
}

impl TryFrom<MessageRow> for StoredMessage {
    type Error = Error;

    fn try_from(row: MessageRow) -> Result<Self> {
        let role = Role::parse(&row.role)
            .ok_or_else(|| Error::Corrupt(format!("messages.role: unknown role {:?}", row.role)))?;
        let tool_calls =
            serde_json::from_str::<Vec<ToolCall>>(&row.tool_calls).map_err(corrupt("messages.tool_calls"))?;
        Ok(Self {
            index: unsigned("messages.idx", row.idx)?,
            message: Message {
                role,
                content: row.content,
                tool_calls,
                tool_call_id: row.tool_call_id,
                run_id: Some(parse("messages.run_id", &row.run_id)?),
            },
            seq: row.seq.map(|seq| unsigned("messages.seq", seq)).transpose()?,
        })
    }
}

impl TryFrom<EventRow> for TraceEvent {
    type Error = Error;

    fn try_from(row: EventRow) -> Result<Self> {
        Ok(Self {
            seq: unsigned("events.seq", row.seq)?,
            agent_id: parse("events.agent_id", &row.agent_id)?,
            run_id: parse("events.run_id", &row.run_id)?,
            kind: row.kind,
            data: serde_json::from_str(&row.data).map_err(corrupt("events.data"))?,
            ts_ms: row.ts_ms,
            trace: row.traceparent.as_deref().and_then(TraceParent::parse),
        })
    }
}

impl TryFrom<NodeRow> for NodeInfo {
    type Error = Error;

    fn try_from(row: NodeRow) -> Result<Self> {
        Ok(Self {
            id: parse("nodes.id", &row.id)?,
            name: row.name,
            state: parse::<NodeState>("nodes.state", &row.state)?,
            slots: u32::try_from(row.slots).map_err(corrupt("nodes.slots"))?,
            running: u32::try_from(row.running).map_err(corrupt("nodes.running"))?,
            labels: decode_labels("nodes.labels", &row.labels)?,
            last_heartbeat_ms: row.last_heartbeat_ms,
        })
    }
}

/// Returns a database integer for a count or epoch. Values beyond `i64::MAX` saturate: they
/// cannot be stored, so comparing against the saturated value gives the same answer.
pub(crate) fn to_db_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Checks the encoding of a value stored as JSON text (labels, specs, tool calls, event data),
/// e.g. `json_text("agent spec", serde_json::to_string(&spec))`.
pub(crate) fn json_text(what: &str, encoded: serde_json::Result<String>) -> Result<String> {
    encoded.map_err(|error| Error::Corrupt(format!("cannot encode {what} as JSON: {error}")))
}

fn decode_labels(column: &str, text: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(corrupt(column))
}

pub(crate) fn parse<T>(column: &str, text: &str) -> Result<T>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse().map_err(corrupt(column))
}

fn unsigned(column: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("{column}: {value} is negative")))
}

fn corrupt<E: Display>(column: &str) -> impl FnOnce(E) -> Error + '_ {
    move |error| Error::Corrupt(format!("{column}: {error}"))
}

impl TryFrom<PlaceableRow> for PlaceableRun {
    type Error = Error;

    fn try_from(row: PlaceableRow) -> Result<Self> {
        let spec: AgentSpec = serde_json::from_str(&row.agent_spec).map_err(corrupt("agents.spec"))?;
        Ok(Self {
            run: Run::try_from(row.run)?,
            node_selector: spec.node_selector,
            previous_node: row.previous_node_id.as_deref().map(|text| parse("runs.node_id", text)).transpose()?,
        })
    }
}

impl TryFrom<NodeLoadRow> for (NodeId, u32) {
    type Error = Error;

    fn try_from(row: NodeLoadRow) -> Result<Self> {
        let load =
            u32::try_from(row.load).map_err(|_| Error::Corrupt(format!("node load {} out of range", row.load)))?;
        Ok((parse("runs.node_id", &row.node_id)?, load))
    }
}
