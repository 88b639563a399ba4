//! Role templates: agents described in agentry's YAML shape, spawned by name.
//!
//! ```yaml
//! name: coder
//! description: Writes and changes code
//! model: ""                # empty: the spawner's model (a team member: its parent's)
//! prompt: |                # or `system` (an alias; not both)
//!   You write {{ language }} code for {{project}}.
//! tools: [view, write, bash]
//! max_iterations: 30
//! temperature: 0.2
//! tool_choice: required    # first model call: auto | none | required | a tool name
//! vars: { language: Rust, project: this repository }
//! team: [reviewer]         # templates it may delegate to
//! ```
//!
//! Everything here is pure: [`RoleTemplate::parse_yaml`] and [`RoleTemplate::from_def`] check a
//! template on its own (unknown field, unknown tool, malformed placeholder, both `prompt` and
//! `system`…), [`check_team_members`] checks it against the library, [`render`] fills the
//! `{{var}}` placeholders and [`expand`] resolves a template with its team into an
//! [`AgentSpec`](crate::AgentSpec). Loading files is the hub's job. Every error names the
//! template and the offending value.

mod expand;
mod render;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::agent::BUILTIN_TOOL_NAMES;
use crate::limits::{MAX_ITERATIONS_LIMIT, MAX_SYSTEM_PROMPT_BYTES};
use crate::team::{MAX_ROLE_NAME_BYTES, is_delegation_tool};

pub use expand::{MAX_TEAM_ROLE_SPECS, TeamLimits, expand};
use render::{VAR_NAME_RULE, placeholders};
pub use render::{is_var_name, render};

/// Most variables (`vars`) one template may declare.
pub const MAX_TEMPLATE_VARS: usize = 64;

/// Longest variable name, bytes.
pub const MAX_VAR_NAME_BYTES: usize = 64;

/// Most team members one template may list.
pub const MAX_TEAM_MEMBERS: usize = 32;

/// A template as written — a YAML document or a `[templates.NAME]` table of the config file —
/// before it is checked ([`RoleTemplate::from_def`]). Unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDef {
    /// Template name (`[a-z0-9_-]`, at most [`MAX_ROLE_NAME_BYTES`]); empty: the file stem or
    /// table name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// One line: what agents of this role do (shown to a delegating model).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Model reference; empty: the spawner's (a team member inherits its parent's).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// System prompt with `{{var}}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Alias of `prompt` (setting both is an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Builtin tool names ([`BUILTIN_TOOL_NAMES`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Most model calls per run; 0: the hub default.
    #[serde(default, alias = "max-iterations", skip_serializing_if = "is_zero")]
    pub max_iterations: u32,
    /// Sampling temperature (0–2); absent: the model server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Tool choice of the first model call of a run (`auto`, `none`, `required` or a tool name,
    /// including `agent` / `parallel_agents` with a team); later calls are `auto`.
    #[serde(default, alias = "tool-choice", skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
    /// Default values of the placeholders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// Templates (roles) it may delegate to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub team: Vec<String>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// Checks a template's `tool_choice`: a tool it names must be one of `tools` or, when the
/// template has a team, a delegation tool; `required` needs a tool or a team.
fn check_tool_choice(choice: &str, tools: &[String], has_team: bool) -> Result<(), String> {
    let offered = |name: &String| tools.contains(name) || (has_team && crate::team::is_delegation_tool(name));
    match crate::agent::ToolChoice::parse(choice) {
        crate::agent::ToolChoice::Tool(name) if !offered(&name) => {
            Err(format!("tool_choice {name:?} is neither auto, none nor required, and not one of its tools"))
        }
        crate::agent::ToolChoice::Required if tools.is_empty() && !has_team => {
            Err("tool_choice is required but it has no tools and no team".to_owned())
        }
        _ => Ok(()),
    }
}

/// A checked role template ([`RoleTemplate::from_def`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RoleTemplate {
    /// Its name, also its role name in a team.
    pub name: String,
    /// One line: what agents of this role do.
    pub description: String,
    /// Model reference; empty: the spawner's (a team member inherits its parent's).
    pub model: String,
    /// System prompt with `{{var}}` placeholders (well formed).
    pub system: String,
    /// Builtin tool names (known, no duplicates).
    pub tools: Vec<String>,
    /// Most model calls per run; 0: the hub default.
    pub max_iterations: u32,
    /// Sampling temperature (0–2).
    pub temperature: Option<f32>,
    /// Tool choice of a run's first model call (checked against its tools and team).
    pub tool_choice: Option<String>,
    /// Default values of the placeholders.
    pub vars: BTreeMap<String, String>,
    /// Templates it may delegate to (no duplicates; checked against the library by
    /// [`check_team_members`]).
    pub team: Vec<String>,
}

/// Why a template was refused, or could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is malformed (bad YAML, unknown field or tool, bad placeholder…).
    #[error("template {template}: {reason}")]
    Invalid {
        /// The template's name (or the file stem / table name it came from).
        template: String,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// A placeholder has neither a default nor a value.
    #[error(
        "template {template}: variable {{{{{variable}}}}} has no value (pass vars.{variable} / --var {variable}=...)"
    )]
    MissingVariable {
        /// The template whose prompt has the placeholder.
        template: String,
        /// The variable.
        variable: String,
    },
    /// No template has this name.
    #[error("unknown template {name:?}; known templates are {known}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
}

impl TemplateError {
    fn invalid(template: &str, reason: impl Into<String>) -> Self {
        Self::Invalid { template: template.to_owned(), reason: reason.into() }
    }
}

impl RoleTemplate {
    /// Parses and checks one YAML document; `default_name` (the file stem) names a template
    /// without `name`.
    ///
    /// Errors: bad YAML or an unknown field (the YAML error, with its line), then
    /// [`RoleTemplate::from_def`]'s.
    pub fn parse_yaml(text: &str, default_name: &str) -> Result<Self, TemplateError> {
        let def: TemplateDef = serde_yaml_ng::from_str(text)
            .map_err(|error| TemplateError::invalid(default_name, format!("bad YAML: {error}")))?;
        Self::from_def(def, default_name)
    }

    /// Checks a template on its own: its name, `prompt` xor `system`, well-formed
    /// placeholders, known builtin tools (the delegation tools are refused: they come with a
    /// `team`), model syntax, temperature, `max_iterations`, variable names, team members
    /// listed once. `default_name` names a template without `name`.
    ///
    /// Errors name the template and the offending value.
    pub fn from_def(def: TemplateDef, default_name: &str) -> Result<Self, TemplateError> {
        let name = if def.name.is_empty() { default_name.to_owned() } else { def.name };
        check_name(&name).map_err(|reason| TemplateError::invalid(&name, reason))?;
        let invalid = |reason: String| TemplateError::invalid(&name, reason);
        let system = match (def.prompt, def.system) {
            (Some(_), Some(_)) => {
                return Err(invalid("both prompt and system are set; give one (system is an alias of prompt)".into()));
            }
            (Some(text), None) | (None, Some(text)) => text,
            (None, None) => String::new(),
        };
        placeholders(&system).map_err(invalid)?;
        if system.len() > MAX_SYSTEM_PROMPT_BYTES {
            return Err(invalid(format!(
                "prompt is {} bytes; the limit is {MAX_SYSTEM_PROMPT_BYTES} bytes",
                system.len()
            )));
        }
        check_tools(&def.tools).map_err(invalid)?;
        if !def.model.is_empty() {
            crate::models::check_reference_syntax(&def.model).map_err(|error| invalid(error.0.replace("spec.", "")))?;
        }
        if let Some(temperature) = def.temperature
            && !(0.0..=2.0).contains(&temperature)
        {
            return Err(invalid(format!("temperature is {temperature}; it must be between 0 and 2")));
        }
        if let Some(choice) = &def.tool_choice {
            check_tool_choice(choice, &def.tools, !def.team.is_empty()).map_err(invalid)?;
        }
        if def.max_iterations > MAX_ITERATIONS_LIMIT {
            return Err(invalid(format!(
                "max_iterations is {}; the limit is {MAX_ITERATIONS_LIMIT}",
                def.max_iterations
            )));
        }
        if def.vars.len() > MAX_TEMPLATE_VARS {
            return Err(invalid(format!("vars has {} entries; the limit is {MAX_TEMPLATE_VARS}", def.vars.len())));
        }
        if let Some(bad) = def.vars.keys().find(|key| !is_var_name(key)) {
            return Err(invalid(format!("vars: {bad:?} is not a variable name ({VAR_NAME_RULE})")));
        }
        check_team(&def.team).map_err(invalid)?;
        Ok(Self {
            name,
            description: def.description,
            model: def.model,
            system,
            tools: def.tools,
            max_iterations: def.max_iterations,
            temperature: def.temperature,
            tool_choice: def.tool_choice,
            vars: def.vars,
            team: def.team,
        })
    }

    /// Returns the template as written ([`TemplateDef`], its prompt as `prompt`).
    pub fn to_def(&self) -> TemplateDef {
        TemplateDef {
            name: self.name.clone(),
            description: self.description.clone(),
            model: self.model.clone(),
            prompt: Some(self.system.clone()).filter(|system| !system.is_empty()),
            system: None,
            tools: self.tools.clone(),
            max_iterations: self.max_iterations,
            temperature: self.temperature,
            tool_choice: self.tool_choice.clone(),
            vars: self.vars.clone(),
            team: self.team.clone(),
        }
    }

    /// Returns the template as YAML (for a template that has no text of its own, such as a
    /// config table).
    pub fn to_yaml(&self) -> String {
        // Serializing plain strings, numbers, lists and maps cannot fail.
        serde_yaml_ng::to_string(&self.to_def()).unwrap_or_default()
    }

    /// Returns the variables of its prompt's placeholders, each once, in order of appearance.
    pub fn placeholders(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        placeholders(&self.system).unwrap_or_default().into_iter().filter(|variable| seen.insert(*variable)).collect()
    }

    /// Returns its prompt with each placeholder replaced: `given` values over its `vars`
    /// defaults.
    ///
    /// Errors: [`TemplateError::MissingVariable`] for the first placeholder with no value.
    pub fn render(&self, given: &BTreeMap<String, String>) -> Result<String, TemplateError> {
        render(&self.name, &self.system, |variable| given.get(variable).or_else(|| self.vars.get(variable)))
    }
}

/// A library of templates by name (the hub's: built-ins, files and config tables merged).
pub trait Templates {
    /// Returns the template named `name`.
    fn template(&self, name: &str) -> Option<&RoleTemplate>;
    /// Returns every template name, sorted.
    fn names(&self) -> Vec<&str>;

    /// Returns the template named `name`.
    ///
    /// Errors: [`TemplateError::Unknown`], listing the known names.
    fn get(&self, name: &str) -> Result<&RoleTemplate, TemplateError> {
        self.template(name).ok_or_else(|| TemplateError::Unknown { name: name.to_owned(), known: join(self.names()) })
    }
}

impl Templates for BTreeMap<String, RoleTemplate> {
    fn template(&self, name: &str) -> Option<&RoleTemplate> {
        BTreeMap::get(self, name)
    }

    fn names(&self) -> Vec<&str> {
        self.keys().map(String::as_str).collect()
    }
}

/// Checks that every team member of `template` is a template of `templates`.
///
/// Errors name the template and the unknown member, with the known names.
pub fn check_team_members(template: &RoleTemplate, templates: &impl Templates) -> Result<(), TemplateError> {
    match template.team.iter().find(|member| templates.template(member).is_none()) {
        None => Ok(()),
        Some(member) => Err(TemplateError::invalid(
            &template.name,
            format!("team member {member:?} is not a known template; known templates are {}", join(templates.names())),
        )),
    }
}

/// Checks a template name: 1 to [`MAX_ROLE_NAME_BYTES`] of `[a-z0-9_-]` (it is a role name).
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_ROLE_NAME_BYTES
        && name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'_' | b'-'));
    if valid { Ok(()) } else { Err(format!("name {name:?} must be 1-{MAX_ROLE_NAME_BYTES} characters of a-z 0-9 _ -")) }
}

fn check_tools(tools: &[String]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for tool in tools {
        if is_delegation_tool(tool) {
            return Err(format!(
                "tool {tool:?} is not a builtin tool; list the templates it delegates to under team (an agent with \
                 a team gets the agent and parallel_agents tools)"
            ));
        }
        if !BUILTIN_TOOL_NAMES.contains(&tool.as_str()) {
            return Err(format!("unknown tool {tool:?}; known tools are {}", BUILTIN_TOOL_NAMES.join(", ")));
        }
        if !seen.insert(tool.as_str()) {
            return Err(format!("tool {tool:?} is listed twice"));
        }
    }
    Ok(())
}

fn check_team(team: &[String]) -> Result<(), String> {
    if team.len() > MAX_TEAM_MEMBERS {
        return Err(format!("team has {} members; the limit is {MAX_TEAM_MEMBERS}", team.len()));
    }
    let mut seen = BTreeSet::new();
    for member in team {
        check_name(member).map_err(|reason| format!("team member {reason}"))?;
        if !seen.insert(member.as_str()) {
            return Err(format!("team member {member:?} is listed twice"));
        }
    }
    Ok(())
}

fn join<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
}
