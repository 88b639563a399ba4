//! The model section of the config file — `[models.NAME]` and `[routes.NAME]` (see
//! `agentry_core::models`) — shared by the hub (which checks spawned specs against it) and the
//! nodes (which call the models). It comes from the file only: a model is a table of keys, which
//! environment variables and flags do not express; secrets stay in the environment, named by
//! `api-key-env`.
//!
//! Every error names the file and the dotted key: an unknown key, a negative price, a route to
//! an unknown model, an `api-key-env` whose variable is unset.

use std::path::Path;

use anyhow::Context;

use agentry_core::models::ModelsConfig;

use super::Sources;

/// Top-level sections of the config file that this module reads.
pub(super) const SECTIONS: [&str; 2] = ["models", "routes"];

/// Returns the models and routes of the config file (none without a file), validated, with each
/// `api-key-env` read from the environment of `sources`.
///
/// Errors name the file and the offending key.
pub fn load_models(sources: &Sources) -> anyhow::Result<ModelsConfig> {
    let Some(path) = &sources.file else {
        return Ok(ModelsConfig::default());
    };
    let mut models = parse(path)?;
    let in_file = |error: String| anyhow::anyhow!("invalid configuration: config file {}: {error}", path.display());
    models.validate().map_err(|error| in_file(error.to_string()))?;
    for (name, model) in &mut models.models {
        let Some(variable) = &model.api_key_env else { continue };
        match sources.env.get(variable).filter(|key| !key.trim().is_empty()) {
            Some(key) => model.api_key = Some(key.clone()),
            None => {
                return Err(in_file(format!(
                    "models.{name}.api-key-env: the environment variable {variable} is not set (or empty); set it \
                     to the model's API key or remove the key to call without one"
                )));
            }
        }
    }
    Ok(models)
}

/// Reads the `models` and `routes` tables of the TOML file at `path`.
fn parse(path: &Path) -> anyhow::Result<ModelsConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the config file {}", path.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|error| anyhow::anyhow!("config file {}: {error}", path.display()))?;
    table.retain(|section, _| SECTIONS.contains(&section));
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
        anyhow::anyhow!("invalid configuration: config file {}: {}: {}", path.display(), error.path(), error.inner())
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write;

    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> anyhow::Result<ModelsConfig> {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().expect("a temporary file");
        file.write_all(text.as_bytes()).expect("writing the config file");
        let env: HashMap<String, String> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let result = load_models(&Sources { file: Some(file.path().to_owned()), env });
        result.map_err(|error| {
            anyhow::anyhow!("{}", format!("{error:#}").replace(&file.path().display().to_string(), "FILE"))
        })
    }

    const EXAMPLE: &str = r#"
[node]
slots = 2

[models.gpt]
model = "gpt-4o"
api-key-env = "MY_OPENAI_KEY"
headers = { "OpenAI-Organization" = "org-1" }
input-price = 2.5
output-price = 10.0
context-window = 128000
timeout = "60s"

[models.local]
base-url = "http://127.0.0.1:8090/v1"
model = "qwen2.5-coder-1.5b"
tier = "cheap"

[routes.auto]
model = ["gpt", "local"]

[[routes.auto.rules]]
if_contains = ["quick"]
model = "local"
"#;

    #[test]
    fn models_and_routes_are_read_with_their_keys_from_the_environment() {
        let models = load(EXAMPLE, &[("MY_OPENAI_KEY", "sk-1")]).unwrap();
        let gpt = &models.models["gpt"];
        assert_eq!(gpt.api_key.as_deref(), Some("sk-1"));
        assert_eq!((gpt.input_price, gpt.context_window), (2.5, Some(128_000)));
        assert_eq!(gpt.timeout, std::time::Duration::from_secs(60));
        assert_eq!(models.routes["auto"].rules[0].if_contains, vec!["quick".to_owned()], "agentry's key is accepted");
        assert_eq!(models.models["local"].api_key, None);
    }

    #[test]
    fn a_missing_api_key_variable_is_named_with_the_file() {
        let error = format!("{:#}", load(EXAMPLE, &[]).unwrap_err());
        assert!(
            error.contains("config file FILE: models.gpt.api-key-env: the environment variable MY_OPENAI_KEY"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_key_and_a_negative_price_are_named_with_the_file() {
        let unknown = format!("{:#}", load("[models.gpt]\nprice = 1.0\n", &[]).unwrap_err());
        assert!(unknown.contains("config file FILE: models.gpt.price: unknown field `price`"), "{unknown}");
        let negative = format!("{:#}", load("[models.gpt]\ninput-price = -0.5\n", &[]).unwrap_err());
        assert!(negative.contains("config file FILE: models.gpt.input-price: -0.5 is not a price"), "{negative}");
        let route = format!("{:#}", load("[routes.r]\nmodel = \"nope\"\n", &[]).unwrap_err());
        assert!(route.contains("config file FILE: routes.r.model: spec.model: unknown model \"nope\""), "{route}");
    }

    #[test]
    fn without_a_file_there_are_no_models() {
        assert_eq!(load_models(&Sources::default()).unwrap(), ModelsConfig::default());
    }
}
