//! The environment and the command line as `config` sources that remember, for every value,
//! the exact variable or flag it came from.

use std::collections::HashMap;

use config::{ConfigError, Map, Source, Value, ValueKind};

/// Values of one section, each with its origin: `(path, text, origin)`.
#[derive(Debug, Clone)]
pub struct OriginSource {
    values: Vec<(String, String, String)>,
}

impl OriginSource {
    /// Picks from `env` the variables of `section`'s `keys`: `AGENTRY_<KEY>` and `aliases`
    /// (`(variable, key)`); an empty value counts as unset.
    pub fn env(section: &str, keys: &[String], aliases: &[(&str, &str)], env: &HashMap<String, String>) -> Self {
        let prefixed =
            keys.iter().map(|key| (format!("AGENTRY_{}", key.replace('-', "_").to_uppercase()), key.as_str()));
        let aliased = aliases.iter().map(|(variable, key)| ((*variable).to_owned(), *key));
        let mut values = Vec::new();
        // Aliases first, so `AGENTRY_*` wins over them.
        for (variable, key) in aliased.chain(prefixed) {
            if let Some(value) = env.get(&variable).filter(|value| !value.trim().is_empty()) {
                values.push((format!("{section}.{key}"), value.clone(), format!("environment variable {variable}")));
            }
        }
        Self { values }
    }

    /// Returns command-line `flags` (`(key, value)`) as values of `section`.
    pub fn flags(section: &str, flags: Vec<(&'static str, String)>) -> Self {
        let values = flags
            .into_iter()
            .map(|(key, value)| (format!("{section}.{key}"), value, format!("flag --{key}")))
            .collect();
        Self { values }
    }
}

impl Source for OriginSource {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, ConfigError> {
        Ok(self
            .values
            .iter()
            .map(|(path, text, origin)| (path.clone(), Value::new(Some(origin), ValueKind::String(text.clone()))))
            .collect())
    }
}
