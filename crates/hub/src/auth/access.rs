//! Who may call what: the role each RPC requires (docs/security.md has this table).
//!
//! | RPCs | least role |
//! |---|---|
//! | `GetAgent`, `ListAgents`, `GetRun`, `Trace`, `GetCost`, `ListApprovals`, `ListTemplates`, `ListMessages`, `GetTree`, `ListNodes`, `WhoAmI` | viewer |
//! | `Spawn`, `SendMessage`, `CancelRun`, `PauseRun`, `ResumeRun`, `Approve`, `ImportTrace`, `Fork` | client |
//! | `CordonNode`, `UncordonNode`, `DrainNode`, `ListAudit` | operator |
//! | `NodeService/*` | a node (its certificate under mutual TLS) |
//! | `grpc.health.v1.Health/*`, reflection | anyone |
//!
//! Roles are ordered (admin ⊇ operator ⊇ client ⊇ viewer): a role may call what any weaker role
//! may. Tenant scoping (a token sees only its tenant's agents) is applied by the handlers.
//! A path not in the table is refused (PERMISSION_DENIED) when authentication is on, so a new
//! RPC is closed until it gets a row.

use super::principal::Role;

/// What a path requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials: health checks and reflection.
    Public,
    /// A principal of at least this role.
    Role(Role),
    /// A node: `NodeService`.
    Node,
    /// Not a path of the hub: refused.
    Unknown,
}

/// gRPC path prefix of the client API.
pub const AGENT_HUB: &str = "/agentry.v1.AgentHub/";
/// gRPC path prefix of the node API.
pub const NODE_SERVICE: &str = "/agentry.v1.NodeService/";

/// Returns what calling the gRPC `path` (`/package.Service/Method`) requires.
pub fn required_role(path: &str) -> Access {
    if let Some(method) = path.strip_prefix(AGENT_HUB) {
        return agent_hub_role(method).map_or(Access::Unknown, Access::Role);
    }
    if let Some(method) = path.strip_prefix(NODE_SERVICE) {
        return if NODE_METHODS.contains(&method) { Access::Node } else { Access::Unknown };
    }
    let public = path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/");
    if public { Access::Public } else { Access::Unknown }
}

/// The methods of `NodeService`.
const NODE_METHODS: [&str; 7] = ["Join", "Heartbeat", "Lease", "LoadRun", "Commit", "PublishTokens", "Leave"];

/// Returns the least role that may call `AgentHub.<method>`; `None` for no such method.
fn agent_hub_role(method: &str) -> Option<Role> {
    let role = match method {
        "GetAgent" | "ListAgents" | "GetRun" | "Trace" | "GetCost" | "ListApprovals" | "ListTemplates"
        | "ListMessages" | "GetTree" | "ListNodes" | "WhoAmI" => Role::Viewer,
        "Spawn" | "SendMessage" | "CancelRun" | "PauseRun" | "ResumeRun" | "Approve" | "ImportTrace" | "Fork" => {
            Role::Client
        }
        "CordonNode" | "UncordonNode" | "DrainNode" | "ListAudit" => Role::Operator,
        _ => return None,
    };
    Some(role)
}

/// Returns whether `role` may call what requires `required`.
pub fn allows(role: Role, required: Role) -> bool {
    role <= required
}

/// Returns whether the call to `path` changes something worth an audit record whatever its
/// outcome: the mutating `AgentHub` RPCs and a node's `Join` and `Leave`.
pub fn is_audited(path: &str) -> bool {
    if let Some(method) = path.strip_prefix(AGENT_HUB) {
        return matches!(
            method,
            "Spawn"
                | "SendMessage"
                | "CancelRun"
                | "PauseRun"
                | "ResumeRun"
                | "Approve"
                | "Fork"
                | "ImportTrace"
                | "CordonNode"
                | "UncordonNode"
                | "DrainNode"
        );
    }
    matches!(path.strip_prefix(NODE_SERVICE), Some("Join" | "Leave"))
}

/// Returns the method name of a gRPC path (`/agentry.v1.AgentHub/Spawn` → `Spawn`).
pub fn method_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// Returns `/package.Service/Method` of every method of `service` in the proto descriptors.
    fn proto_paths(service: &str) -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(agentry_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
        let mut paths = Vec::new();
        for file in &set.file {
            for found in file.service.iter().filter(|found| found.name() == service) {
                for method in &found.method {
                    paths.push(format!("/{}.{}/{}", file.package(), service, method.name()));
                }
            }
        }
        assert!(!paths.is_empty(), "no service {service} in the descriptors");
        paths
    }

    #[test]
    fn every_rpc_of_the_proto_has_a_row() {
        for path in proto_paths("AgentHub") {
            assert!(matches!(required_role(&path), Access::Role(_)), "{path} has no row in agent_hub_role");
        }
        for path in proto_paths("NodeService") {
            assert_eq!(required_role(&path), Access::Node, "{path} is missing from NODE_METHODS");
        }
    }

    #[test]
    fn every_mutating_rpc_of_the_proto_is_audited() {
        let reads = ["Get", "List", "Trace", "WhoAmI"];
        for path in proto_paths("AgentHub") {
            let method = method_name(&path);
            let reading = reads.iter().any(|prefix| method.starts_with(prefix));
            assert_eq!(is_audited(&path), !reading, "{path}");
        }
        assert!(is_audited("/agentry.v1.NodeService/Join") && is_audited("/agentry.v1.NodeService/Leave"));
        assert!(!is_audited("/agentry.v1.NodeService/Heartbeat"));
    }

    #[test]
    fn roles_follow_the_table() {
        assert_eq!(required_role("/agentry.v1.AgentHub/GetAgent"), Access::Role(Role::Viewer));
        assert_eq!(required_role("/agentry.v1.AgentHub/Spawn"), Access::Role(Role::Client));
        assert_eq!(required_role("/agentry.v1.AgentHub/DrainNode"), Access::Role(Role::Operator));
        assert_eq!(required_role("/agentry.v1.AgentHub/ListAudit"), Access::Role(Role::Operator));
        assert_eq!(required_role("/grpc.health.v1.Health/Check"), Access::Public);
        assert_eq!(required_role("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"), Access::Public);
        assert_eq!(required_role("/agentry.v1.AgentHub/Bogus"), Access::Unknown);
        assert_eq!(required_role("/agentry.v1.NodeService/Bogus"), Access::Unknown);
        assert_eq!(required_role("/other.Service/Call"), Access::Unknown);
        assert!(allows(Role::Admin, Role::Operator) && allows(Role::Client, Role::Client));
        assert!(!allows(Role::Viewer, Role::Client) && !allows(Role::Client, Role::Operator));
        assert_eq!(method_name("/agentry.v1.AgentHub/Spawn"), "Spawn");
    }
}
