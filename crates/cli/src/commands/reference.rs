//! The reference docs kept true by tests: `docs/cli.md` is generated from the clap definition of
//! `agentry` (with `clap-markdown`), and `docs/configuration.md` must document every key of
//! [`HubConfig`] and [`NodeConfig`] with its environment variable, flag and default.
//!
//! A test fails when a doc is out of date; `AGENTRY_UPDATE_DOCS=1 cargo nextest run -p agentry
//! --bins reference` rewrites `docs/cli.md` (the configuration reference is written by hand).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::CommandFactory;

use agent_hub::HubConfig;
use agent_node::NodeConfig;

use super::Cli;

/// Set to `1` to rewrite the generated docs instead of comparing them.
const UPDATE_VARIABLE: &str = "AGENTRY_UPDATE_DOCS";

/// First lines of `docs/cli.md`, before what clap-markdown writes.
const CLI_HEADER: &str = "<!-- Generated from the clap definition of `agentry` by crates/cli/src/commands/reference.rs: \
do not edit; run `AGENTRY_UPDATE_DOCS=1 cargo nextest run -p agentry --bins reference`. -->\n\n";

/// Returns the path of `docs/NAME` in the repository.
fn docs_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(name)
}

/// Returns the CLI reference: every command and subcommand with its usage, arguments, options,
/// defaults, possible values and environment variables.
fn cli_markdown() -> String {
    // Not built: building names subcommands `agentry-hub`, and adds `help` subcommands and
    // copies of the global options to every command, which would only repeat themselves here.
    let command = annotated(Cli::command());
    let options = clap_markdown::MarkdownOptions::new().title("CLI reference".to_owned()).show_footer(false);
    let body = clap_markdown::help_markdown_command_custom(&command, &options);
    // One blank line between blocks, no trailing spaces: what markdown linters expect.
    let mut text = String::from(CLI_HEADER);
    let mut previous_blank = true;
    for line in body.lines().map(str::trim_end) {
        if !(line.is_empty() && previous_blank) {
            text.push_str(line);
            text.push('\n');
        }
        previous_blank = line.is_empty();
    }
    format!("{}\n", text.trim_end())
}

/// Returns `command` with `[env: NAME]` added to the help of every argument read from the
/// environment (clap-markdown does not print it), and global options marked, in every
/// subcommand.
fn annotated(command: clap::Command) -> clap::Command {
    let ids: Vec<clap::Id> = command.get_arguments().map(|arg| arg.get_id().clone()).collect();
    let mut command = ids.into_iter().fold(command, |command, id| command.mut_arg(id, annotated_arg));
    let names: Vec<String> = command.get_subcommands().map(|sub| sub.get_name().to_owned()).collect();
    for name in names {
        command = command.mut_subcommand(name, annotated);
    }
    command
}

/// Returns `arg` with its environment variable and, if global, that it applies to every command.
fn annotated_arg(arg: clap::Arg) -> clap::Arg {
    let mut help = arg.get_long_help().or(arg.get_help()).map(ToString::to_string).unwrap_or_default();
    if let Some(variable) = arg.get_env().filter(|_| !help.contains("[env:")) {
        help.push_str(&format!(" [env: {}]", variable.to_string_lossy()));
    }
    if arg.is_global_set() {
        help.push_str(" (global: accepted by every command)");
    }
    arg.long_help(help)
}

/// Compares `docs/NAME` with `generated`, or rewrites it when [`UPDATE_VARIABLE`] is `1`.
fn check_generated(name: &str, generated: &str) {
    let path = docs_path(name);
    if std::env::var(UPDATE_VARIABLE).as_deref() == Ok("1") {
        std::fs::write(&path, generated).unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    let first_difference = current
        .lines()
        .zip(generated.lines())
        .position(|(old, new)| old != new)
        .unwrap_or_else(|| current.lines().count().min(generated.lines().count()));
    assert!(
        current == generated,
        "docs/{name} is stale; run {UPDATE_VARIABLE}=1 cargo nextest run -p agentry --bins reference (first \
         difference at line {}: {:?})",
        first_difference + 1,
        generated.lines().nth(first_difference).unwrap_or("<end of file>")
    );
}

#[test]
fn the_cli_reference_is_current() {
    check_generated("cli.md", &cli_markdown());
}

#[test]
fn the_cli_reference_names_every_command_and_environment_variable() {
    let markdown = cli_markdown();
    for command in ["agentry hub serve", "agentry node join", "agentry node drain", "agentry config print"] {
        assert!(markdown.contains(&format!("## `{command}`")), "{command} is missing");
    }
    assert!(markdown.contains("[env: AGENTRY_HUB]") && markdown.contains("[env: AGENTRY_CONFIG]"), "{markdown}");
}

/// One row of a key table in docs/configuration.md: `| key | env | flag | type | default | meaning |`.
#[derive(Debug)]
struct KeyRow {
    env: String,
    flag: String,
    default: String,
}

/// Returns the rows of the key table under the heading `## \`[SECTION]\``, by key.
fn documented_keys(markdown: &str, section: &str) -> BTreeMap<String, KeyRow> {
    let heading = format!("## `[{section}]`");
    let start = markdown.find(&heading).unwrap_or_else(|| panic!("docs/configuration.md has no {heading}"));
    let body = &markdown[start + heading.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    body.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.strip_prefix("| `")?.splitn(6, " | ").collect();
            let [key, env, flag, _type, default, ..] = cells.as_slice() else { return None };
            let key = key.strip_suffix('`')?.to_owned();
            Some((key, KeyRow { env: (*env).to_owned(), flag: (*flag).to_owned(), default: (*default).to_owned() }))
        })
        .collect()
}

/// Returns the keys of a config struct with their defaults as TOML text (strings unquoted),
/// as `agentry config print` shows them; `None` for keys without a default.
fn keys_with_defaults<T: serde::Serialize>(config: &T) -> BTreeMap<String, Option<String>> {
    let serde_json::Value::Object(fields) = serde_json::to_value(config).expect("a config serializes") else {
        panic!("a config serializes to a map")
    };
    fields
        .into_iter()
        .map(|(key, value)| {
            let default = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(text) => Some(text),
                serde_json::Value::Object(map) if map.is_empty() => None,
                other => Some(other.to_string()),
            };
            (key, default)
        })
        .collect()
}

/// Returns the long flags of `agentry <path...>`.
fn flags_of(path: &[&str]) -> Vec<String> {
    let root = Cli::command();
    let command = path
        .iter()
        .fold(&root, |command, name| command.find_subcommand(name).unwrap_or_else(|| panic!("no subcommand {name}")));
    command.get_arguments().filter_map(|arg| arg.get_long()).map(|long| format!("--{long}")).collect()
}

/// Checks the `[section]` table of docs/configuration.md against the keys of `config`: the same
/// keys, each with its `AGENTRY_*` variable, its flag of `command` when there is one, and its
/// default (except keys in `host_dependent`).
fn check_section<T: serde::Serialize>(section: &str, config: &T, command: &[&str], host_dependent: &[&str]) {
    let markdown = std::fs::read_to_string(docs_path("configuration.md")).expect("docs/configuration.md");
    let documented = documented_keys(&markdown, section);
    let keys = keys_with_defaults(config);
    let flags = flags_of(command);
    let missing: Vec<&String> = keys.keys().filter(|key| !documented.contains_key(*key)).collect();
    assert!(missing.is_empty(), "docs/configuration.md misses [{section}] keys {missing:?}");
    let unknown: Vec<&String> = documented.keys().filter(|key| !keys.contains_key(*key)).collect();
    assert!(unknown.is_empty(), "docs/configuration.md documents [{section}] keys that do not exist: {unknown:?}");
    for (key, default) in &keys {
        let row = &documented[key];
        let variable = format!("AGENTRY_{}", key.replace('-', "_").to_uppercase());
        assert!(row.env.contains(&variable), "[{section}] {key}: the env column must name {variable}: {row:?}");
        let flag = format!("--{key}");
        let has_flag = flags.contains(&flag);
        assert_eq!(row.flag.contains(&format!("`{flag}`")), has_flag, "[{section}] {key}: flag column {row:?}");
        if let Some(default) = default.as_ref().filter(|_| !host_dependent.contains(&key.as_str())) {
            assert!(
                row.default.contains(&format!("`{default}`")),
                "[{section}] {key}: default must show {default:?}: {row:?}"
            );
        }
    }
}

#[test]
fn the_configuration_reference_documents_every_hub_key() {
    check_section("hub", &HubConfig::default(), &["hub", "serve"], &[]);
}

#[test]
fn the_configuration_reference_documents_every_node_key() {
    check_section("node", &NodeConfig::default(), &["node", "join"], &["name"]);
}
