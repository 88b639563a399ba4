//! Resource limits: processes, memory, CPU time, output size.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agentry_sandbox::{BwrapSandbox, Exit, LandlockSandbox, LimitHit, NetworkAccess, Sandbox};
use tempfile::TempDir;

use common::{all_sandboxes, confinement, has_pids_cgroup, run, text};

/// A fork bomb whose every level waits for its children, so the tree only grows.
const FORK_BOMB: &str = "bomb() { bomb | bomb; }; bomb";

/// Allocates and touches 4 GiB, then prints the length.
const ALLOCATE_4_GIB: &str = "perl -e '$x = \"a\" x (4 * 1024**3); print length($x)'";

#[tokio::test]
async fn a_fork_bomb_hits_the_process_limit_and_is_killed_at_the_wall_time() {
    for sandbox in all_sandboxes() {
        let kind = sandbox.kind();
        let workspace = TempDir::new().unwrap();
        let mut confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(3));
        confinement.limits.max_processes = Some(40);
        if !has_pids_cgroup(sandbox.as_ref(), &confinement) {
            continue;
        }
        let output = run(sandbox.as_ref(), FORK_BOMB, &confinement).await;
        assert_eq!(output.exit, Exit::TimedOut(Duration::from_secs(3)), "{kind}: {}", text(&output));
        let hit = output.limits_hit.iter().find(|hit| matches!(hit, LimitHit::Processes { limit: 40, .. }));
        assert!(hit.is_some(), "{kind}: {}", text(&output));
        // Everything was killed and the leaf removed.
        for path in output.description["cgroups"].as_array().unwrap() {
            assert!(!std::path::Path::new(path.as_str().unwrap()).exists(), "{kind}: {path} left behind");
        }
    }
    // The test process is still healthy.
    let status = tokio::process::Command::new("true").status().await.unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_4_gib_allocation_is_killed_by_the_memory_cgroup() {
    for sandbox in all_sandboxes() {
        let kind = sandbox.kind();
        let workspace = TempDir::new().unwrap();
        let mut confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(120));
        confinement.limits.memory_bytes = Some(200 << 20);
        let description = sandbox.describe(&confinement);
        let mechanism = description["limits"]["memory_bytes"]["mechanism"].as_str().unwrap().to_owned();
        if !mechanism.starts_with("cgroup") {
            eprintln!("SKIPPED {kind}: memory limited by {mechanism} (see the rlimit test)");
            continue;
        }
        let output = run(sandbox.as_ref(), ALLOCATE_4_GIB, &confinement).await;
        assert!(!output.stdout.text().contains("4294967296"), "{kind}: {}", text(&output));
        assert!(matches!(output.exit, Exit::Signal(9) | Exit::Code(137)), "{kind}: {}", text(&output));
        let hit = LimitHit::Memory { limit_bytes: 200 << 20, oom_kills: 1 };
        assert!(
            output
                .limits_hit
                .iter()
                .any(|found| matches!(found, LimitHit::Memory { limit_bytes, .. } if *limit_bytes == 200 << 20)),
            "{kind}: expected {hit:?}: {}",
            text(&output)
        );
    }
}

#[tokio::test]
async fn without_cgroups_rlimits_stop_a_4_gib_allocation() {
    let mut sandboxes: Vec<Arc<dyn Sandbox>> = Vec::new();
    match BwrapSandbox::probe() {
        Ok(bwrap) => sandboxes.push(Arc::new(bwrap.without_cgroups())),
        Err(error) => eprintln!("SKIPPED bwrap: {error}"),
    }
    match LandlockSandbox::probe() {
        Ok(landlock) => sandboxes.push(Arc::new(landlock.without_cgroups())),
        Err(error) => eprintln!("SKIPPED landlock: {error}"),
    }
    for sandbox in sandboxes {
        let kind = sandbox.kind();
        let workspace = TempDir::new().unwrap();
        let mut confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(120));
        confinement.limits.memory_bytes = Some(512 << 20);
        let description = sandbox.describe(&confinement);
        assert_eq!(description["limits"]["memory_bytes"]["mechanism"], "rlimit-as (per process)");
        let output = run(sandbox.as_ref(), ALLOCATE_4_GIB, &confinement).await;
        assert!(!output.stdout.text().contains("4294967296"), "{kind}: {}", text(&output));
        assert!(output.stderr.text().contains("Out of memory"), "{kind}: {}", text(&output));
        assert!(description.get("cgroups").is_none());
    }
}

#[tokio::test]
async fn cpu_time_is_limited_per_process() {
    for sandbox in all_sandboxes() {
        let kind = sandbox.kind();
        let workspace = TempDir::new().unwrap();
        let mut confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(120));
        confinement.limits.cpu_seconds = Some(1);
        let output = run(sandbox.as_ref(), "exec bash -c 'while :; do :; done'", &confinement).await;
        // bwrap reports its child's signal as 128 + signal.
        let by_sigxcpu = [Exit::Signal(libc::SIGXCPU), Exit::Code(128 + libc::SIGXCPU)].contains(&output.exit);
        assert!(by_sigxcpu, "{kind}: {}", text(&output));
        assert!(output.limits_hit.contains(&LimitHit::CpuTime { limit_seconds: 1 }), "{kind}: {}", text(&output));
    }
}

#[tokio::test]
async fn output_beyond_the_cap_is_counted_not_kept() {
    for sandbox in all_sandboxes() {
        let workspace = TempDir::new().unwrap();
        let mut confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(60));
        confinement.limits.max_output_bytes = 1000;
        let output = run(sandbox.as_ref(), "head -c 300000 /dev/zero; head -c 5 /dev/zero >&2", &confinement).await;
        assert_eq!((output.stdout.kept.len(), output.stdout.total), (1000, 300_000), "{}", sandbox.kind());
        assert_eq!((output.stderr.kept.len(), output.stderr.total), (5, 5));
        assert_eq!(output.exit, Exit::Code(0));
        assert!(output.stdout.text().ends_with("[truncated: 299000 more bytes]"));
    }
}

#[tokio::test]
async fn the_description_names_each_mechanism() {
    for sandbox in all_sandboxes() {
        let workspace = TempDir::new().unwrap();
        let confinement = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(60));
        let description = sandbox.describe(&confinement);
        assert_eq!(description["sandbox"], sandbox.kind().as_str());
        assert_eq!(description["limits"]["cpu_seconds"]["mechanism"], "rlimit-cpu (per process)");
        for limit in ["memory_bytes", "max_processes"] {
            assert!(description["limits"][limit]["mechanism"].is_string(), "{description}");
        }
        let confined = sandbox.command("true", &[], &confinement).unwrap();
        assert_eq!(confined.description["limits"], description["limits"], "{}", sandbox.kind());
    }
}
