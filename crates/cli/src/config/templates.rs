//! The `[templates.NAME]` tables of the config file: role templates in agentry's shape (see
//! `agentry_core::templates` and docs/templates.md), read by the hub over its built-in ones
//! and those of `templates-dir`. Like the models, they come from the file only.
//!
//! Every error names the file and the dotted key; the hub checks the templates themselves
//! (tools, placeholders, team members) when it starts.

use std::collections::BTreeMap;

use anyhow::Context;

use agentry_core::templates::TemplateDef;

use super::Sources;

/// The top-level section of the config file that this module reads.
pub(super) const SECTION: &str = "templates";

/// Returns the `[templates.NAME]` tables of the config file by name (none without a file or
/// section).
///
/// Errors name the file and the offending key (`templates.coder.promt: unknown field`).
pub fn load_templates(sources: &Sources) -> anyhow::Result<BTreeMap<String, TemplateDef>> {
    let Some(path) = &sources.file else {
        return Ok(BTreeMap::new());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the config file {}", path.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|error| anyhow::anyhow!("config file {}: {error}", path.display()))?;
    let Some(section) = table.remove(SECTION) else {
        return Ok(BTreeMap::new());
    };
    serde_path_to_error::deserialize(section).map_err(|error| {
        anyhow::anyhow!(
            "invalid configuration: config file {}: templates.{}: {}",
            path.display(),
            error.path(),
            error.inner()
        )
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn load(text: &str) -> anyhow::Result<BTreeMap<String, TemplateDef>> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        load_templates(&Sources { file: Some(file.path().to_path_buf()), env: Default::default() })
    }

    #[test]
    fn tables_are_read_by_name() {
        let templates = load(
            r#"
            [templates.critic]
            description = "Finds faults"
            prompt = "Criticise {{thing}}"
            tools = ["view"]
            max-iterations = 4
            vars = { thing = "the plan" }
            "#,
        )
        .unwrap();
        let critic = &templates["critic"];
        assert_eq!((critic.description.as_str(), critic.max_iterations), ("Finds faults", 4));
        assert_eq!(critic.vars["thing"], "the plan");
        assert!(load("[hub]\n").unwrap().is_empty());
    }

    #[test]
    fn an_unknown_key_is_named_with_the_file() {
        let error = load("[templates.critic]\npromt = \"x\"\n").unwrap_err().to_string();
        assert!(error.contains("templates.critic.promt: unknown field `promt`"), "{error}");
        let error = load("[templates.critic]\ntools = \"view\"\n").unwrap_err().to_string();
        assert!(error.contains("templates.critic.tools"), "{error}");
    }
}
