//! The delegation tools as the model sees them: their schemas, the parsing of a call's
//! arguments into tasks, and the text of a call's result once its sub-agents ended.

use serde_json::{Value, json};

use super::{AGENT_TOOL, Delegation, PARALLEL_AGENTS_TOOL, Team};
use crate::limits::MAX_INPUT_BYTES;
use crate::run::RunStatus;

/// One task of a delegation call: a role and the sub-agent's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Team role.
    pub role: String,
    /// The sub-agent's task.
    pub input: String,
}

/// Returns the `(name, description, JSON Schema of the arguments)` of the delegation tools
/// offered to an agent with `team`: `agent` and `parallel_agents`, the role names an `enum`.
pub fn tool_schemas(team: &Team) -> Vec<(&'static str, String, Value)> {
    let roles: Vec<&str> = team.roles.keys().map(String::as_str).collect();
    let listing: Vec<String> =
        team.roles
            .iter()
            .map(|(name, role)| {
                if role.description.is_empty() {
                    format!("- {name}")
                } else {
                    format!("- {name}: {}", role.description)
                }
            })
            .collect();
    let listing = listing.join("\n");
    let task = json!({
        "type": "object",
        "properties": {
            "agent": { "type": "string", "enum": roles, "description": "The role to delegate to." },
            "input": { "type": "string", "description": "The task, self-contained: the sub-agent sees nothing else." },
        },
        "required": ["agent", "input"],
    });
    vec![
        (
            AGENT_TOOL,
            format!(
                "Delegates a task to a sub-agent with the given role and returns its final answer. \
                 The sub-agent starts fresh: put everything it needs in `input`. Roles:\n{listing}"
            ),
            task.clone(),
        ),
        (
            PARALLEL_AGENTS_TOOL,
            format!(
                "Delegates several independent tasks at once (at most {}); the sub-agents run in parallel and \
                 their final answers are returned in the order of the tasks. Roles:\n{listing}",
                team.max_parallel
            ),
            json!({
                "type": "object",
                "properties": { "tasks": { "type": "array", "items": task, "minItems": 1, "maxItems": team.max_parallel } },
                "required": ["tasks"],
            }),
        ),
    ]
}

/// Returns the tasks of a call of delegation tool `name` with `arguments` (JSON text).
///
/// Errors are what the model is told (as the call's error result): invalid JSON, a missing or
/// empty field, an unknown role (naming the known ones), an input over [`MAX_INPUT_BYTES`], no
/// task, or more tasks than `team.max_parallel`.
pub fn parse_call(name: &str, arguments: &str, team: &Team) -> Result<Vec<Task>, String> {
    let text = if arguments.trim().is_empty() { "{}" } else { arguments };
    let value: Value = serde_json::from_str(text).map_err(|error| format!("arguments are not valid JSON: {error}"))?;
    if name == PARALLEL_AGENTS_TOOL {
        let Some(tasks) = value.get("tasks").and_then(Value::as_array) else {
            return Err("`tasks` must be an array of {\"agent\": ROLE, \"input\": TASK}".to_owned());
        };
        if tasks.is_empty() {
            return Err("`tasks` is empty: give at least one task".to_owned());
        }
        if tasks.len() > team.max_parallel as usize {
            return Err(format!(
                "{} tasks given; at most {} may run at once: split them over several calls",
                tasks.len(),
                team.max_parallel
            ));
        }
        tasks.iter().enumerate().map(|(index, task)| parse_task(task, team, &format!("tasks[{index}]."))).collect()
    } else {
        parse_task(&value, team, "").map(|task| vec![task])
    }
}

/// Returns one task of a call; `prefix` names its place in error messages (`tasks[1].`).
fn parse_task(value: &Value, team: &Team, prefix: &str) -> Result<Task, String> {
    let text = |field: &str| match value.get(field).and_then(Value::as_str).map(str::trim) {
        Some(text) if !text.is_empty() => Ok(text.to_owned()),
        _ => Err(format!("`{prefix}{field}` must be a non-empty string")),
    };
    let role = text("agent")?;
    if !team.roles.contains_key(&role) {
        let known: Vec<&str> = team.roles.keys().map(String::as_str).collect();
        return Err(format!("`{prefix}agent`: unknown role {role:?}; the team has {}", known.join(", ")));
    }
    let input = text("input")?;
    if input.len() > MAX_INPUT_BYTES {
        return Err(format!("`{prefix}input` is {} bytes; the limit is {MAX_INPUT_BYTES} bytes", input.len()));
    }
    Ok(Task { role, input })
}

/// Returns whether every sub-agent of a call has ended (each has a terminal outcome).
pub fn all_ended(delegations: &[&Delegation]) -> bool {
    delegations.iter().all(|delegation| delegation.outcome.as_ref().is_some_and(|outcome| outcome.status.is_terminal()))
}

/// Returns the result of a delegation call whose sub-agents (`delegations`, in position order)
/// all ended, and whether it is an error: for `agent`, the sub-agent's final answer (an error
/// when it failed or was cancelled); for `parallel_agents`, each answer under a numbered
/// heading (an error only when none completed).
pub fn call_output(name: &str, delegations: &[&Delegation]) -> (String, bool) {
    let completed = |delegation: &Delegation| {
        delegation.outcome.as_ref().is_some_and(|outcome| outcome.status == RunStatus::Completed)
    };
    if name == AGENT_TOOL
        && let [delegation] = delegations
    {
        return (answer_text(delegation), !completed(delegation));
    }
    let total = delegations.len();
    let sections: Vec<String> = delegations
        .iter()
        .enumerate()
        .map(|(index, delegation)| {
            format!(
                "## {}/{total}: {} (agent {})\n{}",
                index + 1,
                delegation.role,
                delegation.child_agent_id,
                answer_text(delegation)
            )
        })
        .collect();
    (sections.join("\n\n"), !delegations.iter().any(|delegation| completed(delegation)))
}

/// Returns a sub-agent's answer, or an error line saying how it ended.
fn answer_text(delegation: &Delegation) -> String {
    let who = format!("sub-agent {} (agent {})", delegation.role, delegation.child_agent_id);
    match &delegation.outcome {
        Some(outcome) if outcome.status == RunStatus::Completed => outcome.answer.clone().unwrap_or_default(),
        Some(outcome) => {
            let why = outcome.error.as_deref().unwrap_or("no reason given");
            format!(
                "error: {who} {}: {why}",
                if outcome.status == RunStatus::Cancelled { "was cancelled" } else { "failed" }
            )
        }
        None => format!("error: {who} has not ended"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::agent::AgentSpec;
    use crate::ids::{AgentId, RunId};
    use crate::team::{ChildOutcome, TeamRole};

    fn team() -> Team {
        let spec: AgentSpec = serde_json::from_value(json!({
            "model": "openai:m", "tools": [], "system": "", "max_iterations": 4
        }))
        .unwrap();
        let roles = ["coder", "tester"]
            .into_iter()
            .map(|name| (name.to_owned(), TeamRole { description: format!("does {name} work"), spec: spec.clone() }))
            .collect::<BTreeMap<_, _>>();
        Team { roles, max_parallel: 2 }
    }

    fn delegation(role: &str, status: RunStatus, answer: Option<&str>, error: Option<&str>) -> Delegation {
        Delegation {
            tool_call_id: "c1".into(),
            position: 0,
            role: role.into(),
            input: "task".into(),
            child_agent_id: AgentId::generate(),
            child_run_id: RunId::generate(),
            outcome: Some(ChildOutcome { status, answer: answer.map(Into::into), error: error.map(Into::into) }),
        }
    }

    #[test]
    fn schemas_name_the_roles() {
        let schemas = tool_schemas(&team());
        assert_eq!(schemas.iter().map(|(name, _, _)| *name).collect::<Vec<_>>(), ["agent", "parallel_agents"]);
        assert_eq!(schemas[0].2["properties"]["agent"]["enum"], json!(["coder", "tester"]));
        assert!(schemas[0].1.contains("- coder: does coder work"), "{}", schemas[0].1);
        assert_eq!(schemas[1].2["properties"]["tasks"]["maxItems"], json!(2));
    }

    #[test]
    fn calls_become_tasks() {
        let team = team();
        let one = parse_call("agent", r#"{"agent":"coder","input":" write it "}"#, &team).unwrap();
        assert_eq!(one, [Task { role: "coder".into(), input: "write it".into() }]);
        let many = parse_call(
            "parallel_agents",
            r#"{"tasks":[{"agent":"tester","input":"a"},{"agent":"coder","input":"b"}]}"#,
            &team,
        )
        .unwrap();
        assert_eq!(many.iter().map(|task| task.role.as_str()).collect::<Vec<_>>(), ["tester", "coder"]);
    }

    #[test]
    fn bad_calls_are_explained() {
        let team = team();
        let error = |name: &str, arguments: &str| parse_call(name, arguments, &team).unwrap_err();
        assert_eq!(
            error("agent", r#"{"agent":"poet","input":"x"}"#),
            "`agent`: unknown role \"poet\"; the team has coder, tester"
        );
        assert_eq!(error("agent", r#"{"agent":"coder"}"#), "`input` must be a non-empty string");
        assert!(error("agent", "{nope").starts_with("arguments are not valid JSON"));
        assert_eq!(error("parallel_agents", r#"{"tasks":[]}"#), "`tasks` is empty: give at least one task");
        let three =
            r#"{"tasks":[{"agent":"coder","input":"a"},{"agent":"coder","input":"b"},{"agent":"coder","input":"c"}]}"#;
        assert_eq!(
            error("parallel_agents", three),
            "3 tasks given; at most 2 may run at once: split them over several calls"
        );
        assert_eq!(
            error("parallel_agents", r#"{"tasks":[{"agent":"coder","input":"a"},{"agent":"x","input":"b"}]}"#),
            "`tasks[1].agent`: unknown role \"x\"; the team has coder, tester"
        );
    }

    #[test]
    fn outputs_carry_answers_in_order_and_failures() {
        let done = delegation("coder", RunStatus::Completed, Some("it works"), None);
        let failed = delegation("tester", RunStatus::Failed, None, Some("model call failed"));
        assert_eq!(call_output("agent", &[&done]), ("it works".to_owned(), false));
        let (text, is_error) = call_output("agent", &[&failed]);
        assert!(is_error);
        assert_eq!(
            text,
            format!("error: sub-agent tester (agent {}) failed: model call failed", failed.child_agent_id)
        );
        let (text, is_error) = call_output("parallel_agents", &[&done, &failed]);
        assert!(!is_error, "one completed");
        assert!(
            text.starts_with(&format!("## 1/2: coder (agent {})\nit works\n\n## 2/2: tester", done.child_agent_id))
        );
        assert!(all_ended(&[&done, &failed]));
        let running = Delegation { outcome: None, ..done.clone() };
        assert!(!all_ended(&[&done, &running]));
    }
}
