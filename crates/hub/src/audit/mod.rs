//! The audit trail: an append-only log of what callers attempted (spawns, messages, run
//! controls, approvals, forks, imports, node joins, leaves and cordons, refused calls), written
//! off the request path in batches, and `AgentHub.ListAudit` to read it.
//!
//! - [`log`]: [`AuditLog`], the non-blocking recorder and its batch writer into the store.
//! - [`context`]: [`AuditContext`] (the target a handler names), the caller's address, a
//!   call's outcome.
//!
//! The records themselves are made by the authentication layer ([`crate::auth::AuthLayer`]),
//! which sees every call, its principal and its outcome.

pub mod context;
pub mod log;

use tonic::Status;

use agentry_proto::convert::timestamp;
use agentry_proto::v1 as pb;
use agentry_store::{AuditQuery, AuditRecord, MAX_AUDIT_LIMIT};

pub use context::{AuditContext, CallOutcome, code_name, set_target, source_address};
pub use log::{AuditLog, run_writer};

use crate::Hub;
use crate::auth::{Principal, Role, allows};
use crate::error::HubError;

/// Records `ListAudit` returns when the request names no limit.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;

/// `AgentHub.ListAudit`: the records `principal` may see, newest first — every record for a
/// principal of every tenant, its tenant's for the others (operators). Pages continue below
/// the previous page's last id.
///
/// Errors: PERMISSION_DENIED below operator; INVALID_ARGUMENT for a page token that is not
/// one; the store's.
pub(crate) async fn list_audit(
    hub: &Hub,
    principal: &Principal,
    request: pb::ListAuditRequest,
) -> Result<pb::ListAuditResponse, Status> {
    if !allows(principal.role, Role::Operator) {
        return Err(Status::permission_denied(format!("role {} may not call ListAudit", principal.role)));
    }
    let limit = match request.limit {
        0 => DEFAULT_AUDIT_LIMIT,
        limit => limit.min(MAX_AUDIT_LIMIT),
    };
    let before_id =
        match request.page_token.as_str() {
            "" => None,
            token => Some(token.parse::<u64>().map_err(|_| {
                Status::invalid_argument(format!("page_token: {token:?} is not a ListAudit page token"))
            })?),
        };
    let query = AuditQuery {
        limit,
        before_id,
        since_ms: request.since.as_ref().map(|since| agentry_proto::convert::timestamp_ms(Some(since))),
        actor: (!request.actor.is_empty()).then_some(request.actor),
        tenant: principal.tenant.clone(),
    };
    let records = hub.store.list_audit(&query).await.map_err(|error| Status::from(HubError::from(error)))?;
    let next_page_token = match records.last() {
        Some(last) if records.len() == limit as usize => last.id.to_string(),
        _ => String::new(),
    };
    Ok(pb::ListAuditResponse { records: records.into_iter().map(to_proto).collect(), next_page_token })
}

/// Returns the wire form of `record`.
fn to_proto(record: AuditRecord) -> pb::AuditRecord {
    pb::AuditRecord {
        id: record.id,
        at: Some(timestamp(record.at_ms)),
        actor: record.actor,
        role: record.role,
        tenant: record.tenant,
        action: record.action,
        target: record.target,
        outcome: record.outcome,
        detail: record.detail,
        source: record.source,
    }
}

/// Returns the current time in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::HubConfig;
    use crate::auth::AuthMethod;

    async fn hub_with_records(records: &[AuditRecord]) -> Hub {
        let config = HubConfig::for_test("sqlite::memory:");
        let store = agentry_store::connect(&config.database_url).await.expect("an in-memory store");
        store.append_audit(records).await.expect("append");
        Hub::new(config, Arc::clone(&store), agentry_broker::Broker::in_process())
    }

    fn record(actor: &str, tenant: &str, at_ms: i64) -> AuditRecord {
        AuditRecord {
            at_ms,
            actor: actor.into(),
            role: "client".into(),
            tenant: tenant.into(),
            action: "Spawn".into(),
            outcome: "OK".into(),
            ..AuditRecord::default()
        }
    }

    fn principal(role: Role, tenant: Option<&str>) -> Principal {
        Principal { actor: "op".into(), role, tenant: tenant.map(str::to_owned), method: AuthMethod::Token }
    }

    #[tokio::test]
    async fn operators_see_their_tenant_and_admins_everything() {
        let hub =
            hub_with_records(&[record("a", "acme", 1_000), record("b", "globex", 2_000), record("c", "acme", 3_000)])
                .await;
        let request = pb::ListAuditRequest::default();
        let operator = list_audit(&hub, &principal(Role::Operator, Some("acme")), request.clone()).await.expect("list");
        let actors: Vec<_> = operator.records.iter().map(|record| record.actor.as_str()).collect();
        assert_eq!(actors, ["c", "a"], "acme's records, newest first");
        let admin = list_audit(&hub, &principal(Role::Admin, None), request.clone()).await.expect("list");
        assert_eq!(admin.records.len(), 3);
        assert_eq!(admin.records[0].at, Some(timestamp(3_000)));
        let refused = list_audit(&hub, &principal(Role::Client, Some("acme")), request).await.expect_err("client");
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    }

    #[tokio::test]
    async fn filters_and_pages_narrow_the_listing() {
        let records: Vec<_> =
            (1..=5).map(|index| record(if index % 2 == 0 { "even" } else { "odd" }, "t", index * 1000)).collect();
        let hub = hub_with_records(&records).await;
        let admin = principal(Role::Admin, None);
        let first =
            list_audit(&hub, &admin, pb::ListAuditRequest { limit: 2, ..Default::default() }).await.expect("page 1");
        assert_eq!(first.records.iter().map(|record| record.id).collect::<Vec<_>>(), [5, 4]);
        assert_eq!(first.next_page_token, "4");
        let second = pb::ListAuditRequest { limit: 2, page_token: first.next_page_token, ..Default::default() };
        let second = list_audit(&hub, &admin, second).await.expect("page 2");
        assert_eq!(second.records.iter().map(|record| record.id).collect::<Vec<_>>(), [3, 2]);
        let odd = pb::ListAuditRequest { actor: "odd".into(), since: Some(timestamp(2_000)), ..Default::default() };
        let odd = list_audit(&hub, &admin, odd).await.expect("filtered");
        assert_eq!(odd.records.iter().map(|record| record.id).collect::<Vec<_>>(), [5, 3]);
        assert_eq!(odd.next_page_token, "", "the last page");
        let bad = pb::ListAuditRequest { page_token: "x".into(), ..Default::default() };
        let refused = list_audit(&hub, &admin, bad).await.expect_err("bad token");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    }
}
