//! A `Spawn` that names a template: the template and its team resolved into the agent's spec,
//! then checked like any spawned spec.

use std::collections::{BTreeMap, HashMap};

use agentry_core::AgentSpec;
use agentry_core::limits::MAX_SYSTEM_PROMPT_BYTES;
use agentry_core::templates::{MAX_TEMPLATE_VARS, TeamLimits, expand, is_var_name};
use agentry_proto::v1 as pb;

use crate::error::{HubError, Result};
use crate::hub::Hub;
use crate::validate;

/// Returns the checked spec of a `Spawn`: `spec` alone without a template; with one, the
/// template expanded with `vars` and its team ([`expand`], the hub's depth and fan-out
/// limits), `spec`'s set fields overriding it. Either way the spec goes through
/// [`validate::spec`], which checks every team role's spec too (defaults filled).
///
/// Errors (INVALID_ARGUMENT) name the field, template, variable or role.
pub(crate) fn spawn_spec(
    hub: &Hub,
    spec: Option<pb::AgentSpec>,
    template: &str,
    vars: HashMap<String, String>,
) -> Result<AgentSpec> {
    let allowed_tools = hub.allowed_tools.as_deref();
    if template.is_empty() {
        if !vars.is_empty() {
            return Err(HubError::InvalidArgument(
                "vars are given without a template; name one in template (agentry spawn --template NAME)".to_owned(),
            ));
        }
        let spec = spec.ok_or_else(|| {
            HubError::InvalidArgument("spec is required (at least spec.model) unless a template is named".to_owned())
        })?;
        return validate::spec(AgentSpec::from(spec), &hub.models, allowed_tools);
    }
    let vars = checked_vars(vars)?;
    let overrides = AgentSpec::from(spec.unwrap_or_default());
    let limits =
        TeamLimits { max_depth: hub.config.max_delegation_depth, max_parallel: hub.config.max_parallel_agents };
    let expanded = expand(&*hub.templates, template, &vars, &overrides, limits)
        .map_err(|error| HubError::InvalidArgument(error.to_string()))?;
    validate::spec(expanded, &hub.models, allowed_tools)
}

/// Checks the variables of a `Spawn`: at most [`MAX_TEMPLATE_VARS`], names of variables,
/// values of at most [`MAX_SYSTEM_PROMPT_BYTES`].
fn checked_vars(vars: HashMap<String, String>) -> Result<BTreeMap<String, String>> {
    if vars.len() > MAX_TEMPLATE_VARS {
        return Err(HubError::InvalidArgument(format!(
            "vars has {} entries; the limit is {MAX_TEMPLATE_VARS}",
            vars.len()
        )));
    }
    for (name, value) in &vars {
        if !is_var_name(name) {
            return Err(HubError::InvalidArgument(format!(
                "vars: {name:?} is not a variable name (1-64 characters of A-Z a-z 0-9 _ - .)"
            )));
        }
        if value.len() > MAX_SYSTEM_PROMPT_BYTES {
            return Err(HubError::InvalidArgument(format!(
                "vars.{name} is {} bytes; the limit is {MAX_SYSTEM_PROMPT_BYTES} bytes",
                value.len()
            )));
        }
    }
    Ok(vars.into_iter().collect())
}
