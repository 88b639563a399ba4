//! The proto's compatibility gate (issue 15): `scripts/proto-check.sh` runs `buf lint` and
//! `buf breaking` against the previous release (here: the parent commit), and fails on a change
//! that would break clients or nodes built from it — such as a deleted field.

use std::path::{Path, PathBuf};
use std::process::Output;

/// Returns the repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

fn proto_check(args: &[&str]) -> Output {
    std::process::Command::new(repo().join("scripts/proto-check.sh"))
        .args(args)
        .output()
        .expect("running scripts/proto-check.sh (needs npx)")
}

fn report(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn the_proto_passes_lint_and_breaking_against_its_previous_release() {
    let output = proto_check(&[]);
    assert!(output.status.success(), "{}", report(&output));
    assert!(report(&output).contains("proto-check: buf breaking against"), "{}", report(&output));
}

#[test]
fn deleting_a_field_fails_the_breaking_check_naming_it() {
    let copy = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(repo().join("buf.yaml"), copy.path().join("buf.yaml")).expect("copying buf.yaml");
    let dir = copy.path().join("proto/agentry/v1");
    std::fs::create_dir_all(&dir).expect("creating the proto directory");
    for entry in std::fs::read_dir(repo().join("proto/agentry/v1")).expect("reading proto/agentry/v1") {
        let path = entry.expect("an entry").path();
        std::fs::copy(&path, dir.join(path.file_name().expect("a file name"))).expect("copying a proto file");
    }
    let hub = dir.join("hub.proto");
    let text = std::fs::read_to_string(&hub).expect("reading hub.proto");
    let start = text.find("message SpawnResponse {").expect("SpawnResponse in hub.proto");
    let field = start + text[start..].find("  string agent_id = 1;\n").expect("SpawnResponse.agent_id");
    let broken = format!("{}{}", &text[..field], &text[field + "  string agent_id = 1;\n".len()..]);
    std::fs::write(&hub, broken).expect("writing hub.proto");

    let repo = repo();
    let output =
        proto_check(&["--against", repo.to_str().expect("a UTF-8 path"), copy.path().to_str().expect("UTF-8")]);
    assert!(!output.status.success(), "a deleted field passed: {}", report(&output));
    assert!(
        report(&output)
            .contains(r#"Previously present field "1" with name "agent_id" on message "SpawnResponse" was deleted"#),
        "{}",
        report(&output)
    );
}
