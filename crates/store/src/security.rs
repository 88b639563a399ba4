//! The records of tenants and of the audit log ([`crate::Store::append_audit`],
//! [`crate::Store::list_audit`], [`crate::Store::tenant_usage`]).

/// The most records one [`crate::Store::list_audit`] call returns.
pub const MAX_AUDIT_LIMIT: u32 = 1000;

/// One audited action: who did what to which target, when, from where, and how it ended.
///
/// The texts are the hub's (e.g. `action` an RPC name such as `Spawn`, `outcome` a gRPC code
/// name such as `OK` or `PERMISSION_DENIED`); the store keeps them as given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditRecord {
    /// Position in the log, from 1, increasing; set by the store (ignored by
    /// [`crate::Store::append_audit`]).
    pub id: u64,
    /// When it happened, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Who: the token's or certificate's identity (`anonymous` without authentication).
    pub actor: String,
    /// The actor's role (`admin`, `operator`, `client`, `viewer`, `node`), empty when unknown.
    pub role: String,
    /// The actor's tenant.
    pub tenant: String,
    /// What was asked (an RPC name).
    pub action: String,
    /// What it was asked of (`agent/<id>`, `run/<id>`, `node/<id>`), empty when none.
    pub target: String,
    /// How it ended (a gRPC code name).
    pub outcome: String,
    /// Why, for a refusal (its message), else empty.
    pub detail: String,
    /// Where the call came from (`ip:port`), empty when unknown.
    pub source: String,
}

/// Which records [`crate::Store::list_audit`] returns: a page of the log, newest first,
/// filtered. Every filter narrows the listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Most records returned; capped at [`MAX_AUDIT_LIMIT`] (0: none).
    pub limit: u32,
    /// Keyset cursor: only records with a smaller id. The last id of a page continues the
    /// listing.
    pub before_id: Option<u64>,
    /// Only records at or after this time, milliseconds since the Unix epoch.
    pub since_ms: Option<i64>,
    /// Only this actor's records (compared exactly).
    pub actor: Option<String>,
    /// Only records of this tenant (compared exactly).
    pub tenant: Option<String>,
}

impl AuditQuery {
    /// Returns the query of the newest `limit` records, unfiltered.
    pub fn newest(limit: u32) -> Self {
        Self { limit, ..Self::default() }
    }
}

/// What a tenant holds ([`crate::Store::tenant_usage`]), checked against its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TenantUsage {
    /// Its agents, whatever their state (imports and forks included).
    pub agents: u64,
    /// Its runs that have not ended: queued (placed or not), running, paused, waiting for an
    /// approval or for sub-agents.
    pub active_runs: u64,
}
