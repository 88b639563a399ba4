//! The audit records of the calls [`super::AuthLayer`] sees: who ([`Caller`]), and which
//! outcomes of a passed call are worth a record ([`Watch`]).

use tonic::Code;
use tonic::codegen::http;

use agentry_store::AuditRecord;

use super::Shared;
use super::protocol::{Protocol, action_of};
use crate::audit::{self, AuditContext, AuditLog, CallOutcome};
use crate::auth::principal::{NodePeer, Principal};

/// Who made a call, as audit records name it.
pub(super) struct Caller {
    pub(super) actor: String,
    pub(super) role: String,
    pub(super) tenant: String,
}

impl Caller {
    pub(super) fn of(principal: &Principal) -> Self {
        Self {
            actor: principal.actor.clone(),
            role: principal.role.as_str().to_owned(),
            tenant: principal.tenant.clone().unwrap_or_default(),
        }
    }

    /// A caller without valid credentials.
    pub(super) fn unknown() -> Self {
        Self { actor: "anonymous".to_owned(), role: String::new(), tenant: String::new() }
    }

    /// A node, named by its certificate when known.
    pub(super) fn node(peer: Option<&NodePeer>) -> Self {
        let actor = peer.map_or_else(|| "node".to_owned(), |peer| format!("node:{}", peer.name));
        Self { actor, role: "node".to_owned(), tenant: String::new() }
    }

    pub(super) fn record(&self, action: String, target: String, outcome: CallOutcome, source: String) -> AuditRecord {
        AuditRecord {
            id: 0,
            at_ms: audit::now_ms(),
            actor: self.actor.clone(),
            role: self.role.clone(),
            tenant: self.tenant.clone(),
            action,
            target,
            outcome: audit::code_name(outcome.code).to_owned(),
            detail: outcome.message,
            source,
        }
    }
}

/// Which outcomes of a watched call are recorded.
#[derive(Debug, Clone, Copy)]
pub(super) enum Recorded {
    /// Every outcome: a mutating call.
    Always,
    /// Only refusals with these codes.
    Refused(&'static [Code]),
}

/// Refusals of reads that are audited: what probing another tenant's agents or an exhausted
/// limit looks like.
pub(super) const REFUSED_READS: &[Code] =
    &[Code::NotFound, Code::PermissionDenied, Code::ResourceExhausted, Code::Unauthenticated];
/// Refusals of a node's routine calls that are audited (a certificate used for another node's
/// id); NOT_FOUND is a node the hub forgot, which rejoins.
pub(super) const REFUSED_NODE_CALLS: &[Code] = &[Code::PermissionDenied, Code::Unauthenticated];

/// A call whose outcome may be audited.
pub(super) struct Watch {
    log: AuditLog,
    pub(super) protocol: Protocol,
    caller: Caller,
    action: String,
    source: String,
    context: AuditContext,
    recorded: Recorded,
}

impl Watch {
    /// Puts a fresh [`AuditContext`] into `request` and returns the watch of its outcome.
    pub(super) fn new<B>(shared: &Shared, request: &mut http::Request<B>, caller: Caller, recorded: Recorded) -> Self {
        let context = AuditContext::attached();
        request.extensions_mut().insert(context.clone());
        Self {
            log: shared.audit.clone(),
            protocol: shared.protocol,
            caller,
            action: action_of(shared.protocol, request.uri().path()),
            source: audit::source_address(request.extensions()).map(|source| source.to_string()).unwrap_or_default(),
            context,
            recorded,
        }
    }

    pub(super) fn finish(self, outcome: CallOutcome) {
        let recorded = match self.recorded {
            Recorded::Always => true,
            Recorded::Refused(codes) => codes.contains(&outcome.code),
        };
        if recorded {
            let target = self.context.target().unwrap_or_default();
            self.log.record(self.caller.record(self.action, target, outcome, self.source));
        }
    }
}
