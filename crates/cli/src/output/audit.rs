//! `agentry audit`: audit records as a table or JSON.

use serde::Serialize;

use agentry_sdk::proto::AuditRecord;

use super::{one_line_preview, render_table, system_time};

/// Characters of a refusal's message shown in the table; JSON has all of it.
const TABLE_DETAIL_CHARS: usize = 80;

/// One record in `agentry audit --output json`: the fields of the hub's `AuditRecord`, `at` in
/// RFC 3339 (UTC, milliseconds).
#[derive(Serialize)]
struct AuditJson<'a> {
    id: u64,
    at: Option<String>,
    actor: &'a str,
    role: &'a str,
    tenant: &'a str,
    action: &'a str,
    target: &'a str,
    outcome: &'a str,
    detail: &'a str,
    source: &'a str,
}

/// Returns records as a pretty JSON array, in the given order (newest first from the hub).
pub fn audit_json(records: &[AuditRecord]) -> serde_json::Result<String> {
    let rows: Vec<AuditJson> = records
        .iter()
        .map(|record| AuditJson {
            id: record.id,
            at: super::rfc3339(record.at.as_ref()),
            actor: &record.actor,
            role: &record.role,
            tenant: &record.tenant,
            action: &record.action,
            target: &record.target,
            outcome: &record.outcome,
            detail: &record.detail,
            source: &record.source,
        })
        .collect();
    serde_json::to_string_pretty(&rows)
}

/// Returns records as a table: time (UTC, seconds), actor, role, tenant, action, target,
/// outcome, source, detail (cut); `-` for empty fields.
pub fn audit_table(records: &[AuditRecord]) -> String {
    let cell = |text: &str| if text.is_empty() { "-".to_owned() } else { text.to_owned() };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            let at = system_time(record.at.as_ref())
                .map_or_else(|| "-".to_owned(), |time| humantime::format_rfc3339_seconds(time).to_string());
            vec![
                at,
                cell(&record.actor),
                cell(&record.role),
                cell(&record.tenant),
                cell(&record.action),
                cell(&record.target),
                cell(&record.outcome),
                cell(&record.source),
                cell(&one_line_preview(&record.detail, TABLE_DETAIL_CHARS)),
            ]
        })
        .collect();
    render_table(&["TIME", "ACTOR", "ROLE", "TENANT", "ACTION", "TARGET", "OUTCOME", "SOURCE", "DETAIL"], &rows)
}

#[cfg(test)]
mod tests {
    use agentry_sdk::Timestamp;

    use super::*;

    fn records() -> Vec<AuditRecord> {
        vec![
            AuditRecord {
                id: 8,
                at: Some(Timestamp { seconds: 1_700_000_100, nanos: 5_000_000 }),
                actor: "viewer-bot".into(),
                role: "viewer".into(),
                tenant: "acme".into(),
                action: "Spawn".into(),
                target: String::new(),
                outcome: "PERMISSION_DENIED".into(),
                detail: "role viewer may not call Spawn".into(),
                source: "10.0.0.7:51200".into(),
            },
            AuditRecord {
                id: 7,
                at: Some(Timestamp { seconds: 1_700_000_000, nanos: 0 }),
                actor: "ci".into(),
                role: "client".into(),
                tenant: "acme".into(),
                action: "CancelRun".into(),
                target: "run/r1".into(),
                outcome: "OK".into(),
                ..AuditRecord::default()
            },
        ]
    }

    #[test]
    fn json_is_an_array_of_records_newest_first() {
        let json: serde_json::Value = serde_json::from_str(&audit_json(&records()).expect("json")).expect("JSON");
        assert_eq!(
            json[0],
            serde_json::json!({
                "id": 8, "at": "2023-11-14T22:15:00.005Z", "actor": "viewer-bot", "role": "viewer",
                "tenant": "acme", "action": "Spawn", "target": "", "outcome": "PERMISSION_DENIED",
                "detail": "role viewer may not call Spawn", "source": "10.0.0.7:51200"
            })
        );
        assert_eq!(json[1]["id"], 7);
        assert_eq!(json[1]["target"], "run/r1");
        assert_eq!(audit_json(&[]).expect("json"), "[]");
    }

    #[test]
    fn the_table_has_a_row_per_record_and_dashes_for_empty_fields() {
        let table = audit_table(&records());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("TIME") && lines[0].ends_with("DETAIL"), "{table}");
        let cells: Vec<&str> = lines[1].split_whitespace().take(8).collect();
        assert_eq!(
            cells,
            [
                "2023-11-14T22:15:00Z",
                "viewer-bot",
                "viewer",
                "acme",
                "Spawn",
                "-",
                "PERMISSION_DENIED",
                "10.0.0.7:51200"
            ]
        );
        assert!(lines[1].ends_with("   role viewer may not call Spawn"), "{table}");
        let cells: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(cells, ["2023-11-14T22:13:20Z", "ci", "client", "acme", "CancelRun", "run/r1", "OK", "-", "-"]);
    }
}
