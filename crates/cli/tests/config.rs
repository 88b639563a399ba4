//! The layered configuration through the `agentry` binary: `config print` shows the merged,
//! redacted result, and servers refuse a bad value with one line naming its key and source,
//! before contacting anything.

use std::process::{Command, Output};

/// Runs `agentry` with `env` added to a process environment cleared of every `AGENTRY_*` and
/// `OPENAI_*` variable of the test run.
fn agentry(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agentry"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AGENTRY_") || name.starts_with("OPENAI_") {
            command.env_remove(name);
        }
    }
    command.args(args).envs(env.iter().copied()).env_remove("RUST_LOG").output().expect("running agentry")
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr).lines().map(str::to_owned).collect()
}

#[test]
fn config_print_merges_file_env_and_redacts_secrets() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("agentry.toml");
    std::fs::write(&file, "[hub]\nscheduler = \"spread\"\nlease-ttl = \"9s\"\n\n[node]\nslots = 12\n")
        .expect("writing");
    let env = [("AGENTRY_DATABASE_URL", "postgres://app:hunter2@db/agentry"), ("OPENAI_API_KEY", "sk-secret")];
    let output = agentry(&["--config", file.to_str().expect("utf-8 path"), "config", "print"], &env);
    assert_eq!(output.status.code(), Some(0), "{:?}", stderr_lines(&output));
    let printed = String::from_utf8(output.stdout).expect("utf-8");
    for expected in ["scheduler = \"spread\"", "lease-ttl = \"9s\"", "slots = 12", "postgres://app:***@db/agentry"] {
        assert!(printed.contains(expected), "{expected} in {printed}");
    }
    assert!(!printed.contains("hunter2") && !printed.contains("sk-secret"), "{printed}");

    let hub_only = agentry(&["--config", file.to_str().expect("utf-8 path"), "config", "print", "--hub"], &[]);
    let printed = String::from_utf8(hub_only.stdout).expect("utf-8");
    assert!(printed.contains("[hub]") && !printed.contains("[node]"), "{printed}");
}

#[test]
fn a_bad_value_stops_the_server_with_its_key_and_source() {
    let output = agentry(&["hub", "serve", "--listen", "127.0.0.1:0"], &[("AGENTRY_LEASE_TTL", "5 parsecs")]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("hub.lease-ttl (from environment variable AGENTRY_LEASE_TTL)"), "{lines:?}");

    let output = agentry(&["node", "join", "--slots", "0"], &[]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert!(lines[0].contains("node.slots: 0 is not in 1-10000"), "{lines:?}");
}

#[test]
fn an_unknown_key_in_the_file_stops_the_server_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("agentry.toml");
    std::fs::write(&file, "[node]\nslot = 3\n").expect("writing");
    let output = agentry(&["--config", file.to_str().expect("utf-8 path"), "node", "join"], &[]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert!(lines[0].contains("unknown key node.slot"), "{lines:?}");
}
