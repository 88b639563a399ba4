//! Fuzz target `config` (see fuzz/README.md): the layered configuration of `hub serve`,
//! `node join` and `dev` — a TOML file (`load_hub`, `load_node`, `load_models`,
//! `load_templates`, `load_tool_policy`, then the hub's template library built from it), the
//! `AGENTRY_*` environment and flags — and role template YAML (`RoleTemplate::parse_yaml`, a
//! `templates-dir` file through `load_library`). Fed the corpus `fuzz/corpus/config/` (the
//! shipped example configs, the docs' examples, the built-in templates, edge cases), its
//! mutations, and generated documents. Every input must load or be refused with an error, never
//! panic. (A unit-test module: the CLI is a binary crate, its config module is not reachable
//! from `tests/`.)

#[path = "../../../../fuzz/support/harness.rs"]
mod harness;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use proptest::prelude::*;

use agent_hub::templates::load_library;
use agentry_core::templates::RoleTemplate;

use super::*;
use harness::{Found, Seed, text};

const TARGET: &str = "config";

/// TOML and YAML syntax, keys of every section, values that probe the types.
const TOKENS: &[&str] = &[
    "\n[hub]\n",
    "\n[node]\n",
    "\n[models.m]\n",
    "\n[[tools.rules]]\n",
    "\n[templates.t]\n",
    "\n[routes.r]\n",
    " = ",
    "\"",
    "'''",
    "\"\"\"",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "lease-ttl = ",
    "slots = ",
    "labels = ",
    "\"1s 500ms\"",
    "\"0s\"",
    "\"18446744073709551615s\"",
    "-1",
    "9223372036854775807",
    "1e400",
    "nan",
    "-inf",
    "true",
    "1979-05-27T07:32:00Z",
    "\n- ",
    ": ",
    "&a ",
    "*a",
    "!!str ",
    "{{",
    "}}",
    "\t",
];

/// Every loader on `sources` and `flags`, as `hub serve` and `node join` run them; returns
/// the first refusal.
fn load_all(sources: &Sources, hub_flags: Flags, node_flags: Flags, scratch: &Path) -> Result<(), String> {
    let hub = load_hub(sources, hub_flags).map_err(|error| format!("{error:#}"))?;
    let node = load_node(sources, node_flags).map_err(|error| format!("{error:#}"))?;
    print(Some(&hub), Some(&node)).map_err(|error| format!("printing: {error:#}"))?;
    let models = load_models(sources).map_err(|error| format!("{error:#}"))?;
    let tables = load_templates(sources).map_err(|error| format!("{error:#}"))?;
    load_tool_policy(sources).map_err(|error| format!("{error:#}"))?;
    load_library(Some(scratch), &tables, &models).map_err(|error| error.to_string())?;
    Ok(())
}

/// A scratch directory: the config file (`agentry.toml`) and an empty `templates-dir`.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir(dir.path().join("roles")).expect("a templates directory");
        Self { dir }
    }

    fn file(&self) -> std::path::PathBuf {
        self.dir.path().join("agentry.toml")
    }

    fn roles(&self) -> std::path::PathBuf {
        self.dir.path().join("roles")
    }

    /// Loads a config file of `bytes` with `env`.
    fn load(&self, bytes: &[u8], env: HashMap<String, String>) -> Result<(), String> {
        std::fs::write(self.file(), bytes).expect("writing the config file");
        let sources = Sources { file: Some(self.file()), env };
        load_all(&sources, Flags::new(), Flags::new(), &self.roles())
    }

    /// Parses a template of `text`, then loads it as the one file of a `templates-dir`.
    fn template(&self, text: &str) -> Result<(), String> {
        RoleTemplate::parse_yaml(text, "fuzzed").map_err(|error| error.to_string())?;
        let dir = self.dir.path().join("yaml");
        std::fs::create_dir_all(&dir).expect("a templates directory");
        std::fs::write(dir.join("fuzzed.yaml"), text).expect("writing the template");
        load_library(Some(&dir), &BTreeMap::new(), &Default::default()).map(drop).map_err(|error| error.to_string())
    }
}

/// An environment that sets every `api-key-env` variable `text` names, as a deployment does.
fn env_for(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("api-key-env"))
        .filter_map(|rest| rest.split('"').nth(1))
        .map(|variable| (variable.to_owned(), "sk-test".to_owned()))
        .collect()
}

/// Returns the variables of `KEY=VALUE` lines (others are skipped).
fn env_of(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// The environment variables the loaders read: `AGENTRY_<KEY>` of both sections, the aliases.
fn variables() -> Vec<String> {
    let keys = known_keys::<HubConfig>().into_iter().chain(known_keys::<agent_node::NodeConfig>());
    keys.map(|key| format!("AGENTRY_{}", key.replace('-', "_").to_uppercase()))
        .chain(NODE_ENV_ALIASES.iter().map(|(variable, _)| (*variable).to_owned()))
        .collect()
}

/// Values as an environment variable or a flag gives them.
const VALUES: &[&str] = &[
    "7s",
    "1s 500ms",
    "0s",
    "250ms",
    "0",
    "1",
    "-1",
    "18446744073709551616",
    "true",
    "off",
    "binpack",
    "sqlite::memory:",
    "postgres://u:p@h/d",
    "nats://127.0.0.1:4222",
    "http://127.0.0.1:7700",
    "0.0.0.0:7700",
    "{zone=\"eu\"}",
    "zone=eu",
    "[1, 2]",
    "bwrap",
];

fn seeds(kind: &str) -> Vec<Seed> {
    harness::corpus(TARGET, kind)
}

/// Every corpus file loads or is refused without a panic; `ok-` files load, `err-` files are
/// refused.
#[test]
fn corpus_replays() {
    let scratch = Scratch::new();
    for seed in seeds("toml") {
        let outcome = scratch.load(&seed.bytes, env_for(&seed.text()));
        seed.check(outcome.is_ok(), &outcome);
    }
    for seed in seeds("yaml") {
        let outcome = scratch.template(&seed.text());
        seed.check(outcome.is_ok(), &outcome);
    }
    for seed in seeds("env") {
        let sources = Sources { file: None, env: env_of(&seed.text()) };
        let outcome = load_all(&sources, Flags::new(), Flags::new(), &scratch.roles());
        seed.check(outcome.is_ok(), &outcome);
    }
}

/// Mutated corpus config files (bytes: a file need not be UTF-8).
#[test]
fn mutated_config_files_load_or_refuse() {
    let scratch = Scratch::new();
    let files: Vec<Vec<u8>> = seeds("toml").into_iter().map(|seed| seed.bytes).collect();
    let save = |bytes: &Vec<u8>| Found::new("toml", "toml", bytes.clone());
    harness::run(TARGET, "toml_mutated", harness::cases(1), harness::mutated(files, TOKENS), &save, |bytes| {
        let env = env_for(&String::from_utf8_lossy(&bytes));
        let _ = scratch.load(&bytes, env);
        Ok(())
    });
}

/// A TOML value of any type, as text.
fn toml_value() -> BoxedStrategy<String> {
    let scalar = prop_oneof![
        prop::sample::select(VALUES.to_vec()).prop_map(|value| format!("{value:?}")),
        any::<i64>().prop_map(|number| number.to_string()),
        any::<f64>().prop_map(|number| format!("{number:?}")),
        any::<bool>().prop_map(|value| value.to_string()),
        text(&[], &[]).prop_map(|text| format!("{text:?}")),
    ];
    scalar
        .prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
                prop::collection::vec((prop::sample::select(vec!["zone", "a", "b-c"]), inner), 0..3).prop_map(
                    |entries| {
                        let entries: Vec<String> =
                            entries.iter().map(|(key, value)| format!("{key} = {value}")).collect();
                        format!("{{{}}}", entries.join(", "))
                    }
                ),
            ]
        })
        .boxed()
}

/// Generated config documents: sections of every kind with their real keys (and a few unknown
/// ones) set to values of any type.
fn toml_document() -> BoxedStrategy<String> {
    let mut keys: Vec<String> =
        known_keys::<HubConfig>().into_iter().chain(known_keys::<agent_node::NodeConfig>()).collect();
    keys.extend(
        [
            "model",
            "provider",
            "base-url",
            "api-key-env",
            "input-price",
            "timeout",
            "max-attempts",
            "default",
            "allowed",
            "approval-timeout",
            "prompt",
            "tools",
            "team",
            "vars",
            "unknown",
        ]
        .map(str::to_owned),
    );
    let sections = prop::sample::select(vec![
        "[hub]",
        "[node]",
        "[node.labels]",
        "[models.m]",
        "[routes.r]",
        "[tools]",
        "[[tools.rules]]",
        "[tools.manifest.bash]",
        "[templates.t]",
        "[other]",
    ]);
    let entry = (prop::sample::select(keys), toml_value()).prop_map(|(key, value)| format!("{key} = {value}"));
    let section = (sections, prop::collection::vec(entry, 0..5))
        .prop_map(|(header, entries)| format!("{header}\n{}\n", entries.join("\n")));
    prop::collection::vec(section, 0..5).prop_map(|sections| sections.join("\n")).boxed()
}

/// Generated config documents.
#[test]
fn generated_config_files_load_or_refuse() {
    let scratch = Scratch::new();
    let save = |text: &String| Found::new("toml", "toml", text.clone().into_bytes());
    harness::run(TARGET, "toml_generated", harness::cases(1), toml_document(), &save, |text| {
        let _ = scratch.load(text.as_bytes(), env_for(&text));
        Ok(())
    });
}

/// Environments (generated from the variables the loaders read, and mutated corpus `.env`
/// files) and flags.
#[test]
fn environments_and_flags_load_or_refuse() {
    let scratch = Scratch::new();
    let values =
        || prop_oneof![3 => prop::sample::select(VALUES.to_vec()).prop_map(str::to_owned), 1 => text(&[], &[256])];
    let generated = prop::collection::hash_map(prop::sample::select(variables()), values(), 0..6);
    let env_files: Vec<Vec<u8>> = seeds("env").into_iter().map(|seed| seed.bytes).collect();
    let mutated =
        harness::mutated_text(env_files, &["AGENTRY_", "=", "\n", "_", "s", "ms"]).prop_map(|text| env_of(&text));
    // Flags of `hub serve` / `node join`: keys as clap gives them (static names), any value.
    let flag_keys: Vec<&'static str> = known_keys::<HubConfig>()
        .into_iter()
        .chain(known_keys::<agent_node::NodeConfig>())
        .map(|key| &*Box::leak(key.into_boxed_str()))
        .collect();
    let flags = || prop::collection::vec((prop::sample::select(flag_keys.clone()), values()), 0..3);
    let strategy = (prop_oneof![generated, mutated], flags(), flags());
    let save = |(env, _, _): &(HashMap<String, String>, Flags, Flags)| {
        let text: String = env.iter().map(|(key, value)| format!("{key}={value}\n")).collect();
        Found::new("env", "env", text.into_bytes())
    };
    harness::run(TARGET, "env_and_flags", harness::cases(1), strategy, &save, |(env, hub_flags, node_flags)| {
        let sources = Sources { file: None, env };
        let _ = load_all(&sources, hub_flags, node_flags, &scratch.roles());
        Ok(())
    });
}

/// A role template document: its real keys (and an unknown one) with values of any YAML shape.
fn yaml_document() -> BoxedStrategy<String> {
    let keys = prop::sample::select(vec![
        "name",
        "description",
        "model",
        "prompt",
        "system",
        "tools",
        "max_iterations",
        "max-iterations",
        "temperature",
        "tool_choice",
        "vars",
        "team",
        "other",
    ]);
    let scalar = prop_oneof![
        text(&["coder", "view", "{{topic}}", "{{ x", "openai:gpt-test", "auto", "required"], &[64, 65])
            .prop_map(|text| format!("{text:?}")),
        any::<i64>().prop_map(|number| number.to_string()),
        any::<f64>().prop_map(|number| number.to_string()),
        prop::sample::select(vec![
            "~",
            "null",
            "true",
            "[]",
            "{}",
            ".nan",
            "-.inf",
            "0x1F",
            "!!binary aGk=",
            "*x",
            "&x y"
        ])
        .prop_map(str::to_owned),
    ];
    let value = scalar.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec((prop::sample::select(vec!["topic", "a b", "x"]), inner), 0..3).prop_map(|entries| {
                let entries: Vec<String> = entries.iter().map(|(key, value)| format!("{key:?}: {value}")).collect();
                format!("{{{}}}", entries.join(", "))
            }),
        ]
    });
    prop::collection::vec((keys, value), 0..6)
        .prop_map(|entries| entries.iter().map(|(key, value)| format!("{key}: {value}\n")).collect())
        .boxed()
}

/// Generated and mutated role template YAML.
#[test]
fn role_templates_parse_or_refuse() {
    let scratch = Scratch::new();
    let files: Vec<Vec<u8>> = seeds("yaml").into_iter().map(|seed| seed.bytes).collect();
    let strategy = prop_oneof![harness::mutated_text(files, TOKENS), yaml_document()];
    let save = |text: &String| Found::new("yaml", "yaml", text.clone().into_bytes());
    harness::run(TARGET, "yaml", harness::cases(1), strategy, &save, |text| {
        let _ = scratch.template(&text);
        Ok(())
    });
}
