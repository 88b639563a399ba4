//! The audit log: records appended in order with increasing ids, listed newest first, filtered
//! by actor, tenant and time, paged by id.

use agentry_store::{AuditQuery, AuditRecord, MAX_AUDIT_LIMIT};

use super::Harness;

/// Returns a record of `actor` in `tenant` at `at_ms` doing `action`.
fn record(actor: &str, tenant: &str, at_ms: i64, action: &str) -> AuditRecord {
    AuditRecord {
        id: 0,
        at_ms,
        actor: actor.to_owned(),
        role: "operator".to_owned(),
        tenant: tenant.to_owned(),
        action: action.to_owned(),
        target: format!("agent/{action}"),
        outcome: "OK".to_owned(),
        detail: String::new(),
        source: "127.0.0.1:5000".to_owned(),
    }
}

/// Returns the actions of `records`, in order.
fn actions(records: &[AuditRecord]) -> Vec<&str> {
    records.iter().map(|record| record.action.as_str()).collect()
}

pub async fn audit_records_are_appended_in_order_and_listed_newest_first(harness: Harness) {
    let store = harness.store.as_ref();
    assert!(store.list_audit(&AuditQuery::newest(10)).await.unwrap().is_empty());
    store.append_audit(&[]).await.unwrap();

    let refused = AuditRecord {
        role: String::new(),
        outcome: "UNAUTHENTICATED".into(),
        detail: "no token: send `authorization: Bearer …`".into(),
        ..record("anonymous", "default", 1_000, "Spawn")
    };
    let first =
        [refused.clone(), record("ann", "acme", 1_001, "SendMessage"), record("bob", "beta", 1_002, "CancelRun")];
    store.append_audit(&first).await.unwrap();
    store
        .append_audit(&[record("ann", "acme", 1_003, "PauseRun"), record("ann", "acme", 1_004, "Fork")])
        .await
        .unwrap();

    let all = store.list_audit(&AuditQuery::newest(10)).await.unwrap();
    assert_eq!(actions(&all), ["Fork", "PauseRun", "CancelRun", "SendMessage", "Spawn"]);
    assert!(all.windows(2).all(|pair| pair[0].id > pair[1].id), "ids decrease: {all:?}");
    // Stored as given, but for the id the log assigns.
    let oldest = all.last().expect("the first record");
    assert_eq!(AuditRecord { id: 0, ..oldest.clone() }, refused);
    assert!(oldest.id >= 1);

    // Pages by id, without gaps.
    let mut pages = Vec::new();
    let mut before_id = None;
    loop {
        let page = store.list_audit(&AuditQuery { before_id, ..AuditQuery::newest(2) }).await.unwrap();
        before_id = page.last().map(|record| record.id);
        if page.is_empty() {
            break;
        }
        pages.push(actions(&page).into_iter().map(str::to_owned).collect::<Vec<_>>());
    }
    assert_eq!(pages, [vec!["Fork", "PauseRun"], vec!["CancelRun", "SendMessage"], vec!["Spawn"]]);
    assert!(store.list_audit(&AuditQuery::newest(0)).await.unwrap().is_empty(), "a limit of 0 lists none");
}

pub async fn audit_listing_is_capped(harness: Harness) {
    let store = harness.store.as_ref();
    let many: Vec<AuditRecord> = (0..i64::from(MAX_AUDIT_LIMIT) + 5)
        .map(|index| record("flood", "acme", index, &format!("call-{index}")))
        .collect();
    store.append_audit(&many).await.unwrap();
    let page = store.list_audit(&AuditQuery::newest(u32::MAX)).await.unwrap();
    assert_eq!(page.len(), MAX_AUDIT_LIMIT as usize);
    assert_eq!(page[0].action, format!("call-{}", MAX_AUDIT_LIMIT + 4), "the newest first");
    let rest = AuditQuery { before_id: page.last().map(|record| record.id), ..AuditQuery::newest(100) };
    let rest = store.list_audit(&rest).await.unwrap();
    assert_eq!(actions(&rest), ["call-4", "call-3", "call-2", "call-1", "call-0"]);
}

pub async fn audit_listing_filters_by_actor_tenant_and_time(harness: Harness) {
    let store = harness.store.as_ref();
    let records = [
        record("ann", "acme", 1_000, "a1"),
        record("bob", "acme", 2_000, "b1"),
        record("ann", "acme", 3_000, "a2"),
        record("carl", "beta", 3_000, "c1"),
        record("ann", "beta", 4_000, "a3"),
    ];
    store.append_audit(&records).await.unwrap();
    let listed = |query: AuditQuery| async move { store.list_audit(&AuditQuery { limit: 10, ..query }).await.unwrap() };

    let by_ann = listed(AuditQuery { actor: Some("ann".into()), ..AuditQuery::default() }).await;
    assert_eq!(actions(&by_ann), ["a3", "a2", "a1"]);
    let of_acme = listed(AuditQuery { tenant: Some("acme".into()), ..AuditQuery::default() }).await;
    assert_eq!(actions(&of_acme), ["a2", "b1", "a1"]);
    // Inclusive.
    let since = listed(AuditQuery { since_ms: Some(3_000), ..AuditQuery::default() }).await;
    assert_eq!(actions(&since), ["a3", "c1", "a2"]);
    let all_filters = AuditQuery {
        actor: Some("ann".into()),
        tenant: Some("acme".into()),
        since_ms: Some(2_000),
        ..AuditQuery::default()
    };
    assert_eq!(actions(&listed(all_filters).await), ["a2"]);
    let paged = AuditQuery { actor: Some("ann".into()), before_id: Some(by_ann[0].id), ..AuditQuery::default() };
    assert_eq!(actions(&listed(paged).await), ["a2", "a1"]);
    assert!(listed(AuditQuery { actor: Some("Ann".into()), ..AuditQuery::default() }).await.is_empty());
    assert!(listed(AuditQuery { since_ms: Some(4_001), ..AuditQuery::default() }).await.is_empty());
}
