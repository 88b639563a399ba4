//! docs/sdk.md shows the three SDKs' example files as they are: each file's text is the code
//! block under its `<code>PATH</code>` heading. `AGENTRY_UPDATE_DOCS=1` rewrites the blocks from
//! the files. The files themselves are compiled (`crates/sdk/examples/quickstart.rs`) or
//! type-checked (`scripts/sdk-python.sh`: mypy; `scripts/sdk-typescript.sh`: tsc) elsewhere.

use std::path::{Path, PathBuf};

/// The examples, by path from the repository root, with the language of their code block.
const EXAMPLES: [(&str, &str); 3] = [
    ("crates/sdk/examples/quickstart.rs", "rust"),
    ("sdk/python/examples/quickstart.py", "python"),
    ("sdk/typescript/examples/quickstart.ts", "typescript"),
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Returns the byte range of the code block (its body, between the fences) that follows
/// `marker` in `doc`.
fn block_after(doc: &str, marker: &str, language: &str) -> Option<std::ops::Range<usize>> {
    let at = doc.find(marker)?;
    let fence = format!("```{language}\n");
    let start = at + doc[at..].find(&fence)? + fence.len();
    let end = start + doc[start..].find("```\n")?;
    Some(start..end)
}

#[test]
fn docs_sdk_shows_each_example_file_as_it_is() {
    let doc_path = repository().join("docs/sdk.md");
    let mut doc = std::fs::read_to_string(&doc_path).unwrap();
    let update = std::env::var_os("AGENTRY_UPDATE_DOCS").is_some();
    for (path, language) in EXAMPLES {
        let file = std::fs::read_to_string(repository().join(path)).unwrap_or_else(|error| panic!("{path}: {error}"));
        let marker = format!("<code>{path}</code>");
        let range = block_after(&doc, &marker, language)
            .unwrap_or_else(|| panic!("docs/sdk.md has no ```{language} block after {marker}"));
        if update {
            doc.replace_range(range, &file);
        } else {
            assert_eq!(
                &doc[range], file,
                "docs/sdk.md's {path} differs from the file; AGENTRY_UPDATE_DOCS=1 rewrites it"
            );
        }
    }
    if update {
        std::fs::write(&doc_path, doc).unwrap();
    }
}

#[test]
fn a_block_is_found_after_its_marker_only() {
    let doc = "```rust\nfirst\n```\n<code>a.rs</code>\n\n```rust\nsecond\n```\n";
    let range = block_after(doc, "<code>a.rs</code>", "rust").unwrap();
    assert_eq!(&doc[range], "second\n");
    assert_eq!(block_after(doc, "<code>b.rs</code>", "rust"), None);
    assert_eq!(block_after(doc, "<code>a.rs</code>", "python"), None);
}
