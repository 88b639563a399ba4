//! The crate map of README-cloud.md, enforced: which workspace crate may depend on which
//! (normal dependencies, from `cargo metadata`), and what the hub, the store and the node must
//! never link, however indirectly (`cargo tree`): the hub no HTTP client and no tool runtime,
//! the node no database driver, core no I/O crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Each workspace crate and the workspace crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("agentry-core", &[]),
    ("agentry-proto", &["agentry-core"]),
    ("agentry-store", &["agentry-core"]),
    ("agentry-broker", &["agentry-core"]),
    ("agentry-runtime", &["agentry-core", "agentry-sandbox"]),
    ("agentry-sandbox", &[]),
    ("agentry-supervisor", &[]),
    ("agentry-telemetry", &["agentry-core", "agentry-tls"]),
    ("agentry-console", &[]),
    ("agentry-tls", &[]),
    (
        "agent-hub",
        &[
            "agentry-core",
            "agentry-proto",
            "agentry-store",
            "agentry-broker",
            "agentry-supervisor",
            "agentry-telemetry",
            "agentry-console",
            "agentry-tls",
        ],
    ),
    (
        "agent-node",
        &[
            "agentry-core",
            "agentry-proto",
            "agentry-broker",
            "agentry-runtime",
            "agentry-sandbox",
            "agentry-supervisor",
            "agentry-telemetry",
            "agentry-tls",
        ],
    ),
    ("agentry-sdk", &["agentry-core", "agentry-proto", "agentry-tls"]),
    (
        "agentry",
        &[
            "agent-hub",
            "agent-node",
            "agentry-sdk",
            "agentry-broker",
            "agentry-core",
            "agentry-telemetry",
            "agentry-tls",
        ],
    ),
];

/// Crates that must not appear anywhere in a crate's normal dependency tree.
const FORBIDDEN: &[(&str, &[&str])] = &[
    // reqwest: only to fetch a JWT issuer's JWKS (`jwt-jwks = "https://…"`); no model calls.
    ("agent-hub", &["agentry-runtime", "agentry-sandbox"]),
    ("agentry-store", &["reqwest", "agentry-runtime", "async-nats"]),
    ("agent-node", &["sqlx", "agentry-store"]),
    ("agentry-core", &["tokio", "reqwest", "sqlx", "tonic", "async-nats"]),
    ("agentry-sdk", &["sqlx", "reqwest", "agentry-runtime"]),
    ("agentry-telemetry", &["sqlx", "reqwest", "agentry-runtime", "agentry-store"]),
    ("agentry-console", &["sqlx", "reqwest", "tonic", "agentry-store"]),
    ("agentry-tls", &["sqlx", "reqwest", "async-nats", "agentry-core"]),
];

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("the workspace root")
}

fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|error| panic!("running cargo {args:?}: {error}"));
    assert!(output.status.success(), "cargo {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("cargo prints UTF-8")
}

/// Returns each workspace crate's normal dependencies on other workspace crates.
fn workspace_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let metadata: Value =
        serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps", "--offline"])).expect("JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let members: BTreeSet<&str> = packages.iter().filter_map(|package| package["name"].as_str()).collect();
    packages
        .iter()
        .map(|package| {
            let dependencies = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|dependency| dependency["kind"].is_null())
                .filter_map(|dependency| dependency["name"].as_str())
                .filter(|name| members.contains(name))
                .map(str::to_owned)
                .collect();
            (package["name"].as_str().expect("name").to_owned(), dependencies)
        })
        .collect()
}

#[test]
fn workspace_crates_depend_only_on_what_the_crate_map_allows() {
    let actual = workspace_dependencies();
    let mut problems = Vec::new();
    for (name, dependencies) in &actual {
        if name == "agentry-test-util" {
            continue;
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(crate_name, _)| crate_name == name) else {
            problems.push(format!("{name} is not in the crate map (README-cloud.md and ALLOWED here)"));
            continue;
        };
        for dependency in dependencies.iter().filter(|dependency| !allowed.contains(&dependency.as_str())) {
            problems.push(format!("{name} depends on {dependency}, which the crate map does not allow"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_hub_store_node_and_core_never_link_what_they_must_not() {
    let mut problems = Vec::new();
    for (name, forbidden) in FORBIDDEN {
        let tree = cargo(&["tree", "--offline", "-p", name, "-e", "normal", "--prefix", "none", "--format", "{p}"]);
        let linked: BTreeSet<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
        for crate_name in forbidden.iter().filter(|crate_name| linked.contains(*crate_name)) {
            problems
                .push(format!("{name} links {crate_name} (cargo tree -p {name} -i {crate_name} says through what)"));
        }
        assert!(linked.contains(name), "cargo tree -p {name} lists {name} itself: {tree}");
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
