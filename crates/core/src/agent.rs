//! Agents: long-lived conversations with a model, tools and instructions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::AgentId;
use crate::limits::{DEFAULT_MAX_ITERATIONS, MAX_ITERATIONS_LIMIT, MAX_SYSTEM_PROMPT_BYTES};

/// Names of the builtin tools every node provides (agentry's names), in the order they are
/// offered. The hub checks specs against this list; `agentry-runtime` builds each of them.
pub const BUILTIN_TOOL_NAMES: &[&str] = &[
    "echo",
    "bash",
    "view",
    "write",
    "ls",
    "fetch",
    "read_lines",
    "edit_range",
    "insert_at",
    "search_replace",
    "find",
    "grep",
    "glob",
    "patch",
];

/// How an agent runs. Serialized as JSON in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// Model reference: a configured model or route, `provider:model`, or a fallback chain
    /// `a,b` (see [`crate::models`]).
    pub model: String,
    /// Builtin tool names the agent may call.
    pub tools: Vec<String>,
    /// System prompt; empty for none.
    pub system: String,
    /// Maximum model calls per run.
    pub max_iterations: u32,
    /// Labels a node must have to run this agent (hard placement constraint).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Sampling temperature (0–2); `None` leaves the model server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Tool choice ([`ToolChoice`] text: `auto`, `none`, `required` or a tool name); `None` is
    /// `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
    /// MCP servers whose tools the agent may call, by server name; their tools are offered as
    /// `<server>__<tool>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mcp_servers: BTreeMap<String, McpServer>,
    /// Role agents it may delegate to (the `agent` and `parallel_agents` tools); `None`: it
    /// cannot delegate. Filled by the hub from a role template's `team`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<crate::team::Team>,
}

/// An MCP server an agent's tools come from: a stdio command started (inside the node's
/// sandbox) for each run, or a streamable-HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McpServer {
    /// A process speaking MCP on stdin/stdout, started in the run's workspace.
    Stdio {
        /// Program and arguments (`["npx", "-y", "@modelcontextprotocol/server-everything"]`).
        command: Vec<String>,
        /// Extra environment variables.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, String>,
        /// Whether the server may use the network (default: no).
        #[serde(default)]
        network: bool,
    },
    /// A streamable-HTTP MCP endpoint (`https://host/mcp`).
    Http {
        /// The endpoint URL.
        url: String,
    },
}

/// Separates an MCP server's name from its tool's name in tool names (`files__read_file`).
pub const MCP_TOOL_SEPARATOR: &str = "__";

impl AgentSpec {
    /// Checks the spec and fills defaults (`max_iterations` 0 → [`DEFAULT_MAX_ITERATIONS`]).
    ///
    /// Errors name the offending field and say what would be accepted.
    pub fn validated(self) -> Result<Self, SpecError> {
        self.validated_at(0)
    }

    /// [`AgentSpec::validated`] for a spec `depth` teams below the one checked: its team's
    /// roles are checked too, at most [`crate::team::MAX_TEAM_DEPTH`] levels deep.
    fn validated_at(mut self, depth: usize) -> Result<Self, SpecError> {
        crate::models::check_reference_syntax(&self.model)?;
        for tool in &self.tools {
            if !BUILTIN_TOOL_NAMES.contains(&tool.as_str()) {
                return Err(SpecError(format!(
                    "spec.tools: unknown tool {tool:?}; known tools are {}",
                    BUILTIN_TOOL_NAMES.join(", ")
                )));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(duplicate) = self.tools.iter().find(|tool| !seen.insert(tool.as_str())) {
            return Err(SpecError(format!("spec.tools: {duplicate:?} is listed twice")));
        }
        check_mcp_servers(&self.mcp_servers)?;
        if self.system.len() > MAX_SYSTEM_PROMPT_BYTES {
            return Err(SpecError(format!(
                "spec.system is {} bytes; the limit is {MAX_SYSTEM_PROMPT_BYTES} bytes",
                self.system.len()
            )));
        }
        if let Some(temperature) = self.temperature
            && !(0.0..=2.0).contains(&temperature)
        {
            return Err(SpecError(format!("spec.temperature is {temperature}; it must be between 0 and 2")));
        }
        if let Some(choice) = &self.tool_choice {
            // An agent with a team also has the delegation tools (`agent`, `parallel_agents`).
            let delegates = self.team.is_some();
            let offered =
                |name: &String| self.tools.contains(name) || (delegates && crate::team::is_delegation_tool(name));
            match ToolChoice::parse(choice) {
                ToolChoice::Tool(name) if !offered(&name) => {
                    let mut tools = self.tools.clone();
                    if delegates {
                        tools
                            .extend([crate::team::AGENT_TOOL.to_owned(), crate::team::PARALLEL_AGENTS_TOOL.to_owned()]);
                    }
                    return Err(SpecError(format!(
                        "spec.tool_choice: {name:?} is neither auto, none nor required, and not one of the agent's \
                         tools [{}]",
                        tools.join(", ")
                    )));
                }
                ToolChoice::Required if self.tools.is_empty() && !delegates => {
                    return Err(SpecError("spec.tool_choice is required but the agent has no tools".to_owned()));
                }
                _ => {}
            }
        }
        if self.max_iterations == 0 {
            self.max_iterations = DEFAULT_MAX_ITERATIONS;
        }
        if self.max_iterations > MAX_ITERATIONS_LIMIT {
            return Err(SpecError(format!(
                "spec.max_iterations is {}; the limit is {MAX_ITERATIONS_LIMIT}",
                self.max_iterations
            )));
        }
        if let Some(team) = self.team.take() {
            self.team = Some(validated_team(team, depth)?);
        }
        Ok(self)
    }
}

/// Checks a team: role names, `max_parallel`, each role's spec (errors name the role:
/// `spec.team.roles.coder.tools: ...`), and the nesting depth.
fn validated_team(mut team: crate::team::Team, depth: usize) -> Result<crate::team::Team, SpecError> {
    use crate::team::{MAX_PARALLEL_AGENTS, MAX_ROLE_NAME_BYTES, MAX_TEAM_DEPTH};
    if depth >= MAX_TEAM_DEPTH {
        return Err(SpecError(format!("spec.team: teams nest more than {MAX_TEAM_DEPTH} levels deep")));
    }
    if team.roles.is_empty() {
        return Err(SpecError("spec.team.roles: a team needs at least one role".to_owned()));
    }
    if !(1..=MAX_PARALLEL_AGENTS).contains(&team.max_parallel) {
        return Err(SpecError(format!(
            "spec.team.max_parallel is {}; it must be between 1 and {MAX_PARALLEL_AGENTS}",
            team.max_parallel
        )));
    }
    let roles = std::mem::take(&mut team.roles);
    for (name, mut role) in roles {
        let valid_name = !name.is_empty()
            && name.len() <= MAX_ROLE_NAME_BYTES
            && name
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-');
        if !valid_name {
            return Err(SpecError(format!(
                "spec.team.roles: role name {name:?} must be 1 to {MAX_ROLE_NAME_BYTES} characters of a-z, 0-9, '_' and '-'"
            )));
        }
        role.spec = role.spec.validated_at(depth + 1).map_err(|error| {
            let detail = error.0.strip_prefix("spec.").unwrap_or(&error.0).to_owned();
            SpecError(format!("spec.team.roles.{name}.{detail}"))
        })?;
        team.roles.insert(name, role);
    }
    Ok(team)
}

/// Most MCP servers one agent may use.
pub const MAX_MCP_SERVERS: usize = 8;

/// Longest MCP server name, bytes.
pub const MAX_MCP_SERVER_NAME_LEN: usize = 32;

/// Checks an MCP server name: 1 to [`MAX_MCP_SERVER_NAME_LEN`] of `[a-z0-9_-]`, without `__`
/// and not ending with `_`, so that `<server>__<tool>` splits at its first `__`.
///
/// Errors with what is wrong and what would be accepted.
pub fn check_mcp_server_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_MCP_SERVER_NAME_LEN {
        return Err(format!("server name {name:?} must be 1 to {MAX_MCP_SERVER_NAME_LEN} characters"));
    }
    if !name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-') {
        return Err(format!("server name {name:?} may only contain a-z, 0-9, '_' and '-'"));
    }
    if name.contains(MCP_TOOL_SEPARATOR) || name.ends_with('_') {
        return Err(format!("server name {name:?} must not contain {MCP_TOOL_SEPARATOR:?} nor end with '_'"));
    }
    Ok(())
}

/// Checks the MCP servers of a spec without starting them: at most [`MAX_MCP_SERVERS`], valid
/// names ([`check_mcp_server_name`]); for stdio servers a non-blank program, at most 64
/// arguments and 8 KiB with the environment, no NUL byte, valid environment names; for HTTP
/// servers an `http://` or `https://` URL of at most 2 KiB.
///
/// Errors name the server (`spec.mcp_servers.NAME: …`).
pub fn check_mcp_servers(servers: &BTreeMap<String, McpServer>) -> Result<(), SpecError> {
    if servers.len() > MAX_MCP_SERVERS {
        return Err(SpecError(format!(
            "spec.mcp_servers has {} servers; the limit is {MAX_MCP_SERVERS}",
            servers.len()
        )));
    }
    for (name, server) in servers {
        let field = |reason: String| SpecError(format!("spec.mcp_servers.{name}: {reason}"));
        check_mcp_server_name(name).map_err(field)?;
        match server {
            McpServer::Stdio { command, env, .. } => {
                match command.first() {
                    None => return Err(field("command is empty; give the program and its arguments".to_owned())),
                    Some(program) if program.trim().is_empty() => {
                        return Err(field("command[0] (the program) is blank".to_owned()));
                    }
                    Some(_) => {}
                }
                let bytes: usize = command.iter().chain(env.keys()).chain(env.values()).map(String::len).sum();
                if command.len() > 64 || bytes > 8192 {
                    return Err(field("command and env are too large (at most 64 arguments and 8 KiB)".to_owned()));
                }
                if let Some(argument) = command.iter().find(|argument| argument.contains('\0')) {
                    return Err(field(format!("command argument {argument:?} contains a NUL byte")));
                }
                for (key, value) in env {
                    if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
                        return Err(field(format!("env {key:?} is not a valid environment variable")));
                    }
                }
            }
            McpServer::Http { url } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
                    return Err(field(format!("url {url:?} must be an http:// or https:// URL of at most 2 KiB")));
                }
            }
        }
    }
    Ok(())
}

/// A rejected agent spec; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

/// Which tools the model may or must call, as OpenAI's and Anthropic's `tool_choice`.
///
/// In the agent loop, `auto` and `none` apply to every model call; `required` and a named tool
/// apply to the first model call of each run only (later calls are `auto`), so that the model
/// can still give its final answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides (the default).
    #[default]
    Auto,
    /// No tool call.
    None,
    /// At least one tool call.
    Required,
    /// A call of this tool.
    Tool(String),
}

impl ToolChoice {
    /// Parses `auto`, `none`, `required`, or any other text as a tool name.
    pub fn parse(text: &str) -> Self {
        match text {
            "auto" | "" => Self::Auto,
            "none" => Self::None,
            "required" => Self::Required,
            name => Self::Tool(name.to_owned()),
        }
    }

    /// Returns the choice for model call `step` (1-based) of a run: `required` and a named tool
    /// hold for step 1 only.
    pub fn for_step(&self, step: u32) -> Self {
        match self {
            Self::Required | Self::Tool(_) if step > 1 => Self::Auto,
            other => other.clone(),
        }
    }
}

/// A stored agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// The agent's id.
    pub id: AgentId,
    /// How it runs.
    pub spec: AgentSpec,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// Parent agent, for sub-agents.
    pub parent_id: Option<AgentId>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Sequence number of the latest persisted trace event (0 when none).
    pub last_seq: u64,
    /// The budget its model calls draw from (its own, or inherited from its parent).
    pub budget_id: Option<String>,
    /// What a read-only agent was imported from (a trace file's name); `None` for a live
    /// agent. An import takes no message and none of its runs can be controlled.
    pub imported_from: Option<String>,
    /// For a fork: the agent it was forked from and the seq of that agent's trace it branched
    /// at.
    pub forked_from: Option<(AgentId, u64)>,
    /// The tenant it belongs to: the spawning token's; a sub-agent's is its parent's, a fork's
    /// its source's, an import's the importer's. Agents stored before tenants existed (issue
    /// 16) belong to [`crate::DEFAULT_TENANT`].
    pub tenant: String,
}

impl Agent {
    /// Returns why the agent takes no new work when it is a read-only import (see
    /// [`read_only_import`]); `None` for a live agent.
    pub fn read_only_reason(&self) -> Option<String> {
        self.imported_from.as_deref().map(|source| read_only_import(self.id, source))
    }
}

/// Returns the refusal of a change to an imported agent: `agent ID is a read-only import of
/// SOURCE`.
pub fn read_only_import(agent_id: AgentId, source: &str) -> String {
    format!("agent {agent_id} is a read-only import of {source}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(model: &str, tools: &[&str]) -> AgentSpec {
        AgentSpec {
            model: model.into(),
            tools: tools.iter().map(|tool| tool.to_string()).collect(),
            system: String::new(),
            max_iterations: 0,
            node_selector: BTreeMap::new(),
            temperature: None,
            tool_choice: None,
            mcp_servers: BTreeMap::new(),
            team: None,
        }
    }

    #[test]
    fn teams_are_checked_role_by_role() {
        use crate::team::{Team, TeamRole};
        let team = |roles: Vec<(&str, AgentSpec)>, max_parallel| {
            let roles = roles
                .into_iter()
                .map(|(name, spec)| (name.to_owned(), TeamRole { description: String::new(), spec }))
                .collect();
            Some(Team { roles, max_parallel })
        };
        let mut lead = spec("openai:m", &[]);
        lead.team = team(vec![("coder", spec("openai:m", &["bash"]))], 4);
        let validated = lead.clone().validated().unwrap();
        assert_eq!(validated.team.unwrap().roles["coder"].spec.max_iterations, DEFAULT_MAX_ITERATIONS);
        lead.team = team(vec![("coder", spec("openai:m", &["rm"]))], 4);
        let error = lead.clone().validated().unwrap_err().0;
        assert!(error.starts_with("spec.team.roles.coder.tools: unknown tool \"rm\""), "{error}");
        lead.team = team(vec![("Coder!", spec("openai:m", &[]))], 4);
        assert!(lead.clone().validated().unwrap_err().0.contains("role name \"Coder!\""));
        lead.team = team(vec![("coder", spec("openai:m", &[]))], 0);
        assert_eq!(lead.clone().validated().unwrap_err().0, "spec.team.max_parallel is 0; it must be between 1 and 64");
        let mut nested = spec("openai:m", &[]);
        for _ in 0..10 {
            let mut outer = spec("openai:m", &[]);
            outer.team = team(vec![("x", nested)], 1);
            nested = outer;
        }
        assert!(nested.validated().unwrap_err().0.contains("nest more than 8 levels"));
    }

    #[test]
    fn defaults_are_filled() {
        let validated = spec("openai:m", &["bash"]).validated().unwrap();
        assert_eq!(validated.max_iterations, DEFAULT_MAX_ITERATIONS);
    }

    #[test]
    fn unknown_tool_is_named() {
        let error = spec("openai:m", &["rm_rf"]).validated().unwrap_err();
        assert!(error.0.contains("unknown tool \"rm_rf\""), "{error}");
    }

    #[test]
    fn bad_model_is_explained() {
        assert!(spec("gpt 4", &[]).validated().unwrap_err().0.contains("provider:model"));
        assert!(spec("acme:x", &[]).validated().unwrap_err().0.contains("unknown provider"));
        assert!(spec("openai:", &[]).validated().unwrap_err().0.contains("names no model"));
        assert!(spec("fast,openai:m", &[]).validated().is_ok(), "a chain of a name and an ad-hoc model");
    }

    #[test]
    fn tool_choice_names_a_tool_of_the_agent_and_required_needs_tools() {
        let mut named = spec("openai:m", &["bash"]);
        named.tool_choice = Some("view".into());
        assert!(named.validated().unwrap_err().0.contains("spec.tool_choice: \"view\""));
        let mut required = spec("openai:m", &[]);
        required.tool_choice = Some("required".into());
        assert!(required.validated().is_err());
        // A lead with a team and no tools of its own may be made to delegate first.
        let mut lead = spec("openai:m", &[]);
        let role = crate::team::TeamRole { description: String::new(), spec: spec("openai:m", &["bash"]) };
        lead.team = Some(crate::team::Team { roles: BTreeMap::from([("shell".to_owned(), role)]), max_parallel: 2 });
        lead.tool_choice = Some("required".into());
        assert!(lead.clone().validated().is_ok(), "required with only delegation tools");
        lead.tool_choice = Some("parallel_agents".into());
        assert!(lead.clone().validated().is_ok(), "naming a delegation tool");
        lead.tool_choice = Some("bash".into());
        assert!(lead.validated().unwrap_err().0.ends_with("tools [agent, parallel_agents]"));
        assert_eq!(ToolChoice::parse("bash").for_step(1), ToolChoice::Tool("bash".into()));
        assert_eq!(ToolChoice::Required.for_step(2), ToolChoice::Auto);
        assert_eq!(ToolChoice::None.for_step(3), ToolChoice::None);
    }

    #[test]
    fn temperature_is_bounded() {
        let mut hot = spec("openai:m", &[]);
        hot.temperature = Some(2.5);
        assert!(hot.validated().unwrap_err().0.contains("spec.temperature is 2.5"));
        let mut cold = spec("openai:m", &[]);
        cold.temperature = Some(0.0);
        assert_eq!(cold.validated().unwrap().temperature, Some(0.0));
    }

    #[test]
    fn mcp_servers_are_checked() {
        let mut with = spec("openai:m", &[]);
        let stdio =
            McpServer::Stdio { command: vec!["npx".into(), "server".into()], env: BTreeMap::new(), network: false };
        with.mcp_servers.insert("files".into(), stdio.clone());
        with.mcp_servers.insert("web".into(), McpServer::Http { url: "https://mcp.example/mcp".into() });
        assert!(with.clone().validated().is_ok());
        let mut bad_name = with.clone();
        bad_name.mcp_servers.insert("Bad__Name".into(), stdio);
        assert!(bad_name.validated().unwrap_err().0.contains("spec.mcp_servers.Bad__Name: server name"));
        let mut no_command = with.clone();
        no_command
            .mcp_servers
            .insert("x".into(), McpServer::Stdio { command: vec![], env: BTreeMap::new(), network: false });
        assert!(no_command.validated().unwrap_err().0.contains("spec.mcp_servers.x: command is empty"));
        let mut bad_url = with;
        bad_url.mcp_servers.insert("y".into(), McpServer::Http { url: "ftp://x".into() });
        assert!(bad_url.validated().unwrap_err().0.contains("spec.mcp_servers.y: url"));
    }

    #[test]
    fn duplicate_tools_are_rejected() {
        assert!(spec("openai:m", &["echo", "echo"]).validated().is_err());
    }
}
