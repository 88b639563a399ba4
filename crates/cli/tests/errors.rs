//! Failures of the `agentry` binary that need no hub: exit codes and one-line messages.

use std::process::{Command, Output};

fn agentry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(args)
        .env_remove("AGENTRY_HUB")
        .env_remove("RUST_LOG")
        .output()
        .expect("running agentry")
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr).lines().map(str::to_owned).collect()
}

#[test]
fn unreachable_hub_exits_with_2_and_one_line() {
    let output = agentry(&["ps", "--hub", "http://127.0.0.1:1"]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(2), "stderr: {lines:?}");
    assert_eq!(lines.len(), 1, "stderr: {lines:?}");
    assert!(lines[0].starts_with("error: hub unreachable at http://127.0.0.1:1"), "{lines:?}");
    assert!(output.stdout.is_empty());
}

#[test]
fn every_client_command_reports_an_unreachable_hub() {
    let hub = "http://127.0.0.1:1";
    let commands: [&[&str]; 4] = [
        &["nodes", "--hub", hub],
        &["spawn", "--input", "hi", "--hub", hub],
        &["send", "0193a000-0000-7000-8000-000000000000", "hi", "--hub", hub],
        &["trace", "0193a000-0000-7000-8000-000000000000", "--follow", "--hub", hub],
    ];
    for args in commands {
        let output = agentry(args);
        let lines = stderr_lines(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {lines:?}");
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].contains("hub unreachable"), "{args:?}: {lines:?}");
    }
}

#[test]
fn bad_labels_name_the_offending_pair() {
    let output = agentry(&["node", "join", "--labels", "gpu=a100,zone"]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("error: "), "{lines:?}");
    assert!(lines[0].contains(r#"label "zone" is not key=value"#), "{lines:?}");

    let output = agentry(&["spawn", "--input", "hi", "--label", "bad key=1"]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert!(lines[0].contains(r#""bad key=1""#), "{lines:?}");
}

#[test]
fn usage_errors_are_one_line() {
    let output = agentry(&["spawn"]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("--input"), "{lines:?}");

    let output = agentry(&["hub", "serve", "--lease-ttl", "soon"]);
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("--lease-ttl"), "{lines:?}");
}

#[test]
fn invalid_hub_urls_are_rejected() {
    let output = agentry(&["ps", "--hub", "ftp://hub.example:7700"]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert!(lines[0].contains("invalid hub URL"), "{lines:?}");
}
