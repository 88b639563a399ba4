//! The `[tools]` section of the config file (see `agentry_core::policy`): the tool permission
//! policy (`default`, `[[tools.rules]]`, `approval-timeout`), builtin manifest overrides
//! (`[tools.manifest.NAME]`) and the builtin tools agents may name (`allowed`). Nodes apply the
//! policy and the overrides; the hub checks `allowed`. Like the models, it comes from the file
//! only: rules are tables, which environment variables and flags do not express.
//!
//! Every error names the file and the dotted key: an unknown key, a bad regex, a manifest of an
//! unknown tool.

use anyhow::Context;

use agentry_core::policy::ToolPolicy;

use super::Sources;

/// The top-level section of the config file that this module reads.
pub(super) const SECTION: &str = "tools";

/// Returns the `[tools]` section of the config file (the default without a file or section),
/// validated.
///
/// Errors name the file and the offending key.
pub fn load_tool_policy(sources: &Sources) -> anyhow::Result<ToolPolicy> {
    let Some(path) = &sources.file else {
        return Ok(ToolPolicy::default());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the config file {}", path.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|error| anyhow::anyhow!("config file {}: {error}", path.display()))?;
    let Some(section) = table.remove(SECTION) else {
        return Ok(ToolPolicy::default());
    };
    let in_file = |error: String| anyhow::anyhow!("invalid configuration: config file {}: {error}", path.display());
    let policy: ToolPolicy = serde_path_to_error::deserialize(section)
        .map_err(|error| in_file(format!("tools.{}: {}", error.path(), error.inner())))?;
    policy.validate().map_err(in_file)?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use agentry_core::policy::PolicyAction;
    use serde_json::json;

    use super::*;

    fn load(text: &str) -> anyhow::Result<ToolPolicy> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        load_tool_policy(&Sources { file: Some(file.path().to_path_buf()), env: Default::default() })
    }

    #[test]
    fn rules_manifests_and_timeout_are_read() {
        let policy = load(
            r#"
            [tools]
            default = "allow"
            approval-timeout = "10m"
            allowed = ["bash", "echo"]
            [[tools.rules]]
            tool = "bash"
            pattern = '^\s*git\s+push'
            action = "ask"
            [tools.manifest.bash]
            network = ["github.com"]
            memory-mb = 256
            "#,
        )
        .unwrap();
        assert_eq!(policy.approval_timeout(), std::time::Duration::from_secs(600));
        assert_eq!(policy.decide("bash", &json!({"command": "git push"})).action, PolicyAction::Ask);
        assert_eq!(policy.manifest["bash"].memory_mb, Some(256));
        assert!(policy.allows_tool("echo") && !policy.allows_tool("view"));
        assert!(load("[hub]\n").unwrap().rules.is_empty());
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = load("[tools]\nrulez = []\n").unwrap_err().to_string();
        assert!(unknown.contains("tools.rulez") || unknown.contains("unknown field `rulez`"), "{unknown}");
        let regex =
            load("[[tools.rules]]\ntool = \"bash\"\npattern = \"(\"\naction = \"deny\"\n").unwrap_err().to_string();
        assert!(regex.contains("tools.rules[0].pattern") && regex.contains("regex parse error"), "{regex}");
        let action = load("[[tools.rules]]\ntool = \"bash\"\naction = \"maybe\"\n").unwrap_err().to_string();
        assert!(action.contains("tools.rules[0].action"), "{action}");
        let manifest = load("[tools.manifest.rm]\ncpu-seconds = 1\n").unwrap_err().to_string();
        assert!(manifest.contains("tools.manifest.rm: unknown tool"), "{manifest}");
        let zero = load("[tools.manifest.bash]\nmemory-mb = 0\n").unwrap_err().to_string();
        assert!(zero.contains("tools.manifest.bash.memory-mb must be at least 1"), "{zero}");
    }
}
