//! The Helm chart (`charts/agentry`) through its CI checker, `scripts/chart-check.sh`: the real
//! chart passes (lint, schema, renders, Kubernetes schemas, invariants, README), and a copy of
//! it broken in one place fails with a message naming the problem — a template that does not
//! parse, and a node grace period that would kill runs instead of handing them back. The README's
//! values table is generated from values.yaml and checked for staleness.
//!
//! The checker installs its pinned PyPI packages once into ~/.cache/agentry/chart-venv (under a
//! lock, so these tests may run in parallel); after that it runs offline.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Returns the repository root (two levels above this crate).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// Runs `scripts/chart-check.sh` with `args` and returns its output.
fn chart_check(args: &[&Path]) -> Output {
    let root = repo_root();
    Command::new("bash")
        .arg(root.join("scripts/chart-check.sh"))
        .args(args)
        .current_dir(&root)
        .output()
        .expect("run scripts/chart-check.sh")
}

/// Returns stdout and stderr as one text, for assertions and failure messages.
fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create directory");
    for entry in fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Returns a temporary directory holding a copy of the chart at `<dir>/agentry`.
fn chart_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let chart = dir.path().join("agentry");
    copy_tree(&repo_root().join("charts/agentry"), &chart);
    (dir, chart)
}

/// Returns the checker's Python (the virtualenv with PyYAML, Helm's SDK, kubernetes-validate).
fn checker_python() -> String {
    let output = Command::new("bash")
        .arg(repo_root().join("scripts/chart-check.sh"))
        .arg("--python")
        .output()
        .expect("run scripts/chart-check.sh --python");
    assert!(output.status.success(), "chart-check.sh --python failed:\n{}", text(&output));
    String::from_utf8(output.stdout).expect("utf-8 path").trim().to_owned()
}

#[test]
fn real_chart_passes_the_checker() {
    let output = chart_check(&[]);
    let report = text(&output);
    assert!(output.status.success(), "chart-check.sh failed on charts/agentry:\n{report}");
    assert!(report.contains("passed"), "no success line:\n{report}");
    for step in ["helm lint", "values schema rejects unknown keys", "manifests validated", "invariants"] {
        assert!(report.contains(step), "step `{step}` did not run:\n{report}");
    }
}

#[test]
fn broken_template_fails_the_checker() {
    let (_dir, chart) = chart_copy();
    let template = chart.join("templates/configmap.yaml");
    let mut source = fs::read_to_string(&template).expect("read template");
    source.push_str("  broken: {{ .Values.hub.replicas\n");
    fs::write(&template, source).expect("write template");

    let output = chart_check(&[&chart]);
    let report = text(&output);
    assert!(!output.status.success(), "a template with an unclosed action passed:\n{report}");
    assert!(
        report.contains("templates/configmap.yaml") && report.contains("unclosed action"),
        "the failure does not name the template and the problem:\n{report}"
    );
    assert!(report.contains("FAIL") && report.contains("helm lint"), "lint did not report it:\n{report}");
}

#[test]
fn grace_period_not_above_shutdown_grace_fails_the_checker() {
    let (_dir, chart) = chart_copy();
    let values = "node:\n  shutdownGrace: 45s\n  terminationGracePeriodSeconds: 45\n";
    fs::write(chart.join("ci/short-grace-values.yaml"), values).expect("write values file");

    let output = chart_check(&[&chart]);
    let report = text(&output);
    assert!(!output.status.success(), "a grace period equal to the shutdown grace passed:\n{report}");
    assert!(
        report.contains("ci/short-grace-values.yaml")
            && report.contains("terminationGracePeriodSeconds 45 must exceed --shutdown-grace 45s"),
        "the failure does not name the values file and the grace periods:\n{report}"
    );
    let failures = report.lines().filter(|line| line.starts_with("FAIL")).count();
    assert_eq!(failures, 1, "only the short-grace values file should fail:\n{report}");
}

#[test]
fn readme_values_table_is_current_and_checked() {
    let python = checker_python();
    let readme = repo_root().join("scripts/chart/readme.py");
    let current = Command::new(&python)
        .arg(&readme)
        .arg("--check")
        .arg(repo_root().join("charts/agentry"))
        .output()
        .expect("run readme.py --check");
    assert!(current.status.success(), "charts/agentry/README.md is stale:\n{}", text(&current));

    let (_dir, chart) = chart_copy();
    let values_path = chart.join("values.yaml");
    let values = fs::read_to_string(&values_path).expect("read values.yaml");
    let edited = values.replacen("# -- Hub replicas", "# -- Number of hub replicas", 1);
    assert_ne!(values, edited, "values.yaml no longer documents hub.replicas this way");
    fs::write(&values_path, edited).expect("write values.yaml");
    let stale = Command::new(&python).arg(&readme).arg("--check").arg(&chart).output().expect("run readme.py");
    assert!(!stale.status.success(), "an edited description did not make the README stale");
    assert!(text(&stale).contains("is stale"), "unexpected message:\n{}", text(&stale));
}
