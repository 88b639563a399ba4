//! `agentry approvals`: held tool calls with their decisions, as a table or JSON.

use std::time::SystemTime;

use serde::Serialize;

use agentry_sdk::proto::Approval;

use super::{age, render_table, rfc3339, system_time};

/// Longest arguments text shown in the table; JSON has all of it.
const TABLE_ARGUMENTS_CHARS: usize = 60;

/// One approval in `agentry approvals --output json`.
#[derive(Serialize)]
struct ApprovalJson<'a> {
    run_id: &'a str,
    agent_id: &'a str,
    tool_call_id: &'a str,
    tool: &'a str,
    arguments: &'a str,
    rule: &'a str,
    rule_reason: &'a str,
    state: &'a str,
    requested_at: Option<String>,
    expires_at: Option<String>,
    actor: &'a str,
    reason: &'a str,
    decided_at: Option<String>,
}

/// Returns approvals as a pretty JSON array (timestamps RFC 3339).
pub fn approvals_json(approvals: &[Approval]) -> serde_json::Result<String> {
    let rows: Vec<ApprovalJson> = approvals
        .iter()
        .map(|approval| ApprovalJson {
            run_id: &approval.run_id,
            agent_id: &approval.agent_id,
            tool_call_id: &approval.tool_call_id,
            tool: &approval.tool,
            arguments: &approval.arguments,
            rule: &approval.rule,
            rule_reason: &approval.rule_reason,
            state: &approval.state,
            requested_at: rfc3339(approval.requested_at.as_ref()),
            expires_at: rfc3339(approval.expires_at.as_ref()),
            actor: &approval.actor,
            reason: &approval.reason,
            decided_at: rfc3339(approval.decided_at.as_ref()),
        })
        .collect();
    serde_json::to_string_pretty(&rows)
}

/// Returns approvals as a table: run, call, tool, arguments (cut), state, age, who decided.
pub fn approvals_table(approvals: &[Approval], now: SystemTime) -> String {
    let rows: Vec<Vec<String>> = approvals
        .iter()
        .map(|approval| {
            let mut arguments: String = approval.arguments.chars().take(TABLE_ARGUMENTS_CHARS).collect();
            if approval.arguments.chars().count() > TABLE_ARGUMENTS_CHARS {
                arguments.push('…');
            }
            let decided = match approval.actor.as_str() {
                "" => "-".to_owned(),
                actor if approval.reason.is_empty() => actor.to_owned(),
                actor => format!("{actor}: {}", approval.reason),
            };
            vec![
                approval.run_id.clone(),
                approval.tool_call_id.clone(),
                approval.tool.clone(),
                arguments,
                approval.state.clone(),
                age(system_time(approval.requested_at.as_ref()), now),
                decided,
            ]
        })
        .collect();
    render_table(&["RUN", "CALL", "TOOL", "ARGUMENTS", "STATE", "REQUESTED", "DECIDED BY"], &rows)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn approval(state: &str, actor: &str) -> Approval {
        Approval {
            run_id: "r1".into(),
            agent_id: "a1".into(),
            tool_call_id: "call-1".into(),
            tool: "bash".into(),
            arguments: format!("{{\"command\": \"git push {}\"}}", "x".repeat(80)),
            rule: "bash =~ /^git push/ → ask".into(),
            state: state.into(),
            requested_at: Some(agentry_sdk::Timestamp { seconds: 100, nanos: 0 }),
            actor: actor.into(),
            reason: if actor.is_empty() { String::new() } else { "looks fine".into() },
            ..Approval::default()
        }
    }

    #[test]
    fn table_cuts_arguments_and_names_the_decider() {
        let now = UNIX_EPOCH + Duration::from_secs(160);
        let table = approvals_table(&[approval("pending", ""), approval("approved", "alice")], now);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("RUN"), "{table}");
        assert!(lines[1].contains("pending") && lines[1].contains('…') && lines[1].ends_with('-'), "{table}");
        assert!(lines[2].contains("alice: looks fine"), "{table}");
        assert!(lines[1].contains("1m"), "{table}");
    }

    #[test]
    fn json_keeps_everything() {
        let json: serde_json::Value =
            serde_json::from_str(&approvals_json(&[approval("denied", "bob")]).unwrap()).unwrap();
        assert_eq!(json[0]["state"], "denied");
        assert_eq!(json[0]["actor"], "bob");
        assert!(json[0]["arguments"].as_str().unwrap().len() > 80);
        assert_eq!(json[0]["requested_at"], "1970-01-01T00:01:40.000Z");
    }
}
