//! [`Principal`]: the authenticated caller of an `AgentHub` call, and [`NodePeer`]: the node
//! a `NodeService` call's client certificate names.

use std::fmt;

/// The tenant of every agent when authentication is off, and of tokens that name none.
pub const DEFAULT_TENANT: &str = agentry_core::DEFAULT_TENANT;

/// What a caller may do (docs/security.md has the table of RPCs per role). Ordered from most
/// to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Everything, across tenants when its token names no tenant.
    Admin,
    /// A tenant's agents and the cluster's nodes (cordon, drain), and the audit log.
    Operator,
    /// A tenant's agents: spawn, message, control, approve, fork, read.
    Client,
    /// Read a tenant's agents, runs, traces and costs.
    Viewer,
}

impl Role {
    /// Returns the role's name as configured and shown (`admin`, `operator`, `client`, `viewer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Client => "client",
            Self::Viewer => "viewer",
        }
    }

    /// Parses a role name (case-sensitive); `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "admin" => Some(Self::Admin),
            "operator" => Some(Self::Operator),
            "client" => Some(Self::Client),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a [`Principal`] was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Authentication is off: every caller is the anonymous admin.
    None,
    /// A static bearer token of the auth file.
    Token,
    /// A verified JWT.
    Jwt,
}

impl AuthMethod {
    /// Returns the method's name (`none`, `token`, `jwt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Token => "token",
            Self::Jwt => "jwt",
        }
    }
}

/// The authenticated caller of an `AgentHub` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who: the token's name, the JWT's subject, or `anonymous`.
    pub actor: String,
    /// What it may do.
    pub role: Role,
    /// The tenant it acts in; `None`: every tenant (only an admin token without a tenant, and
    /// the anonymous admin when authentication is off).
    pub tenant: Option<String>,
    /// How it was authenticated.
    pub method: AuthMethod,
}

impl Principal {
    /// Returns the caller of every call when authentication is off: an admin of all tenants.
    pub fn anonymous() -> Self {
        Self { actor: "anonymous".to_owned(), role: Role::Admin, tenant: None, method: AuthMethod::None }
    }

    /// Returns whether the principal may see and change `tenant`'s agents.
    pub fn sees(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|own| own == tenant)
    }

    /// Returns the tenant new agents of this principal belong to: its own, or
    /// [`DEFAULT_TENANT`] for a principal of every tenant.
    pub fn spawn_tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(DEFAULT_TENANT)
    }
}

/// The node named by the verified client certificate of a `NodeService` call (its SPIFFE ID
/// `spiffe://agentry/node/<name>`), in the request's extensions when the hub runs mutual TLS
/// (`tls-client-ca`). Absent without mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePeer {
    /// The node's name, as it must `Join` with.
    pub name: String,
}

/// Returns the principal of `request`, set by the authentication layer; the anonymous admin
/// when there is none (authentication off, or a handler called in-process by a test).
pub fn principal<T>(request: &tonic::Request<T>) -> Principal {
    request.extensions().get::<Principal>().cloned().unwrap_or_else(Principal::anonymous)
}
