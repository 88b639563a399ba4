//! Layered configuration of `hub serve`, `node join` and `dev`, with the `config` crate:
//! defaults (the `Default` of [`HubConfig`] / [`NodeConfig`]) → TOML file (`--config FILE`,
//! sections `[hub]` and `[node]`) → `AGENTRY_*` environment variables → command-line flags.
//!
//! Every value keeps its origin, so a bad one is reported with its key and where it came from
//! (`the file agentry.toml`, `environment variable AGENTRY_LEASE_TTL`, `flag --slots`); an
//! unknown key in the file is an error naming it. Environment variables are matched by name
//! (`AGENTRY_<KEY>` with the kebab-case key in upper snake case, e.g. `AGENTRY_LEASE_TTL`), so
//! the `AGENTRY_*` variables of other components are ignored; `OPENAI_BASE_URL` and
//! `OPENAI_API_KEY` also set the node's model endpoint. Tests pass the environment as a map.
//!
//! `config` rather than figment: it lets a source attach an origin to every value (we name the
//! exact variable and flag) and takes an injected environment without touching the process's.

mod models;
mod sources;
mod templates;
mod tools;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use config::{Config, ConfigError, File, FileFormat, Map, Value, ValueKind};
use serde::Serialize;
use serde::de::DeserializeOwned;

use agent_hub::HubConfig;
use agent_node::NodeConfig;

pub use models::load_models;
use sources::OriginSource;
pub use templates::load_templates;
pub use tools::load_tool_policy;

/// Environment variables that set a node key although they lack the `AGENTRY_` prefix.
const NODE_ENV_ALIASES: &[(&str, &str)] = &[
    ("OPENAI_BASE_URL", "openai-base-url"),
    ("OPENAI_API_KEY", "openai-api-key"),
    ("ANTHROPIC_BASE_URL", "anthropic-base-url"),
    ("ANTHROPIC_API_KEY", "anthropic-api-key"),
];

/// Where configuration comes from, below the flags.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The TOML file given with `--config`, if any.
    pub file: Option<PathBuf>,
    /// The environment (the process's in `main`, a map in tests).
    pub env: HashMap<String, String>,
}

impl Sources {
    /// Returns the sources of this process: `file` and its environment.
    pub fn of_process(file: Option<PathBuf>) -> Self {
        Self { file, env: std::env::vars().collect() }
    }
}

/// Flags given on the command line, as `(kebab-case key, value text)`, highest precedence.
pub type Flags = Vec<(&'static str, String)>;

/// Returns the hub's configuration from `sources` and `flags`, validated.
///
/// Errors name the offending key and its source.
pub fn load_hub(sources: &Sources, flags: Flags) -> anyhow::Result<HubConfig> {
    let config: HubConfig = load_section("hub", &[], sources, flags)?;
    config.validate().map_err(|error| anyhow::anyhow!("invalid configuration: hub.{error}"))?;
    Ok(config)
}

/// Returns a node's configuration from `sources` and `flags`, validated.
///
/// Errors name the offending key and its source.
pub fn load_node(sources: &Sources, flags: Flags) -> anyhow::Result<NodeConfig> {
    let config: NodeConfig = load_section("node", NODE_ENV_ALIASES, sources, flags)?;
    config.validate().map_err(|error| anyhow::anyhow!("invalid configuration: node.{error}"))?;
    Ok(config)
}

/// Builds the section `name` of type `T` from the file, the environment and the flags; keys
/// nobody set keep `T`'s defaults.
fn load_section<T: DeserializeOwned + Serialize + Default>(
    name: &'static str,
    aliases: &'static [(&'static str, &'static str)],
    sources: &Sources,
    flags: Flags,
) -> anyhow::Result<T> {
    let keys = known_keys::<T>();
    let mut builder = Config::builder();
    if let Some(path) = &sources.file {
        check_file(path)?;
        builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml).required(true));
    }
    let env = OriginSource::env(name, &keys, aliases, &sources.env);
    let built = builder
        .add_source(env)
        .add_source(OriginSource::flags(name, flags))
        .build()
        .map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))?;
    let table = match built.get_table(name) {
        Ok(table) => table,
        Err(ConfigError::NotFound(_)) => Map::new(),
        Err(error) => anyhow::bail!("invalid configuration: {error}"),
    };
    let origins: HashMap<String, String> =
        table.iter().filter_map(|(key, value)| value.origin().map(|origin| (key.clone(), origin.to_owned()))).collect();
    // serde_path_to_error names the field that failed; the origins say where it was set.
    serde_path_to_error::deserialize(Value::new(None, ValueKind::Table(table))).map_err(|error| {
        let path = error.path().to_string();
        let top_key = path.split(['.', '[']).next().unwrap_or_default();
        let origin = origins.get(top_key).map(|origin| format!(" (from {origin})")).unwrap_or_default();
        anyhow::anyhow!("invalid configuration: {name}.{path}{origin}: {}", error.inner())
    })
}

/// Checks that the file at `path` is TOML with only known sections and keys, naming the first
/// unknown one (the `config` crate would name neither the key's file nor all of its path).
fn check_file(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the config file {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|error| anyhow::anyhow!("config file {}: {error}", path.display()))?;
    let sections = [("hub", known_keys::<HubConfig>()), ("node", known_keys::<NodeConfig>())];
    for (section, value) in &table {
        if models::SECTIONS.iter().any(|known| *known == section)
            || section == tools::SECTION
            || section == templates::SECTION
        {
            continue; // checked by `load_models`, `load_tool_policy` and `load_templates`
        }
        let Some((_, keys)) = sections.iter().find(|(name, _)| name == section) else {
            anyhow::bail!(
                "config file {}: unknown section [{section}]; known sections are [hub], [node], [models.NAME], \
                 [routes.NAME], [tools] and [templates.NAME]",
                path.display()
            );
        };
        let Some(entries) = value.as_table() else {
            anyhow::bail!("config file {}: {section} must be a table ([{section}])", path.display());
        };
        if let Some(unknown) = entries.keys().find(|key| !keys.contains(key)) {
            anyhow::bail!(
                "config file {}: unknown key {section}.{unknown}; known keys are {}",
                path.display(),
                keys.join(", ")
            );
        }
    }
    Ok(())
}

/// Returns the kebab-case keys of a config struct, from its serialized default.
fn known_keys<T: Serialize + Default>() -> Vec<String> {
    let serde_json::Value::Object(fields) = serde_json::to_value(T::default()).unwrap_or_default() else {
        return Vec::new();
    };
    // `Option` fields that are `None` serialize too (as null), so every field is listed.
    fields.keys().cloned().collect()
}

/// Returns the merged configuration as TOML, secrets redacted: both sections, or one.
pub fn print(hub: Option<&HubConfig>, node: Option<&NodeConfig>) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct Printed {
        #[serde(skip_serializing_if = "Option::is_none")]
        hub: Option<HubConfig>,
        #[serde(skip_serializing_if = "Option::is_none")]
        node: Option<NodeConfig>,
    }
    let printed = Printed { hub: hub.map(HubConfig::redacted), node: node.map(NodeConfig::redacted) };
    Ok(toml::to_string(&printed)?)
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
