//! Confined processes hold no capabilities and cannot signal processes outside the sandbox.

mod common;

use std::time::Duration;

use agentry_sandbox::NetworkAccess;
use tempfile::TempDir;

use common::{confinement, confining_sandboxes, run, text};

#[tokio::test]
async fn confined_processes_have_no_capabilities() {
    for sandbox in confining_sandboxes() {
        let kind = sandbox.kind();
        let workspace = TempDir::new().unwrap();
        let confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(60));
        let output = run(sandbox.as_ref(), "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status", &confinement).await;
        let lines: Vec<String> = output.stdout.text().lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 5, "{kind}: {}", text(&output));
        for line in lines {
            assert!(line.ends_with("\t0000000000000000"), "{kind}: {line}");
        }
    }
}

#[tokio::test]
async fn confined_processes_cannot_signal_the_node() {
    for sandbox in confining_sandboxes() {
        let kind = sandbox.kind();
        let workspace = TempDir::new().unwrap();
        let confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(60));
        let script = format!("kill -0 {} && echo reached", std::process::id());
        let output = run(sandbox.as_ref(), &script, &confinement).await;
        assert!(!output.stdout.text().contains("reached"), "{kind}: {}", text(&output));
    }
}
