//! Domain ⇄ protobuf conversions.

use prost_types::Timestamp;

use agentry_core::{Agent, AgentSpec, Message, NodeInfo, NodeState, Role, Run, RunStatus, ToolCall, TraceEvent};
use agentry_proto::v1 as pb;
use agentry_store::{AgentSummary, StoredMessage};

use crate::error::{HubError, Result};

/// Returns a protobuf timestamp for milliseconds since the Unix epoch.
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

pub fn run_status(status: RunStatus) -> pb::RunStatus {
    match status {
        RunStatus::Queued => pb::RunStatus::Queued,
        RunStatus::Running => pb::RunStatus::Running,
        RunStatus::Completed => pb::RunStatus::Completed,
        RunStatus::Failed => pb::RunStatus::Failed,
        RunStatus::Cancelled => pb::RunStatus::Cancelled,
        RunStatus::Paused => pb::RunStatus::Paused,
    }
}

/// Returns the domain status of a committed status field; `None` for UNSPECIFIED.
pub fn run_status_from(value: i32) -> Result<Option<RunStatus>> {
    let status = pb::RunStatus::try_from(value)
        .map_err(|_| HubError::InvalidArgument(format!("status: {value} is not a RunStatus")))?;
    Ok(match status {
        pb::RunStatus::Unspecified => None,
        pb::RunStatus::Queued => Some(RunStatus::Queued),
        pb::RunStatus::Running => Some(RunStatus::Running),
        pb::RunStatus::Completed => Some(RunStatus::Completed),
        pb::RunStatus::Failed => Some(RunStatus::Failed),
        pb::RunStatus::Cancelled => Some(RunStatus::Cancelled),
        pb::RunStatus::Paused => Some(RunStatus::Paused),
    })
}

pub fn run(run: &Run) -> pb::Run {
    pb::Run {
        run_id: run.id.to_string(),
        agent_id: run.agent_id.to_string(),
        status: run_status(run.status) as i32,
        epoch: run.epoch,
        node_id: run.node_id.map(|id| id.to_string()).unwrap_or_default(),
        input: run.input.clone(),
        error: run.error.clone().unwrap_or_default(),
        wait_reason: run.wait_reason.clone().unwrap_or_default(),
        created_at: Some(timestamp(run.created_ms)),
        updated_at: Some(timestamp(run.updated_ms)),
    }
}

pub fn spec(spec: &AgentSpec) -> pb::AgentSpec {
    pb::AgentSpec {
        model: spec.model.clone(),
        tools: spec.tools.clone(),
        system: spec.system.clone(),
        max_iterations: spec.max_iterations,
        temperature: spec.temperature,
        node_selector: spec.node_selector.clone().into_iter().collect(),
    }
}

/// Returns the validated domain spec of a request's spec.
pub fn spec_from(spec: Option<pb::AgentSpec>) -> Result<AgentSpec> {
    let spec = spec.ok_or_else(|| HubError::InvalidArgument("spec is required (at least spec.model)".into()))?;
    let node_selector = spec.node_selector.into_iter().collect();
    crate::validate::labels("spec.node_selector", &node_selector)?;
    let spec = AgentSpec {
        model: spec.model,
        tools: spec.tools,
        system: spec.system,
        max_iterations: spec.max_iterations,
        node_selector,
        temperature: spec.temperature,
    };
    spec.validated().map_err(|error| HubError::InvalidArgument(error.0))
}

pub fn agent(agent: &Agent, latest_run: Option<&Run>) -> pb::Agent {
    pb::Agent {
        agent_id: agent.id.to_string(),
        spec: Some(spec(&agent.spec)),
        labels: agent.labels.clone().into_iter().collect(),
        parent_id: agent.parent_id.map(|id| id.to_string()).unwrap_or_default(),
        created_at: Some(timestamp(agent.created_ms)),
        latest_run: latest_run.map(run),
        last_seq: agent.last_seq,
    }
}

pub fn agent_summary(summary: &AgentSummary) -> pb::Agent {
    agent(&summary.agent, summary.latest_run.as_ref())
}

pub fn trace_event(event: &TraceEvent, parent_agent_id: Option<String>) -> pb::TraceEvent {
    pb::TraceEvent {
        seq: event.seq,
        ts: Some(timestamp(event.ts_ms)),
        r#type: event.kind.clone(),
        agent_id: event.agent_id.to_string(),
        run_id: event.run_id.to_string(),
        parent_agent_id: parent_agent_id.unwrap_or_default(),
        data: event.data.to_string(),
        trace_id: String::new(),
        span_id: String::new(),
    }
}

pub fn node(node: &NodeInfo) -> pb::Node {
    let state = match node.state {
        NodeState::Ready => pb::NodeState::Ready,
        NodeState::Cordoned => pb::NodeState::Cordoned,
        NodeState::Draining => pb::NodeState::Draining,
        NodeState::Dead => pb::NodeState::Dead,
        NodeState::Left => pb::NodeState::Left,
    };
    pb::Node {
        node_id: node.id.to_string(),
        name: node.name.clone(),
        state: state as i32,
        slots: node.slots,
        running: node.running,
        labels: node.labels.clone().into_iter().collect(),
        last_heartbeat: Some(timestamp(node.last_heartbeat_ms)),
    }
}

pub fn message(stored: &StoredMessage) -> pb::Message {
    let message = &stored.message;
    pb::Message {
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
        tool_call_id: message.tool_call_id.clone().unwrap_or_default(),
        run_id: message.run_id.map(|id| id.to_string()).unwrap_or_default(),
        index: stored.index,
    }
}

/// Returns the domain message a node commits (`run_id` and `index` are assigned by the store).
pub fn message_from(message: pb::Message) -> Result<Message> {
    let role = Role::parse(&message.role)
        .ok_or_else(|| HubError::InvalidArgument(format!("messages: unknown role {:?}", message.role)))?;
    Ok(Message {
        role,
        content: message.content,
        tool_calls: message
            .tool_calls
            .into_iter()
            .map(|call| ToolCall { id: call.id, name: call.name, arguments: call.arguments })
            .collect(),
        tool_call_id: (!message.tool_call_id.is_empty()).then_some(message.tool_call_id),
        run_id: None,
    })
}
