//! Role templates in the hub: the library loaded at start (built-in templates, then the
//! `templates-dir` files, then the config file's `[templates.NAME]` tables; a later source
//! replaces an earlier template of the same name), `ListTemplates`, and the resolution of a
//! `Spawn` that names a template. Parsing, rendering and team expansion are
//! `agentry_core::templates`; this module reads files and applies the hub's limits.

mod load;
mod spawn;

use std::collections::BTreeMap;

use tonic::Status;

use agentry_core::models::ModelsConfig;
use agentry_core::templates::{RoleTemplate, Templates, check_team_members};
use agentry_proto::v1 as pb;

use crate::hub::Hub;

pub use load::{DEFAULT_TEMPLATES_DIR, LoadError, load_library};
pub(crate) use spawn::spawn_spec;

/// The label every agent spawned from a template carries: `agentry.template=<name>`.
pub use agentry_core::team::TEMPLATE_LABEL;

/// [`LoadedTemplate::source`] of a built-in template.
pub const BUILTIN_SOURCE: &str = "builtin";

/// [`LoadedTemplate::source`] of a `[templates.NAME]` table of the config file.
pub const CONFIG_SOURCE: &str = "config";

/// The built-in library, `(file name, YAML)`: `templates/roles/` of the repository, compiled
/// into the hub.
pub const BUILTIN_TEMPLATES: [(&str, &str); 5] = [
    ("agent_0.yaml", include_str!("../../../../templates/roles/agent_0.yaml")),
    ("coder.yaml", include_str!("../../../../templates/roles/coder.yaml")),
    ("reviewer.yaml", include_str!("../../../../templates/roles/reviewer.yaml")),
    ("tester.yaml", include_str!("../../../../templates/roles/tester.yaml")),
    ("researcher.yaml", include_str!("../../../../templates/roles/researcher.yaml")),
];

/// A template of the library with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedTemplate {
    /// The checked template.
    pub template: RoleTemplate,
    /// [`BUILTIN_SOURCE`], the file's path, or [`CONFIG_SOURCE`].
    pub source: String,
    /// The template as YAML: the file's text, or the table written as YAML.
    pub yaml: String,
}

/// The role templates a hub knows, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateLibrary {
    templates: BTreeMap<String, LoadedTemplate>,
}

impl Templates for TemplateLibrary {
    fn template(&self, name: &str) -> Option<&RoleTemplate> {
        self.templates.get(name).map(|loaded| &loaded.template)
    }

    fn names(&self) -> Vec<&str> {
        self.templates.keys().map(String::as_str).collect()
    }
}

impl TemplateLibrary {
    /// Returns the built-in library ([`BUILTIN_TEMPLATES`]).
    ///
    /// Errors name the built-in file that does not parse (a build defect: a unit test parses
    /// them all).
    pub fn builtin() -> Result<Self, LoadError> {
        let mut library = Self::default();
        for (file, yaml) in BUILTIN_TEMPLATES {
            let stem = file.trim_end_matches(".yaml");
            let template = RoleTemplate::parse_yaml(yaml, stem)
                .map_err(|error| LoadError::Template { origin: format!("built-in {file}"), error })?;
            library.insert(LoadedTemplate { template, source: BUILTIN_SOURCE.to_owned(), yaml: yaml.to_owned() });
        }
        Ok(library)
    }

    /// Adds `loaded`, replacing a template of the same name.
    pub fn insert(&mut self, loaded: LoadedTemplate) {
        self.templates.insert(loaded.template.name.clone(), loaded);
    }

    /// Returns the template named `name`.
    pub fn get(&self, name: &str) -> Option<&LoadedTemplate> {
        self.templates.get(name)
    }

    /// Returns the templates by name.
    pub fn iter(&self) -> impl Iterator<Item = &LoadedTemplate> {
        self.templates.values()
    }

    /// Checks the library as a whole: every team member is a template, every model a
    /// template names resolves in `models` (or is `provider:model`).
    ///
    /// Errors name the template's source, the template and the value.
    pub fn check(&self, models: &ModelsConfig) -> Result<(), LoadError> {
        for loaded in self.templates.values() {
            let origin = || loaded.origin();
            check_team_members(&loaded.template, self)
                .map_err(|error| LoadError::Template { origin: origin(), error })?;
            if !loaded.template.model.is_empty() {
                models.check_reference(&loaded.template.model).map_err(|error| LoadError::Template {
                    origin: origin(),
                    error: agentry_core::templates::TemplateError::Invalid {
                        template: loaded.template.name.clone(),
                        reason: error.0.replace("spec.model", "model"),
                    },
                })?;
            }
        }
        Ok(())
    }
}

impl LoadedTemplate {
    /// Returns where it came from, for errors: `built-in agent_0`, `file PATH`, `config
    /// [templates.NAME]`.
    fn origin(&self) -> String {
        match self.source.as_str() {
            BUILTIN_SOURCE => format!("built-in {}", self.template.name),
            CONFIG_SOURCE => format!("config [templates.{}]", self.template.name),
            path => format!("file {path}"),
        }
    }
}

/// `AgentHub.ListTemplates`: every template of the hub's library, by name.
pub(crate) fn list_templates(
    hub: &Hub,
    _request: pb::ListTemplatesRequest,
) -> Result<pb::ListTemplatesResponse, Status> {
    let templates = hub.templates.iter().map(role_template).collect();
    Ok(pb::ListTemplatesResponse { templates })
}

fn role_template(loaded: &LoadedTemplate) -> pb::RoleTemplate {
    let template = &loaded.template;
    pb::RoleTemplate {
        name: template.name.clone(),
        description: template.description.clone(),
        model: template.model.clone(),
        system: template.system.clone(),
        tools: template.tools.clone(),
        max_iterations: template.max_iterations,
        vars: template.vars.clone().into_iter().collect(),
        team: template.team.clone(),
        source: loaded.source.clone(),
        yaml: loaded.yaml.clone(),
    }
}

#[cfg(test)]
mod tests {
    use agentry_core::BUILTIN_TOOL_NAMES;

    use super::*;

    #[test]
    fn the_builtin_library_parses_and_holds_together() {
        let library = TemplateLibrary::builtin().expect("the built-in templates parse");
        assert_eq!(library.names(), ["agent_0", "coder", "researcher", "reviewer", "tester"]);
        library.check(&ModelsConfig::default()).expect("the built-in library is consistent");
        let agent_0 = &library.get("agent_0").unwrap().template;
        assert_eq!(agent_0.team, ["coder", "reviewer", "tester", "researcher"]);
        assert!(agent_0.system.contains("`parallel_agents`") && agent_0.system.contains("final answer"));
        for loaded in library.iter() {
            assert_eq!(loaded.source, BUILTIN_SOURCE);
            assert!(loaded.template.model.is_empty(), "{}: the spawner's model", loaded.template.name);
            assert!(loaded.template.tools.iter().all(|tool| BUILTIN_TOOL_NAMES.contains(&tool.as_str())));
            let defaults = &loaded.template.vars;
            let missing: Vec<_> =
                loaded.template.placeholders().into_iter().filter(|v| !defaults.contains_key(*v)).collect();
            assert!(missing.is_empty(), "{}: every placeholder has a default: {missing:?}", loaded.template.name);
        }
    }

    #[test]
    fn unknown_team_members_and_models_fail_the_check_by_name() {
        let mut library = TemplateLibrary::builtin().unwrap();
        let lead = RoleTemplate::parse_yaml("name: lead\nteam: [coder, planner]\n", "lead").unwrap();
        library.insert(LoadedTemplate { template: lead, source: "/etc/roles/lead.yaml".into(), yaml: String::new() });
        let error = library.check(&ModelsConfig::default()).unwrap_err().to_string();
        assert_eq!(
            error,
            "file /etc/roles/lead.yaml: template lead: team member \"planner\" is not a known template; known \
             templates are agent_0, coder, lead, researcher, reviewer, tester"
        );
        let mut library = TemplateLibrary::builtin().unwrap();
        let named = RoleTemplate::parse_yaml("name: fast\nmodel: nowhere\n", "fast").unwrap();
        library.insert(LoadedTemplate { template: named, source: CONFIG_SOURCE.into(), yaml: String::new() });
        let error = library.check(&ModelsConfig::default()).unwrap_err().to_string();
        assert!(error.starts_with("config [templates.fast]: template fast: model"), "{error}");
        assert!(error.contains("nowhere"), "{error}");
    }
}
