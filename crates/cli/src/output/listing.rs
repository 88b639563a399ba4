//! `agentry ps` and `agentry nodes`: tables and JSON.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use agentry_sdk::proto::{Agent, Node, Run};

use super::{age, one_line_preview, render_table, rfc3339, system_time};

/// Characters of a run error shown in the `ps` table (enough for a dead-letter reason).
const ERROR_PREVIEW_CHARS: usize = 100;

/// An agent in `ps --output json`.
#[derive(Serialize)]
struct AgentJson {
    agent_id: String,
    model: String,
    tools: Vec<String>,
    labels: BTreeMap<String, String>,
    created_at: Option<String>,
    last_seq: u64,
    latest_run: Option<RunJson>,
    /// Set for a read-only agent loaded by `agentry trace import`: the file it came from.
    #[serde(skip_serializing_if = "String::is_empty")]
    imported_from: String,
    /// Set for a sub-agent: the agent that started it.
    #[serde(skip_serializing_if = "String::is_empty")]
    parent_id: String,
    /// Set for a fork (`agentry fork`): the agent it was forked from, and the seq it branched at.
    #[serde(skip_serializing_if = "String::is_empty")]
    forked_from: String,
    #[serde(skip_serializing_if = "is_zero")]
    forked_at_seq: u64,
    /// The tenant the agent belongs to (absent from hubs before tenants).
    #[serde(skip_serializing_if = "String::is_empty")]
    tenant: String,
}

/// Returns whether `value` is 0 (a field left out of the JSON).
fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A run in `ps --output json`.
#[derive(Serialize)]
struct RunJson {
    run_id: String,
    status: String,
    epoch: u64,
    node_id: String,
    error: String,
    wait_reason: String,
    created_at: Option<String>,
    updated_at: Option<String>,
}

/// A run in `cancel|pause|resume --output json`: the `ps` shape plus its agent.
#[derive(Serialize)]
struct RunWithAgentJson {
    agent_id: String,
    #[serde(flatten)]
    run: RunJson,
}

/// A node in `nodes --output json`.
#[derive(Serialize)]
struct NodeJson {
    node_id: String,
    name: String,
    state: String,
    slots: u32,
    running: u32,
    labels: BTreeMap<String, String>,
    last_heartbeat: Option<String>,
}

pub use agentry_sdk::convert::types::{node_state_name, run_status_name};

/// Returns `agents` as a pretty JSON array.
pub fn agents_json(agents: &[Agent]) -> serde_json::Result<String> {
    let agents: Vec<AgentJson> = agents.iter().map(agent_json).collect();
    serde_json::to_string_pretty(&agents)
}

fn agent_json(agent: &Agent) -> AgentJson {
    let spec = agent.spec.clone().unwrap_or_default();
    AgentJson {
        agent_id: agent.agent_id.clone(),
        model: spec.model,
        tools: spec.tools,
        labels: agent.labels.clone().into_iter().collect(),
        created_at: rfc3339(agent.created_at.as_ref()),
        last_seq: agent.last_seq,
        latest_run: agent.latest_run.as_ref().map(run_json_of),
        imported_from: agent.imported_from.clone(),
        parent_id: agent.parent_id.clone(),
        forked_from: agent.forked_from.clone(),
        forked_at_seq: agent.forked_at_seq,
        tenant: agent.tenant.clone(),
    }
}

fn run_json_of(run: &Run) -> RunJson {
    RunJson {
        run_id: run.run_id.clone(),
        status: run_status_name(run.status),
        epoch: run.epoch,
        node_id: run.node_id.clone(),
        error: run.error.clone(),
        wait_reason: run.wait_reason.clone(),
        created_at: rfc3339(run.created_at.as_ref()),
        updated_at: rfc3339(run.updated_at.as_ref()),
    }
}

/// Returns one run as pretty JSON (`ps`'s `latest_run` shape plus `agent_id`).
pub fn run_json(run: &Run) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&RunWithAgentJson { agent_id: run.agent_id.clone(), run: run_json_of(run) })
}

/// Returns the line printed after `action` on a run: `run <id> cancelled`, or with the
/// status when it differs from the action, e.g. `run <id> resumed (queued)`.
pub fn run_result_line(run: &Run, action: &str) -> String {
    let status = run_status_name(run.status);
    if status == action {
        format!("run {} {action}", run.run_id)
    } else {
        format!("run {} {action} ({status})", run.run_id)
    }
}

/// Returns `agents` as a table: AGENT, MODEL, RUN, STATUS, NODE, UPDATED (age of the latest
/// run's last change, else of the agent), NOTE (the failure reason, or why a queued run waits; cut;
/// after `import of FILE` for a read-only import).
pub fn agents_table(agents: &[Agent], now: SystemTime) -> String {
    let rows: Vec<Vec<String>> = agents
        .iter()
        .map(|agent| {
            let model = agent.spec.as_ref().map(|spec| spec.model.clone()).unwrap_or_default();
            let run = agent.latest_run.as_ref();
            let updated = run.and_then(|run| run.updated_at.as_ref()).or(agent.created_at.as_ref());
            vec![
                agent.agent_id.clone(),
                dash_if_empty(model),
                dash_if_empty(run.map(|run| run.run_id.clone()).unwrap_or_default()),
                run.map_or_else(|| "idle".to_owned(), |run| run_status_name(run.status)),
                dash_if_empty(run.map(|run| run.node_id.clone()).unwrap_or_default()),
                age(system_time(updated), now),
                dash_if_empty(agent_note(agent)),
            ]
        })
        .collect();
    render_table(&["AGENT", "MODEL", "RUN", "STATUS", "NODE", "UPDATED", "NOTE"], &rows)
}

/// Returns the note of an agent in the `ps` table: its latest run's note, after `import of
/// FILE` for a read-only import.
fn agent_note(agent: &Agent) -> String {
    let run_note = agent.latest_run.as_ref().map(run_note).unwrap_or_default();
    match (agent.imported_from.as_str(), run_note.as_str()) {
        ("", _) => run_note,
        (source, "") => format!("import of {source}"),
        (source, _) => format!("import of {source}; {run_note}"),
    }
}

/// Returns the note of a run in the `ps` table: its error, or why it waits.
fn run_note(run: &Run) -> String {
    let note = if run.error.is_empty() && !run.wait_reason.is_empty() {
        format!("waiting: {}", run.wait_reason)
    } else {
        run.error.clone()
    };
    one_line_preview(&note, ERROR_PREVIEW_CHARS)
}

/// Returns `nodes` as a pretty JSON array.
pub fn nodes_json(nodes: &[Node]) -> serde_json::Result<String> {
    let nodes: Vec<NodeJson> = nodes
        .iter()
        .map(|node| NodeJson {
            node_id: node.node_id.clone(),
            name: node.name.clone(),
            state: node_state_name(node.state),
            slots: node.slots,
            running: node.running,
            labels: node.labels.clone().into_iter().collect(),
            last_heartbeat: rfc3339(node.last_heartbeat.as_ref()),
        })
        .collect();
    serde_json::to_string_pretty(&nodes)
}

/// Returns `nodes` as a table: NODE, NAME, STATE, RUNNING (`running/slots`), HEARTBEAT (age),
/// LABELS.
pub fn nodes_table(nodes: &[Node], now: SystemTime) -> String {
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|node| {
            let labels: BTreeMap<&String, &String> = node.labels.iter().collect();
            let labels: Vec<String> = labels.iter().map(|(key, value)| format!("{key}={value}")).collect();
            vec![
                node.node_id.clone(),
                dash_if_empty(node.name.clone()),
                node_state_name(node.state),
                format!("{}/{}", node.running, node.slots),
                age(system_time(node.last_heartbeat.as_ref()), now),
                dash_if_empty(labels.join(",")),
            ]
        })
        .collect();
    render_table(&["NODE", "NAME", "STATE", "RUNNING", "HEARTBEAT", "LABELS"], &rows)
}

fn dash_if_empty(text: String) -> String {
    if text.is_empty() { "-".to_owned() } else { text }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::{Value, json};

    use agentry_sdk::proto::{AgentSpec, NodeState, RunStatus};

    use super::*;

    fn at(seconds: i64) -> Option<agentry_sdk::Timestamp> {
        Some(agentry_sdk::Timestamp { seconds, nanos: 0 })
    }

    fn agent() -> Agent {
        Agent {
            agent_id: "a1".to_owned(),
            spec: Some(AgentSpec {
                model: "openai:m".to_owned(),
                tools: vec!["bash".to_owned()],
                ..AgentSpec::default()
            }),
            labels: [("team".to_owned(), "x".to_owned())].into(),
            created_at: at(0),
            last_seq: 7,
            latest_run: Some(Run {
                run_id: "r1".to_owned(),
                status: RunStatus::Failed as i32,
                epoch: 2,
                node_id: "n1".to_owned(),
                error: "boom\nagain".to_owned(),
                created_at: at(1),
                updated_at: at(2),
                ..Run::default()
            }),
            ..Agent::default()
        }
    }

    #[test]
    fn agents_json_has_the_documented_shape() {
        let idle = Agent { agent_id: "a2".to_owned(), ..Agent::default() };
        let parsed: Value = serde_json::from_str(&agents_json(&[agent(), idle]).expect("JSON")).expect("parse");
        assert_eq!(
            parsed[0],
            json!({
                "agent_id": "a1", "model": "openai:m", "tools": ["bash"], "labels": { "team": "x" },
                "created_at": "1970-01-01T00:00:00.000Z", "last_seq": 7,
                "latest_run": {
                    "run_id": "r1", "status": "failed", "epoch": 2, "node_id": "n1", "error": "boom\nagain", "wait_reason": "",
                    "created_at": "1970-01-01T00:00:01.000Z", "updated_at": "1970-01-01T00:00:02.000Z",
                },
            })
        );
        assert_eq!(parsed[1]["latest_run"], Value::Null);
    }

    #[test]
    fn agents_table_shows_the_latest_run() {
        let table = agents_table(&[agent()], UNIX_EPOCH + Duration::from_secs(62));
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("AGENT   MODEL      RUN   STATUS   NODE   UPDATED   NOTE"), "{table}");
        assert_eq!(lines[1], r"a1      openai:m   r1    failed   n1     1m        boom\nagain");
    }

    #[test]
    fn a_waiting_run_shows_why() {
        let mut waiting = agent();
        let run = waiting.latest_run.as_mut().unwrap();
        run.status = RunStatus::Queued as i32;
        run.error.clear();
        run.node_id.clear();
        run.wait_reason = "no ready node has labels gpu=a100".into();
        let table = agents_table(&[waiting], UNIX_EPOCH + Duration::from_secs(62));
        assert!(table.lines().nth(1).unwrap().ends_with("waiting: no ready node has labels gpu=a100"), "{table}");
    }

    #[test]
    fn dead_lettered_cancelled_and_paused_runs_read_well() {
        let with_run = |status: RunStatus, error: &str| {
            let mut agent = agent();
            let run = agent.latest_run.as_mut().unwrap();
            run.status = status as i32;
            run.error = error.to_owned();
            agents_table(&[agent], UNIX_EPOCH + Duration::from_secs(62))
        };
        let dead = with_run(RunStatus::Failed, "dead-lettered after 5 deliveries: the node crashed each time");
        let row = dead.lines().nth(1).unwrap();
        assert!(
            row.contains("   failed   ")
                && row.ends_with("dead-lettered after 5 deliveries: the node crashed each time"),
            "{dead}"
        );
        let cancelled = with_run(RunStatus::Cancelled, "too slow");
        let row = cancelled.lines().nth(1).unwrap();
        assert!(row.contains("   cancelled   ") && row.ends_with("too slow"), "{cancelled}");
        let paused = with_run(RunStatus::Paused, "");
        let row = paused.lines().nth(1).unwrap();
        assert!(row.contains("   paused   ") && row.ends_with("   -"), "{paused}");
    }

    #[test]
    fn imports_say_where_they_come_from() {
        let mut imported = agent();
        imported.imported_from = "trace.jsonl".to_owned();
        let table = agents_table(&[imported.clone()], UNIX_EPOCH + Duration::from_secs(62));
        assert!(table.lines().nth(1).unwrap().ends_with(r"import of trace.jsonl; boom\nagain"), "{table}");
        let parsed: Value = serde_json::from_str(&agents_json(&[imported]).expect("JSON")).expect("parse");
        assert_eq!(parsed[0]["imported_from"], "trace.jsonl");
        assert!(parsed[0].get("parent_id").is_none() && parsed[0].get("forked_from").is_none(), "{parsed}");
        let mut fork = agent();
        (fork.parent_id, fork.forked_from, fork.forked_at_seq) = ("lead".into(), "source".into(), 7);
        let parsed: Value = serde_json::from_str(&agents_json(&[fork]).expect("JSON")).expect("parse");
        assert_eq!(
            (&parsed[0]["parent_id"], &parsed[0]["forked_from"], &parsed[0]["forked_at_seq"]),
            (&json!("lead"), &json!("source"), &json!(7))
        );
        let live: Value = serde_json::from_str(&agents_json(&[agent()]).expect("JSON")).expect("parse");
        assert!(live[0].get("imported_from").is_none(), "{live}");
    }

    #[test]
    fn run_results_are_one_line_or_the_run_as_json() {
        let run = Run {
            run_id: "r1".to_owned(),
            agent_id: "a1".to_owned(),
            status: RunStatus::Cancelled as i32,
            error: "too slow".to_owned(),
            ..Run::default()
        };
        assert_eq!(run_result_line(&run, "cancelled"), "run r1 cancelled");
        let queued = Run { status: RunStatus::Queued as i32, ..run.clone() };
        assert_eq!(run_result_line(&queued, "resumed"), "run r1 resumed (queued)");
        let parsed: Value = serde_json::from_str(&run_json(&run).expect("JSON")).expect("parse");
        assert_eq!(
            parsed,
            json!({ "agent_id": "a1", "run_id": "r1", "status": "cancelled", "epoch": 0, "node_id": "", "error": "too slow",
                    "wait_reason": "", "created_at": null, "updated_at": null })
        );
    }

    #[test]
    fn nodes_json_uses_lowercase_states() {
        let node = Node {
            node_id: "n1".to_owned(),
            name: "dev-node-1".to_owned(),
            state: NodeState::Ready as i32,
            slots: 4,
            running: 1,
            last_heartbeat: at(3),
            ..Node::default()
        };
        let parsed: Value = serde_json::from_str(&nodes_json(&[node]).expect("JSON")).expect("parse");
        assert_eq!(
            parsed,
            json!([{ "node_id": "n1", "name": "dev-node-1", "state": "ready", "slots": 4, "running": 1,
                     "labels": {}, "last_heartbeat": "1970-01-01T00:00:03.000Z" }])
        );
    }

    #[test]
    fn status_names_are_lowercase() {
        assert_eq!(run_status_name(RunStatus::Queued as i32), "queued");
        assert_eq!(run_status_name(RunStatus::Paused as i32), "paused");
        assert_eq!(run_status_name(RunStatus::Cancelled as i32), "cancelled");
        assert_eq!(run_status_name(99), "unknown(99)");
        assert_eq!(node_state_name(NodeState::Draining as i32), "draining");
    }
}
