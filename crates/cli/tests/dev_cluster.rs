//! `agentry dev` end to end: a one-process cluster answers the client commands, which report
//! the hub's errors as one line with exit code 1.

mod common;

use std::net::TcpListener;
use std::process::Command;

use serde_json::Value;

use common::{DevProcess, stderr_lines};

#[test]
fn dev_cluster_serves_clients_and_reports_hub_errors() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut dev = DevProcess::start(data_dir.path());
    dev.wait_until_ready();
    assert!(dev.stderr().contains("agentry dev: hub on http://127.0.0.1:"), "stderr:\n{}", dev.stderr());
    assert!(data_dir.path().join("agentry.db").exists());

    let blank = dev.client(&["spawn", "--input", ""]);
    let lines = stderr_lines(&blank);
    assert_eq!(blank.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("error: invalid argument"), "{lines:?}");
    assert!(blank.stdout.is_empty());

    let agent_id = uuid::Uuid::now_v7().to_string();
    let unknown = dev.client(&["send", &agent_id, "hi"]);
    let lines = stderr_lines(&unknown);
    assert_eq!(unknown.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("error: not found"), "{lines:?}");
    assert!(lines[0].contains(&agent_id), "{lines:?}");

    let agents = dev.client(&["ps", "--output", "json"]);
    assert!(agents.status.success(), "{:?}", stderr_lines(&agents));
    let agents: Value = serde_json::from_slice(&agents.stdout).expect("ps JSON");
    assert_eq!(agents, Value::Array(Vec::new()));

    dev.terminate();
}

#[test]
fn dev_reports_a_taken_port_in_one_line() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let taken = TcpListener::bind("127.0.0.1:0").expect("binding a port");
    let address = taken.local_addr().expect("local address").to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(["dev", "--nodes", "0", "--listen", &address, "--metrics-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir.path())
        .env("RUST_LOG", "off")
        .output()
        .expect("running agentry dev");
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines, vec![format!("error: binding {address}: address already in use")]);
}
