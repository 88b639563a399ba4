//! Tool permission policy: per tool and argument pattern, a call is allowed, denied, or held
//! for a person's approval (`ask`).
//!
//! Rules are tried in order and the first that matches decides; without a match the policy's
//! `default` decides. A rule matches a call when its `tool` matches the tool's name (exact, or
//! a prefix ending in `*`, e.g. `files__*`, or `*`) and, when it has a `pattern`, the regex
//! finds a match in the call's *subject*: the argument named by the rule's `argument`, or the
//! tool's primary argument ([`primary_argument`]: `command` for `bash`, `url` for `fetch`,
//! `path` for file tools …), or the whole arguments JSON for other tools. Non-string
//! arguments are matched as JSON text.
//!
//! ```toml
//! [tools]
//! default = "allow"
//! approval-timeout = "1h"
//! [[tools.rules]]
//! tool = "bash"
//! pattern = '^\s*git\s+push'
//! action = "ask"
//! [[tools.rules]]
//! tool = "bash"
//! pattern = 'rm\s+-[a-zA-Z]*r[a-zA-Z]*f?\s+/(\s|\*|$)'
//! action = "deny"
//! ```

use std::fmt;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default time a call waits for a decision before it is denied.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(3600);

/// What happens to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyAction {
    /// The call runs.
    #[default]
    Allow,
    /// The call does not run; the model gets a refusal as the result.
    Deny,
    /// The run waits (`waiting_approval`, slot freed) until a person approves or denies.
    Ask,
}

impl PolicyAction {
    /// Returns the lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Ask => "ask",
        }
    }
}

impl fmt::Display for PolicyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule of a [`ToolPolicy`] (a `[[tools.rules]]` table).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PolicyRule {
    /// Tool name, `prefix*` or `*`.
    pub tool: String,
    /// The argument the pattern is matched against; default: the tool's primary argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argument: Option<String>,
    /// A regex (Rust `regex` syntax) searched for in the subject; none matches every call of
    /// the tool.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_regex")]
    pub pattern: Option<Regex>,
    /// What to do with a matching call.
    pub action: PolicyAction,
    /// Shown to the model (deny) or to the approver (ask); default: the rule itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PolicyRule {
    /// Returns the rule as text, for events and messages (`bash =~ /^git push/ → ask`).
    pub fn describe(&self) -> String {
        let subject = self.argument.as_deref().map(|argument| format!(".{argument}")).unwrap_or_default();
        match &self.pattern {
            Some(pattern) => format!("{}{subject} =~ /{}/ → {}", self.tool, pattern.as_str(), self.action),
            None => format!("{} → {}", self.tool, self.action),
        }
    }

    fn matches(&self, tool: &str, arguments: &Value) -> bool {
        let tool_matches = match self.tool.strip_suffix('*') {
            Some(prefix) => tool.starts_with(prefix),
            None => self.tool == tool,
        };
        if !tool_matches {
            return false;
        }
        let Some(pattern) = &self.pattern else { return true };
        let argument = self.argument.as_deref().or_else(|| primary_argument(tool));
        let subject = match argument {
            Some(name) => match arguments.get(name) {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => return false,
            },
            None => arguments.to_string(),
        };
        pattern.is_match(&subject)
    }
}

/// The decision for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDecision {
    /// What to do.
    pub action: PolicyAction,
    /// The rule that decided (its [`PolicyRule::describe`]), `None` for the default.
    pub rule: Option<String>,
    /// The rule's reason, if it gave one.
    pub reason: Option<String>,
}

/// A node's settings for tool calls (`[tools]` of the config file): the permission policy,
/// overrides of builtin manifests, and the tools agents may name at all.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ToolPolicy {
    /// Builtin tools a spawned agent may name (default: all); checked by the hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// Manifest overrides by tool name (`[tools.manifest.bash]`), applied by nodes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub manifest: std::collections::BTreeMap<String, ManifestOverride>,
    /// Action when no rule matches.
    #[serde(default)]
    pub default: PolicyAction,
    /// Rules, first match wins.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    /// How long an `ask` waits for a decision before the call is denied (default 1 h).
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub approval_timeout: Option<Duration>,
}

impl ToolPolicy {
    /// Returns the decision for a call of `tool` with `arguments` (a JSON object).
    pub fn decide(&self, tool: &str, arguments: &Value) -> PolicyDecision {
        match self.rules.iter().find(|rule| rule.matches(tool, arguments)) {
            Some(rule) => {
                PolicyDecision { action: rule.action, rule: Some(rule.describe()), reason: rule.reason.clone() }
            }
            None => PolicyDecision { action: self.default, rule: None, reason: None },
        }
    }

    /// Returns how long an `ask` waits.
    pub fn approval_timeout(&self) -> Duration {
        self.approval_timeout.unwrap_or(DEFAULT_APPROVAL_TIMEOUT)
    }
}

/// Changes to a tool's manifest (`[tools.manifest.NAME]`); unset keys keep the tool's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ManifestOverride {
    /// Hosts the tool may reach: `[]` none, `["*"]` any, else exact names or `*.suffix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Vec<String>>,
    /// CPU seconds of a call's processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<u64>,
    /// Memory of a call's processes, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Processes and threads of a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_processes: Option<u64>,
    /// Wall-clock time of a call (capped by the node's tool timeout), e.g. `"2m"`.
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub wall_time: Option<Duration>,
    /// Largest output given to the model, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<usize>,
}

impl ToolPolicy {
    /// Checks what serde cannot: manifest overrides name builtin tools and sane values.
    ///
    /// Errors name the dotted key (`tools.manifest.bash.memory-mb`).
    pub fn validate(&self) -> Result<(), String> {
        let builtins = crate::agent::BUILTIN_TOOL_NAMES;
        for tool in self.allowed.iter().flatten() {
            if !builtins.contains(&tool.as_str()) {
                return Err(format!("tools.allowed: unknown tool {tool:?}; known tools are {}", builtins.join(", ")));
            }
        }
        for (tool, changes) in &self.manifest {
            if !builtins.contains(&tool.as_str()) {
                return Err(format!("tools.manifest.{tool}: unknown tool; known tools are {}", builtins.join(", ")));
            }
            let positive = [
                ("cpu-seconds", changes.cpu_seconds),
                ("memory-mb", changes.memory_mb),
                ("max-processes", changes.max_processes),
                ("max-output-bytes", changes.max_output_bytes.map(|bytes| bytes as u64)),
            ];
            if let Some((key, _)) = positive.iter().find(|(_, value)| *value == Some(0)) {
                return Err(format!("tools.manifest.{tool}.{key} must be at least 1"));
            }
            if changes.wall_time == Some(Duration::ZERO) {
                return Err(format!("tools.manifest.{tool}.wall-time must be more than 0s"));
            }
            if let Some(hosts) = &changes.network
                && let Some(bad) = hosts.iter().find(|host| host.is_empty() || host.contains(['/', ' ', ':']))
            {
                return Err(format!(
                    "tools.manifest.{tool}.network: {bad:?} is not a host name (give names like \"api.github.com\" or \
                     \"*.pypi.org\", [\"*\"] for any host, [] for none)"
                ));
            }
        }
        Ok(())
    }

    /// Returns whether the hub lets a spawned agent name `tool`.
    pub fn allows_tool(&self, tool: &str) -> bool {
        self.allowed.as_ref().is_none_or(|allowed| allowed.iter().any(|name| name == tool))
    }
}

/// Returns the argument a rule without `argument` matches for a builtin tool.
pub fn primary_argument(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "bash" => "command",
        "fetch" => "url",
        "patch" => "patch",
        "echo" => "text",
        "grep" | "glob" => "pattern",
        "view" | "read_lines" | "write" | "edit_range" | "insert_at" | "search_replace" | "ls" | "find" => "path",
        _ => return None,
    })
}

/// Serde for an optional regex as its source text (errors name the regex problem).
mod serde_regex {
    use regex::Regex;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(regex: &Option<Regex>, serializer: S) -> Result<S::Ok, S::Error> {
        match regex {
            Some(regex) => serializer.serialize_some(regex.as_str()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Regex>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|text| Regex::new(&text).map_err(serde::de::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy(toml_rules: &str) -> ToolPolicy {
        serde_json::from_str(toml_rules).unwrap()
    }

    #[test]
    fn first_matching_rule_decides_and_default_applies_otherwise() {
        let policy = policy(
            r#"{"default": "allow", "rules": [
                {"tool": "bash", "pattern": "^\\s*git\\s+push", "action": "ask", "reason": "pushes leave the machine"},
                {"tool": "bash", "pattern": "rm\\s+-rf\\s+/", "action": "deny"},
                {"tool": "files__*", "action": "deny"}
            ]}"#,
        );
        let push = policy.decide("bash", &json!({"command": "git push origin main"}));
        assert_eq!(push.action, PolicyAction::Ask);
        assert_eq!(push.reason.as_deref(), Some("pushes leave the machine"));
        assert_eq!(push.rule.as_deref(), Some(r"bash =~ /^\s*git\s+push/ → ask"));
        assert_eq!(
            policy.decide("bash", &json!({"command": "rm -rf / --no-preserve-root"})).action,
            PolicyAction::Deny
        );
        assert_eq!(policy.decide("bash", &json!({"command": "git status"})).action, PolicyAction::Allow);
        assert_eq!(policy.decide("files__read_file", &json!({})).action, PolicyAction::Deny);
        assert_eq!(policy.decide("echo", &json!({"text": "git push"})).rule, None);
    }

    #[test]
    fn rules_match_the_named_argument_or_the_whole_arguments() {
        let policy = policy(
            r#"{"default": "deny", "rules": [
                {"tool": "fetch", "argument": "method", "pattern": "^POST$", "action": "ask"},
                {"tool": "custom", "pattern": "\"secret\"", "action": "ask"},
                {"tool": "*", "action": "allow"}
            ]}"#,
        );
        assert_eq!(policy.decide("fetch", &json!({"url": "http://x", "method": "POST"})).action, PolicyAction::Ask);
        assert_eq!(policy.decide("fetch", &json!({"url": "http://x"})).action, PolicyAction::Allow);
        assert_eq!(policy.decide("custom", &json!({"key": "secret"})).action, PolicyAction::Ask);
        assert_eq!(policy.decide("custom", &json!({"key": "public"})).action, PolicyAction::Allow);
    }

    #[test]
    fn bad_regex_and_unknown_keys_are_rejected() {
        let bad: Result<ToolPolicy, _> =
            serde_json::from_str(r#"{"rules": [{"tool": "bash", "pattern": "(", "action": "deny"}]}"#);
        assert!(bad.unwrap_err().to_string().contains("regex parse error"));
        let unknown: Result<ToolPolicy, _> =
            serde_json::from_str(r#"{"rules": [{"tool": "bash", "patern": "x", "action": "deny"}]}"#);
        assert!(unknown.unwrap_err().to_string().contains("unknown field `patern`"));
        assert_eq!(ToolPolicy::default().approval_timeout(), DEFAULT_APPROVAL_TIMEOUT);
    }
}
