//! Runs, agents, messages, trace events and nodes ⇄ their `agentry.v1` messages.

use agentry_core::{
    Agent, AgentSpec, EventDraft, McpServer, Message, NodeInfo, NodeState, Role, Run, RunStatus, ToolCall, TraceEvent,
    TraceParent,
};

use agentry_core::budget::BudgetState;

use super::{WireError, id, non_empty, optional_id, text_or_empty, timestamp, timestamp_ms};
use crate::v1 as pb;

impl From<RunStatus> for pb::RunStatus {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Queued => Self::Queued,
            RunStatus::Running => Self::Running,
            RunStatus::Completed => Self::Completed,
            RunStatus::Failed => Self::Failed,
            RunStatus::Cancelled => Self::Cancelled,
            RunStatus::Paused => Self::Paused,
            RunStatus::WaitingApproval => Self::WaitingApproval,
            RunStatus::WaitingChildren => Self::WaitingChildren,
        }
    }
}

/// Returns the domain status of a wire status field (`field` names it in errors); `None` for
/// `RUN_STATUS_UNSPECIFIED`.
pub fn run_status_from(field: &str, value: i32) -> Result<Option<RunStatus>, WireError> {
    let status =
        pb::RunStatus::try_from(value).map_err(|_| WireError::new(field, format!("{value} is not a RunStatus")))?;
    Ok(match status {
        pb::RunStatus::Unspecified => None,
        pb::RunStatus::Queued => Some(RunStatus::Queued),
        pb::RunStatus::Running => Some(RunStatus::Running),
        pb::RunStatus::Completed => Some(RunStatus::Completed),
        pb::RunStatus::Failed => Some(RunStatus::Failed),
        pb::RunStatus::Cancelled => Some(RunStatus::Cancelled),
        pb::RunStatus::Paused => Some(RunStatus::Paused),
        pb::RunStatus::WaitingApproval => Some(RunStatus::WaitingApproval),
        pb::RunStatus::WaitingChildren => Some(RunStatus::WaitingChildren),
    })
}

/// Returns the lowercase domain name of a wire run status (`queued`, `running`, ...), or
/// `unknown(N)` for a value this build does not know.
pub fn run_status_name(value: i32) -> String {
    match run_status_from("status", value) {
        Ok(Some(status)) => status.as_str().to_owned(),
        _ => format!("unknown({value})"),
    }
}

impl From<&Run> for pb::Run {
    fn from(run: &Run) -> Self {
        Self {
            run_id: run.id.to_string(),
            agent_id: run.agent_id.to_string(),
            status: pb::RunStatus::from(run.status) as i32,
            epoch: run.epoch,
            node_id: run.node_id.map(|id| id.to_string()).unwrap_or_default(),
            input: run.input.clone(),
            error: text_or_empty(run.error.as_ref()),
            wait_reason: text_or_empty(run.wait_reason.as_ref()),
            traceparent: run.trace_parent.map(|trace| trace.to_string()).unwrap_or_default(),
            created_at: Some(timestamp(run.created_ms)),
            updated_at: Some(timestamp(run.updated_ms)),
        }
    }
}

impl TryFrom<pb::Run> for Run {
    type Error = WireError;

    fn try_from(run: pb::Run) -> Result<Self, WireError> {
        Ok(Self {
            id: id("run.run_id", &run.run_id)?,
            agent_id: id("run.agent_id", &run.agent_id)?,
            status: run_status_from("run.status", run.status)?.ok_or_else(|| WireError::missing("run.status"))?,
            epoch: run.epoch,
            node_id: optional_id("run.node_id", &run.node_id)?,
            input: run.input,
            error: non_empty(run.error),
            wait_reason: non_empty(run.wait_reason),
            created_ms: timestamp_ms(run.created_at.as_ref()),
            updated_ms: timestamp_ms(run.updated_at.as_ref()),
            trace_parent: TraceParent::parse(&run.traceparent),
        })
    }
}

impl From<&AgentSpec> for pb::AgentSpec {
    fn from(spec: &AgentSpec) -> Self {
        Self {
            model: spec.model.clone(),
            tools: spec.tools.clone(),
            system: spec.system.clone(),
            max_iterations: spec.max_iterations,
            temperature: spec.temperature,
            node_selector: spec.node_selector.clone().into_iter().collect(),
            tool_choice: spec.tool_choice.clone().unwrap_or_default(),
            mcp_servers: spec.mcp_servers.iter().map(|(name, server)| (name.clone(), server.into())).collect(),
            team: spec.team.as_ref().map(pb::Team::from),
        }
    }
}

impl From<&McpServer> for pb::McpServer {
    fn from(server: &McpServer) -> Self {
        let transport = match server {
            McpServer::Stdio { command, env, network } => pb::mcp_server::Transport::Stdio(pb::McpStdio {
                command: command.clone(),
                env: env.clone().into_iter().collect(),
                network: *network,
            }),
            McpServer::Http { url } => pb::mcp_server::Transport::Http(pb::McpHttp { url: url.clone() }),
        };
        Self { transport: Some(transport) }
    }
}

/// A server without a transport becomes a stdio server without a command, which
/// [`AgentSpec::validated`] rejects.
impl From<pb::McpServer> for McpServer {
    fn from(server: pb::McpServer) -> Self {
        match server.transport {
            Some(pb::mcp_server::Transport::Http(http)) => Self::Http { url: http.url },
            Some(pb::mcp_server::Transport::Stdio(stdio)) => {
                Self::Stdio { command: stdio.command, env: stdio.env.into_iter().collect(), network: stdio.network }
            }
            None => Self::Stdio { command: Vec::new(), env: Default::default(), network: false },
        }
    }
}

/// The spec as sent, not yet validated: the hub calls [`AgentSpec::validated`] on it.
impl From<pb::AgentSpec> for AgentSpec {
    fn from(spec: pb::AgentSpec) -> Self {
        Self {
            model: spec.model,
            tools: spec.tools,
            system: spec.system,
            max_iterations: spec.max_iterations,
            node_selector: spec.node_selector.into_iter().collect(),
            temperature: spec.temperature,
            tool_choice: Some(spec.tool_choice).filter(|choice| !choice.is_empty()),
            mcp_servers: spec.mcp_servers.into_iter().map(|(name, server)| (name, server.into())).collect(),
            team: spec.team.map(agentry_core::team::Team::from),
        }
    }
}

/// Returns the wire form of `agent` with its latest run, if any; without its budget (`budget`
/// is `None`: `GetAgent` sets it from [`pb::Budget::from`]).
pub fn agent(agent: &Agent, latest_run: Option<&Run>) -> pb::Agent {
    pb::Agent {
        agent_id: agent.id.to_string(),
        spec: Some(pb::AgentSpec::from(&agent.spec)),
        labels: agent.labels.clone().into_iter().collect(),
        parent_id: agent.parent_id.map(|id| id.to_string()).unwrap_or_default(),
        created_at: Some(timestamp(agent.created_ms)),
        latest_run: latest_run.map(pb::Run::from),
        last_seq: agent.last_seq,
        imported_from: text_or_empty(agent.imported_from.as_ref()),
        budget: None,
        forked_from: agent.forked_from.map(|(id, _)| id.to_string()).unwrap_or_default(),
        forked_at_seq: agent.forked_from.map_or(0, |(_, seq)| seq),
        tenant: agent.tenant.clone(),
    }
}

/// The wire form of a budget: its limits and what its calls used and reserved (tokens; the
/// reserved USD is not on the wire).
impl From<&BudgetState> for pb::Budget {
    fn from(budget: &BudgetState) -> Self {
        Self {
            budget_id: budget.id.clone(),
            max_tokens: budget.limits.max_tokens,
            max_cost_usd: budget.limits.max_cost_usd,
            used_tokens: budget.used.tokens,
            used_cost_usd: budget.used.cost_usd,
            reserved_tokens: budget.reserved.tokens,
        }
    }
}

impl From<&Message> for pb::Message {
    /// The wire message at index 0; set `index` for a stored message.
    fn from(message: &Message) -> Self {
        Self {
            role: message.role.as_str().to_owned(),
            content: message.content.clone(),
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| pb::ToolCall {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                })
                .collect(),
            tool_call_id: text_or_empty(message.tool_call_id.as_ref()),
            run_id: message.run_id.map(|id| id.to_string()).unwrap_or_default(),
            index: 0,
            seq: 0,
        }
    }
}

impl TryFrom<pb::Message> for Message {
    type Error = WireError;

    fn try_from(message: pb::Message) -> Result<Self, WireError> {
        let role = Role::parse(&message.role)
            .ok_or_else(|| WireError::new("messages.role", format!("unknown role {:?}", message.role)))?;
        Ok(Self {
            role,
            content: message.content,
            tool_calls: message
                .tool_calls
                .into_iter()
                .map(|call| ToolCall { id: call.id, name: call.name, arguments: call.arguments })
                .collect(),
            tool_call_id: non_empty(message.tool_call_id),
            run_id: optional_id("messages.run_id", &message.run_id)?,
        })
    }
}

impl From<&EventDraft> for pb::EventDraft {
    fn from(event: &EventDraft) -> Self {
        Self {
            r#type: event.kind.clone(),
            data: event.data.to_string(),
            ts_unix_ms: event.ts_ms,
            traceparent: event.trace.map(|trace| trace.to_string()).unwrap_or_default(),
        }
    }
}

impl TryFrom<pb::EventDraft> for EventDraft {
    type Error = WireError;

    fn try_from(event: pb::EventDraft) -> Result<Self, WireError> {
        let data = serde_json::from_str(&event.data).map_err(|error| {
            WireError::new("events.data", format!("data of {:?} is not JSON: {error}", event.r#type))
        })?;
        // An unreadable traceparent only loses the event's link to its span, never the event.
        Ok(Self { kind: event.r#type, data, ts_ms: event.ts_unix_ms, trace: TraceParent::parse(&event.traceparent) })
    }
}

/// Returns the wire form of a persisted event; `parent_agent_id` is the agent's parent, if any.
pub fn trace_event(event: &TraceEvent, parent_agent_id: Option<&str>) -> pb::TraceEvent {
    pb::TraceEvent {
        seq: event.seq,
        ts: Some(timestamp(event.ts_ms)),
        r#type: event.kind.clone(),
        agent_id: event.agent_id.to_string(),
        run_id: event.run_id.to_string(),
        parent_agent_id: parent_agent_id.unwrap_or_default().to_owned(),
        data: event.data.to_string(),
        trace_id: event.trace.map(|trace| trace.trace_id_hex()).unwrap_or_default(),
        span_id: event.trace.map(|trace| trace.span_id_hex()).unwrap_or_default(),
    }
}

impl From<NodeState> for pb::NodeState {
    fn from(state: NodeState) -> Self {
        match state {
            NodeState::Ready => Self::Ready,
            NodeState::Cordoned => Self::Cordoned,
            NodeState::Draining => Self::Draining,
            NodeState::Dead => Self::Dead,
            NodeState::Left => Self::Left,
        }
    }
}

/// Returns the domain state of a wire node state; `None` for UNSPECIFIED or an unknown value.
pub fn node_state_from(value: i32) -> Option<NodeState> {
    match pb::NodeState::try_from(value).ok()? {
        pb::NodeState::Unspecified => None,
        pb::NodeState::Ready => Some(NodeState::Ready),
        pb::NodeState::Cordoned => Some(NodeState::Cordoned),
        pb::NodeState::Draining => Some(NodeState::Draining),
        pb::NodeState::Dead => Some(NodeState::Dead),
        pb::NodeState::Left => Some(NodeState::Left),
    }
}

/// Returns the lowercase domain name of a wire node state (`ready`, `dead`, ...), or
/// `unknown(N)`.
pub fn node_state_name(value: i32) -> String {
    node_state_from(value).map_or_else(|| format!("unknown({value})"), |state| state.as_str().to_owned())
}

impl From<&NodeInfo> for pb::Node {
    fn from(node: &NodeInfo) -> Self {
        Self {
            node_id: node.id.to_string(),
            name: node.name.clone(),
            state: pb::NodeState::from(node.state) as i32,
            slots: node.slots,
            running: node.running,
            labels: node.labels.clone().into_iter().collect(),
            last_heartbeat: Some(timestamp(node.last_heartbeat_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use agentry_core::{AgentId, RunId};

    use super::*;

    fn run() -> Run {
        Run {
            id: RunId::generate(),
            agent_id: AgentId::generate(),
            status: RunStatus::Paused,
            epoch: 7,
            node_id: None,
            input: "hello".into(),
            error: Some("why".into()),
            wait_reason: None,
            created_ms: 1_700_000_000_123,
            updated_ms: 1_700_000_000_456,
            trace_parent: TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        }
    }

    #[test]
    fn budgets_carry_limits_and_use() {
        let budget = BudgetState {
            id: "b-1".into(),
            limits: agentry_core::budget::BudgetLimits { max_tokens: Some(500), max_cost_usd: None },
            used: agentry_core::budget::Spend { tokens: 120, cost_usd: 0.25 },
            reserved: agentry_core::budget::Spend { tokens: 30, cost_usd: 0.5 },
        };
        let wire = pb::Budget::from(&budget);
        assert_eq!(
            wire,
            pb::Budget {
                budget_id: "b-1".into(),
                max_tokens: Some(500),
                max_cost_usd: None,
                used_tokens: 120,
                used_cost_usd: 0.25,
                reserved_tokens: 30,
            }
        );
    }

    #[test]
    fn runs_round_trip() {
        let run = run();
        assert_eq!(Run::try_from(pb::Run::from(&run)), Ok(run));
    }

    #[test]
    fn every_status_round_trips_and_has_one_name() {
        for status in RunStatus::ALL {
            let wire = pb::RunStatus::from(status) as i32;
            assert_eq!(run_status_from("status", wire), Ok(Some(status)));
            assert_eq!(run_status_name(wire), status.as_str());
        }
        assert_eq!(run_status_from("status", 0), Ok(None));
        assert_eq!(run_status_from("status", 99).unwrap_err().field, "status");
        assert_eq!(run_status_name(99), "unknown(99)");
    }

    #[test]
    fn every_node_state_round_trips() {
        for state in [NodeState::Ready, NodeState::Cordoned, NodeState::Draining, NodeState::Dead, NodeState::Left] {
            let wire = pb::NodeState::from(state) as i32;
            assert_eq!(node_state_from(wire), Some(state));
            assert_eq!(node_state_name(wire), state.as_str());
        }
    }

    #[test]
    fn messages_round_trip_and_bad_roles_are_named() {
        let message = Message {
            role: Role::Assistant,
            content: "x".into(),
            tool_calls: vec![ToolCall { id: "c1".into(), name: "echo".into(), arguments: "{}".into() }],
            tool_call_id: None,
            run_id: Some(RunId::generate()),
        };
        assert_eq!(Message::try_from(pb::Message::from(&message)), Ok(message));
        let bad = pb::Message { role: "robot".into(), ..pb::Message::default() };
        assert_eq!(Message::try_from(bad).unwrap_err().field, "messages.role");
    }

    #[test]
    fn event_drafts_round_trip_and_bad_json_is_named() {
        let trace = Some(TraceParent::of_run(RunId::generate()));
        let event = EventDraft { kind: "final".into(), data: serde_json::json!({ "content": "hi" }), ts_ms: 5, trace };
        assert_eq!(EventDraft::try_from(pb::EventDraft::from(&event)), Ok(event));
        let bad = pb::EventDraft { r#type: "final".into(), data: "{".into(), ..Default::default() };
        assert_eq!(EventDraft::try_from(bad).unwrap_err().field, "events.data");
    }
}
