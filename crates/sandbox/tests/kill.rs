//! The whole tree dies: on timeout, on cancellation (drop) and when the main process exits,
//! including processes that left the process group.

mod common;

use std::time::Duration;

use agentry_sandbox::{Exit, NetworkAccess, run_captured};
use tempfile::TempDir;

use common::{all_sandboxes, assert_sleeps_die, confinement, ready_fifo, run, sleep_marker, text, wait_until_ready};

#[tokio::test]
async fn timeout_kills_the_tree_including_escaped_sessions() {
    for (salt, sandbox) in all_sandboxes().into_iter().enumerate() {
        let kind = sandbox.kind();
        let workspace = TempDir::new().unwrap();
        let confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(1));
        let marker = sleep_marker(salt as u32);
        let script = format!("setsid sleep {marker} & sleep {marker} & wait");
        let started = tokio::time::Instant::now();
        let output = run(sandbox.as_ref(), &script, &confinement).await;
        assert_eq!(output.exit, Exit::TimedOut(Duration::from_secs(1)), "{kind}: {}", text(&output));
        assert!(started.elapsed() < Duration::from_secs(10), "{kind}: {:?}", started.elapsed());
        assert_sleeps_die(&marker, kind).await;
    }
}

#[tokio::test]
async fn dropping_the_run_kills_the_tree() {
    for (salt, sandbox) in all_sandboxes().into_iter().enumerate() {
        let kind = sandbox.kind();
        let workspace = TempDir::new().unwrap();
        let confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(600));
        let marker = sleep_marker(10 + salt as u32);
        let ready = ready_fifo(workspace.path(), "ready");
        let args = ["-c".to_owned(), format!("setsid sleep {marker} & sleep {marker} & echo up > ready; wait")];
        let confined = sandbox.command("bash", &args, &confinement).unwrap();
        let cgroups = confined.description.get("cgroups").cloned();
        let running = run_captured(confined);
        tokio::select! {
            result = running => panic!("{kind}: the run ended: {result:?}"),
            () = wait_until_ready(ready) => {}
        }
        assert_sleeps_die(&marker, kind).await;
        // The leaf goes too (removed by the drop, possibly in a background thread). A cgroup
        // directory's removal gives no event to await: this polls, with a deadline.
        for path in cgroups.iter().flat_map(|paths| paths.as_array().unwrap()) {
            let path = std::path::PathBuf::from(path.as_str().unwrap());
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while path.exists() {
                assert!(tokio::time::Instant::now() < deadline, "{kind}: {} left behind", path.display());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn background_processes_die_when_the_main_process_exits() {
    for (salt, sandbox) in all_sandboxes().into_iter().enumerate() {
        let kind = sandbox.kind();
        let workspace = TempDir::new().unwrap();
        let confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(600));
        let marker = sleep_marker(20 + salt as u32);
        // The sleeps keep stdout open: the run must not wait for them.
        let script = format!("setsid sleep {marker} & sleep {marker} & echo started");
        let started = tokio::time::Instant::now();
        let output = run(sandbox.as_ref(), &script, &confinement).await;
        assert_eq!(output.stdout.text(), "started\n", "{kind}: {}", text(&output));
        assert_eq!(output.exit, Exit::Code(0));
        assert!(started.elapsed() < Duration::from_secs(30), "{kind}: {:?}", started.elapsed());
        assert_sleeps_die(&marker, kind).await;
    }
}

#[tokio::test]
async fn a_missing_workspace_or_program_is_an_error_not_a_panic() {
    for sandbox in all_sandboxes() {
        let workspace = TempDir::new().unwrap();
        let gone = workspace.path().join("gone");
        let missing = confinement(&gone, NetworkAccess::None, Duration::from_secs(5));
        let error = sandbox.command("true", &[], &missing).unwrap_err();
        assert!(error.to_string().contains("gone"), "{}: {error}", sandbox.kind());
        let present = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(30));
        let confined = sandbox.command("/nonexistent/program", &[], &present).unwrap();
        match run_captured(confined).await {
            // bwrap starts, then fails to exec the program inside.
            Ok(output) => assert_ne!(output.exit, Exit::Code(0), "{}", sandbox.kind()),
            Err(error) => assert!(error.to_string().contains("could not start"), "{error}"),
        }
    }
}
