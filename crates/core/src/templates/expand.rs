//! Resolving a template, with its team, into the spec of an agent to spawn.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{RoleTemplate, TemplateError, Templates, join};
use crate::agent::AgentSpec;
use crate::team::{Team, TeamRole};

/// Most role specs one expanded team may hold, all levels together: a team whose templates
/// refer to each other grows with every level, and the whole tree is stored in the spec.
pub const MAX_TEAM_ROLE_SPECS: usize = 128;

/// How far a team is expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamLimits {
    /// Levels of teams below the spawned agent (its own team is level 1); a member at the
    /// deepest level gets no team, so cycles between templates end there.
    pub max_depth: u32,
    /// [`Team::max_parallel`] of every team.
    pub max_parallel: u32,
}

/// Resolves template `name` of `templates` into an agent spec.
///
/// - Placeholders are filled from `vars` over each template's defaults; the same `vars` reach
///   every team member.
/// - The fields set in `overrides` (the spawn request's spec: non-empty model, system, tools,
///   tool choice, node selector, MCP servers and team; non-zero `max_iterations`; a
///   temperature) replace the template's; a prompt that is overridden is not rendered.
/// - The team: each member's spec (its own model, else its parent's resolved model), with
///   members' teams in turn, down to `limits.max_depth` levels; descriptions from the members.
///
/// Errors: an unknown template or team member, a variable given that no template of the team
/// uses, a placeholder without a value ([`TemplateError::MissingVariable`]), no model at all,
/// or more than [`MAX_TEAM_ROLE_SPECS`] role specs.
pub fn expand(
    templates: &impl Templates,
    name: &str,
    vars: &BTreeMap<String, String>,
    overrides: &AgentSpec,
    limits: TeamLimits,
) -> Result<AgentSpec, TemplateError> {
    let top = templates.get(name)?;
    check_given_vars(templates, top, vars)?;
    let model = if overrides.model.is_empty() { top.model.clone() } else { overrides.model.clone() };
    if model.trim().is_empty() {
        return Err(TemplateError::invalid(
            &top.name,
            "it names no model; pass spec.model (agentry spawn --model MODEL)",
        ));
    }
    let system = if overrides.system.is_empty() { top.render(vars)? } else { overrides.system.clone() };
    let mut expander = Expander { templates, vars, limits, role_specs: 0 };
    let team = match &overrides.team {
        Some(team) => Some(team.clone()),
        None => expander.team(top, &model, 0)?,
    };
    Ok(AgentSpec {
        tools: if overrides.tools.is_empty() { top.tools.clone() } else { overrides.tools.clone() },
        system,
        max_iterations: if overrides.max_iterations == 0 { top.max_iterations } else { overrides.max_iterations },
        temperature: overrides.temperature.or(top.temperature),
        node_selector: overrides.node_selector.clone(),
        tool_choice: overrides.tool_choice.clone().or_else(|| top.tool_choice.clone()),
        mcp_servers: overrides.mcp_servers.clone(),
        team,
        model,
    })
}

struct Expander<'a, T> {
    templates: &'a T,
    vars: &'a BTreeMap<String, String>,
    limits: TeamLimits,
    role_specs: usize,
}

impl<T: Templates> Expander<'_, T> {
    /// Returns the team of `template`, whose agent runs at `depth` below the spawned one with
    /// `model`; `None` without members or at the deepest level.
    fn team(&mut self, template: &RoleTemplate, model: &str, depth: u32) -> Result<Option<Team>, TemplateError> {
        if template.team.is_empty() || depth >= self.limits.max_depth {
            return Ok(None);
        }
        let mut roles = BTreeMap::new();
        for member_name in &template.team {
            let member = self.templates.template(member_name).ok_or_else(|| {
                TemplateError::invalid(
                    &template.name,
                    format!(
                        "team member {member_name:?} is not a known template; known templates are {}",
                        join(self.templates.names())
                    ),
                )
            })?;
            self.role_specs += 1;
            if self.role_specs > MAX_TEAM_ROLE_SPECS {
                return Err(TemplateError::invalid(
                    &template.name,
                    format!(
                        "its team expands to more than {MAX_TEAM_ROLE_SPECS} role specs within {} levels; lower \
                         max-delegation-depth or shorten the cycle between its templates' teams",
                        self.limits.max_depth
                    ),
                ));
            }
            let member_model = if member.model.is_empty() { model } else { member.model.as_str() };
            let spec = AgentSpec {
                model: member_model.to_owned(),
                tools: member.tools.clone(),
                system: member.render(self.vars)?,
                max_iterations: member.max_iterations,
                node_selector: BTreeMap::new(),
                temperature: member.temperature,
                tool_choice: member.tool_choice.clone(),
                mcp_servers: BTreeMap::new(),
                team: self.team(member, member_model, depth + 1)?,
            };
            roles.insert(member.name.clone(), TeamRole { description: member.description.clone(), spec });
        }
        Ok(Some(Team { roles, max_parallel: self.limits.max_parallel }))
    }
}

/// Checks that each variable in `vars` is declared or used by `top` or a template its team
/// reaches (a misspelt `--var` would otherwise be ignored silently).
fn check_given_vars(
    templates: &impl Templates,
    top: &RoleTemplate,
    vars: &BTreeMap<String, String>,
) -> Result<(), TemplateError> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut known = BTreeSet::new();
    let mut seen = BTreeSet::from([top.name.as_str()]);
    let mut pending = VecDeque::from([top]);
    while let Some(template) = pending.pop_front() {
        known.extend(template.vars.keys().map(String::as_str));
        known.extend(template.placeholders());
        for member in &template.team {
            if let Some(member) = templates.template(member)
                && seen.insert(member.name.as_str())
            {
                pending.push_back(member);
            }
        }
    }
    match vars.keys().find(|variable| !known.contains(variable.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(TemplateError::invalid(
            &top.name,
            format!(
                "no template of it or its team has a variable {unknown:?}; its variables are {}",
                join(known.iter().copied())
            ),
        )),
    }
}
