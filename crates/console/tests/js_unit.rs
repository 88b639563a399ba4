//! The console's pure JavaScript (trace model, cost model, JSONL parsing, formatting) under
//! Node's built-in test runner: `node --test crates/console/tests/js/`. Node.js is a test-time
//! tool only (scripts/tool-deps.sh installs it); the console itself needs none.

use std::path::Path;
use std::process::Command;

#[test]
fn the_console_scripts_pass_their_node_unit_tests() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let output = Command::new("node")
        .arg("--test")
        .arg(&tests)
        .output()
        .unwrap_or_else(|error| panic!("running node (install Node.js: scripts/tool-deps.sh): {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node --test {}:\n{stdout}\n{stderr}", tests.display());
    // The runner's summary: at least one test ran, none failed.
    let count = |key: &str| {
        stdout
            .lines()
            .find_map(|line| line.trim_start_matches(['#', ' ']).strip_prefix(key)?.trim().parse::<u32>().ok())
    };
    assert!(count("pass").is_some_and(|passed| passed > 0), "no test passed:\n{stdout}");
    assert_eq!(count("fail"), Some(0), "{stdout}");
}
