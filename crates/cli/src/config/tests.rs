//! One test per layer, precedence between them, and errors that name the key and its source.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use agent_hub::scheduler::Strategy;

use serde::Deserialize;

use super::*;

/// The shape of a config file, to read a printed configuration back.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    hub: HubConfig,
    node: NodeConfig,
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}

/// Returns a config file with `text`, kept alive by the returned handle.
fn file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().expect("a temporary file");
    file.write_all(text.as_bytes()).expect("writing the config file");
    file
}

fn error_text(result: anyhow::Result<impl std::fmt::Debug>) -> String {
    format!("{:#}", result.expect_err("the configuration must be refused"))
}

#[test]
fn without_sources_the_defaults_apply() {
    assert_eq!(load_hub(&Sources::default(), Flags::new()).unwrap(), HubConfig::default());
    assert_eq!(load_node(&Sources::default(), Flags::new()).unwrap(), NodeConfig::default());
}

#[test]
fn the_file_layer_sets_both_sections() {
    let config =
        file("[hub]\nlease-ttl = \"7s\"\nscheduler = \"binpack\"\n\n[node]\nslots = 9\nlabels = { zone = \"eu-1\" }\n");
    let sources = Sources { file: Some(config.path().to_owned()), ..Sources::default() };
    let hub = load_hub(&sources, Flags::new()).unwrap();
    assert_eq!((hub.lease_ttl, hub.scheduler), (Duration::from_secs(7), Strategy::Binpack));
    assert_eq!(hub.heartbeat_interval, HubConfig::default().heartbeat_interval, "unset keys keep their default");
    let node = load_node(&sources, Flags::new()).unwrap();
    assert_eq!(node.slots, 9);
    assert_eq!(node.labels.get("zone").map(String::as_str), Some("eu-1"));
}

#[test]
fn the_env_layer_overrides_the_file_and_ignores_other_variables() {
    let config = file("[hub]\ndatabase-url = \"sqlite:/from/file.db\"\nlease-ttl = \"7s\"\n");
    let sources = Sources {
        file: Some(config.path().to_owned()),
        env: env(&[
            ("AGENTRY_DATABASE_URL", "postgres://app:pw@db/agentry"),
            ("AGENTRY_NATS_URL", "nats://nats:4222"),
            ("AGENTRY_TEST_DATABASE_URL", "postgres://elsewhere"),
            ("AGENTRY_HUB", "http://not-a-hub-key:7700"),
        ]),
    };
    let hub = load_hub(&sources, Flags::new()).unwrap();
    assert_eq!(hub.database_url, "postgres://app:pw@db/agentry");
    assert_eq!(hub.nats_url.as_deref(), Some("nats://nats:4222"));
    assert_eq!(hub.lease_ttl, Duration::from_secs(7), "the file still sets what the environment does not");
}

#[test]
fn the_node_reads_its_hub_and_model_endpoint_from_the_environment() {
    let sources = Sources {
        env: env(&[
            ("AGENTRY_HUB", "http://hub:7700"),
            ("AGENTRY_LABELS", "gpu=a100,zone=eu-1"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:8090/v1"),
            ("OPENAI_API_KEY", "sk-secret"),
        ]),
        ..Sources::default()
    };
    let node = load_node(&sources, Flags::new()).unwrap();
    assert_eq!(node.hub, "http://hub:7700");
    assert_eq!(node.labels.len(), 2);
    assert_eq!(node.default_endpoints().openai.base_url, "http://127.0.0.1:8090/v1");
    assert_eq!(node.openai_api_key.as_deref(), Some("sk-secret"));
}

#[test]
fn the_flag_layer_overrides_env_and_file() {
    let config = file("[node]\nslots = 9\n");
    let sources = Sources { file: Some(config.path().to_owned()), env: env(&[("AGENTRY_SLOTS", "7")]) };
    assert_eq!(load_node(&sources, Flags::new()).unwrap().slots, 7, "env over file");
    let node = load_node(&sources, vec![("slots", "3".to_owned()), ("tool-timeout", "5m".to_owned())]).unwrap();
    assert_eq!(node.slots, 3, "flag over env");
    assert_eq!(node.tool_timeout, Duration::from_secs(300));
}

#[test]
fn an_unknown_key_in_the_file_is_named() {
    let config = file("[hub]\nlease-tll = \"5s\"\n");
    let sources = Sources { file: Some(config.path().to_owned()), ..Sources::default() };
    let message = error_text(load_hub(&sources, Flags::new()));
    assert!(message.contains("unknown key hub.lease-tll"), "{message}");
    assert!(message.contains(&config.path().display().to_string()), "names the file: {message}");
    let section = file("[hubs]\n");
    let sources = Sources { file: Some(section.path().to_owned()), ..Sources::default() };
    assert!(error_text(load_node(&sources, Flags::new())).contains("unknown section [hubs]"));
}

#[test]
fn a_bad_value_names_its_key_and_source() {
    let from_env = Sources { env: env(&[("AGENTRY_LEASE_TTL", "5 parsecs")]), ..Sources::default() };
    let message = error_text(load_hub(&from_env, Flags::new()));
    assert!(message.contains("hub.lease-ttl"), "{message}");
    assert!(message.contains("environment variable AGENTRY_LEASE_TTL"), "{message}");

    let message = error_text(load_node(&Sources::default(), vec![("slots", "many".to_owned())]));
    assert!(message.contains("node.slots") && message.contains("flag --slots"), "{message}");

    let config = file("[hub]\nscheduler = \"fastest\"\n");
    let from_file = Sources { file: Some(config.path().to_owned()), ..Sources::default() };
    let message = error_text(load_hub(&from_file, Flags::new()));
    assert!(message.contains("hub.scheduler") && message.contains("unknown scheduler"), "{message}");
}

#[test]
fn values_that_parse_but_cannot_work_are_refused_by_key() {
    let sources = Sources {
        env: env(&[("AGENTRY_HEARTBEAT_INTERVAL", "10s"), ("AGENTRY_LEASE_TTL", "5s")]),
        ..Sources::default()
    };
    let message = error_text(load_hub(&sources, Flags::new()));
    assert!(message.contains("hub.heartbeat-interval: 10s must be shorter than lease-ttl (5s)"), "{message}");
}

#[test]
fn printing_redacts_secrets() {
    let hub = HubConfig { database_url: "postgres://app:pw@db/agentry".into(), ..HubConfig::default() };
    let node = NodeConfig { openai_api_key: Some("sk-secret".into()), ..NodeConfig::default() };
    let printed = print(Some(&hub), Some(&node)).unwrap();
    assert!(printed.contains("postgres://app:***@db/agentry") && !printed.contains("pw@"), "{printed}");
    assert!(!printed.contains("sk-secret"), "{printed}");
    let parsed: FileConfig = toml::from_str(&printed).expect("the printed config reads back");
    assert_eq!(parsed.hub.lease_ttl, hub.lease_ttl);
}

#[test]
fn the_sandbox_is_read_by_name_and_an_unknown_one_lists_the_choices() {
    let sources = Sources { file: None, env: env(&[("AGENTRY_SANDBOX", "landlock")]) };
    assert_eq!(load_node(&sources, Flags::new()).unwrap().sandbox.map(|kind| kind.as_str()), Some("landlock"));
    let flags = vec![("sandbox", "chroot".to_owned())];
    let error = error_text(load_node(&Sources::default(), flags));
    assert!(error.contains("node.sandbox (from flag --sandbox)"), "{error}");
    assert!(error.contains("unknown sandbox \"chroot\"; expected bwrap, landlock, docker or none"), "{error}");
}
