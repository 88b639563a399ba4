//! What confined processes may write: the workspace only.

mod common;

use std::time::Duration;

use agentry_sandbox::{Exit, NetworkAccess, SandboxKind};
use tempfile::TempDir;

use common::{confinement, confining_sandboxes, run, text};

/// Returns a temporary directory outside `/tmp` (which bwrap replaces), so the sandbox sees it:
/// under `/var/tmp`, not the target directory, since a checkout may itself live under `/tmp`.
fn outside_tmp() -> TempDir {
    TempDir::new_in("/var/tmp").unwrap()
}

#[tokio::test]
async fn touch_outside_the_workspace_fails_and_inside_works() {
    for sandbox in confining_sandboxes() {
        let workspace = TempDir::new().unwrap();
        let outside = outside_tmp();
        let confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(60));
        let target = outside.path().join("escaped");
        let script = format!("touch inside && touch '{}'", target.display());
        let output = run(sandbox.as_ref(), &script, &confinement).await;
        let kind = sandbox.kind();
        assert_eq!(output.exit, Exit::Code(1), "{kind}: {}", text(&output));
        let stderr = output.stderr.text();
        assert!(stderr.contains("Read-only file system") || stderr.contains("Permission denied"), "{kind}: {stderr}");
        assert!(!target.exists(), "{kind}: a file outside the workspace was created");
        assert!(workspace.path().join("inside").exists(), "{kind}: the workspace is not writable");
    }
}

#[tokio::test]
async fn bwrap_gives_a_private_tmp() {
    let Some(bwrap) = confining_sandboxes().into_iter().find(|sandbox| sandbox.kind() == SandboxKind::Bwrap) else {
        return;
    };
    let workspace = TempDir::new().unwrap();
    let confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(60));
    let name = format!("agentry-private-tmp-{}", std::process::id());
    let output = run(bwrap.as_ref(), &format!("echo x > /tmp/{name} && cat /tmp/{name}"), &confinement).await;
    assert_eq!(output.stdout.text(), "x\n", "{}", text(&output));
    assert!(!std::path::Path::new("/tmp").join(&name).exists(), "the sandbox's /tmp is the host's");
}

/// `rm -rf / --no-preserve-root` runs only after a probe in the same sandbox showed that it can
/// neither remove nor create files outside the workspace; a failed probe fails the test without
/// running it.
#[tokio::test]
async fn rm_rf_root_leaves_a_canary_outside_the_workspace_intact() {
    for sandbox in confining_sandboxes() {
        let kind = sandbox.kind();
        let workspace = TempDir::new().unwrap();
        let canary_dir = outside_tmp();
        let canary = canary_dir.path().join("canary");
        std::fs::write(&canary, "still here").unwrap();
        let confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(600));

        let root_probe = format!("/agentry-probe-{}", std::process::id());
        let probe = format!(
            "rm -f '{canary}'; touch '{dir}/new' '{root_probe}' '{parent}/agentry-probe'; touch probe",
            canary = canary.display(),
            dir = canary_dir.path().display(),
            parent = workspace.path().parent().unwrap().display(),
        );
        let probed = run(sandbox.as_ref(), &probe, &confinement).await;
        let confined = std::fs::read_to_string(&canary).is_ok_and(|content| content == "still here")
            && !canary_dir.path().join("new").exists()
            && !std::path::Path::new(&root_probe).exists()
            && !workspace.path().parent().unwrap().join("agentry-probe").exists()
            && workspace.path().join("probe").exists();
        assert!(confined, "{kind} IS NOT CONFINING WRITES; not running rm -rf /: {}", text(&probed));

        eprintln!("{kind}: confinement verified, running rm -rf / --no-preserve-root");
        let output = run(sandbox.as_ref(), "rm -rf / --no-preserve-root 2>/dev/null; echo done", &confinement).await;
        assert_eq!(std::fs::read_to_string(&canary).unwrap(), "still here", "{kind}: {}", text(&output));
        // It did run: the workspace's own files are gone.
        assert!(!workspace.path().join("probe").exists(), "{kind}: rm did not run: {}", text(&output));
    }
}
