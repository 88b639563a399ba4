use super::*;
use crate::tools::fs::testing::Fixture;
use crate::tools::{FsScope, InterruptPolicy};

async fn patch(fixture: &Fixture, text: &str) -> Result<String, ToolError> {
    Patch.call(&fixture.context(&Patch), json!({"patch": text})).await
}

#[tokio::test]
async fn applies_a_multi_file_git_diff() {
    let fixture = Fixture::new();
    std::fs::write(fixture.path("old.txt"), "gone\n").unwrap();
    let diff = "\
diff --git a/inside.txt b/inside.txt
index 1111111..2222222 100644
--- a/inside.txt
+++ b/inside.txt
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
diff --git a/new/dir/file.txt b/new/dir/file.txt
new file mode 100644
--- /dev/null
+++ b/new/dir/file.txt
@@ -0,0 +1,2 @@
+fresh
+lines
diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-gone
";
    assert_eq!(patch(&fixture, diff).await.unwrap(), "M inside.txt\nA new/dir/file.txt\nD old.txt");
    assert_eq!(fixture.read("inside.txt"), "one\nTWO\nthree\n");
    assert_eq!(fixture.read("new/dir/file.txt"), "fresh\nlines\n");
    assert!(!fixture.path("old.txt").exists());
}

#[tokio::test]
async fn applies_plain_diffs_at_shifted_lines() {
    let fixture = Fixture::new();
    std::fs::write(fixture.path("f.txt"), "header\nextra\na\nb\nc\n").unwrap();
    let diff = "--- f.txt\t2024-01-01 00:00:00\n+++ f.txt\t2024-01-02 00:00:00\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n";
    assert_eq!(patch(&fixture, diff).await.unwrap(), "M f.txt");
    assert_eq!(fixture.read("f.txt"), "header\nextra\na\nB\nc\n");
    std::fs::write(fixture.path("crlf.txt"), "a\r\nb\r\n").unwrap();
    let diff = "--- a/crlf.txt\n+++ b/crlf.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n";
    assert_eq!(patch(&fixture, diff).await.unwrap(), "M crlf.txt");
    assert_eq!(fixture.read("crlf.txt"), "a\r\nc\r\n");
}

#[tokio::test]
async fn writes_nothing_unless_every_hunk_applies() {
    let fixture = Fixture::new();
    std::fs::write(fixture.path("second.txt"), "x\ny\n").unwrap();
    let diff = "\
--- a/inside.txt
+++ b/inside.txt
@@ -1 +1 @@
-one
+ONE
--- /dev/null
+++ b/created.txt
@@ -0,0 +1 @@
+new
--- a/second.txt
+++ b/second.txt
@@ -1,2 +1,2 @@
 x
-not there
+z
";
    let error = patch(&fixture, diff).await.unwrap_err();
    let ToolError::Failed(message) = error else { panic!("expected a failure, got {error:?}") };
    assert!(message.starts_with("patch: second.txt: error applying hunk #1"), "{message}");
    assert_eq!(fixture.read("inside.txt"), "one\ntwo\nthree\n");
    assert_eq!(fixture.read("second.txt"), "x\ny\n");
    assert!(!fixture.path("created.txt").exists());
}

#[tokio::test]
async fn restores_written_files_when_a_later_write_fails() {
    let fixture = Fixture::new();
    // Both apply in memory; writing `d` first makes `d/x` impossible.
    let diff = "\
--- a/inside.txt
+++ b/inside.txt
@@ -1 +1 @@
-one
+ONE
--- /dev/null
+++ b/d
@@ -0,0 +1 @@
+file
--- /dev/null
+++ b/d/x
@@ -0,0 +1 @@
+nested
";
    let error = patch(&fixture, diff).await.unwrap_err();
    let expected = "patch: d/x: d is not a directory; files already changed were restored";
    assert_eq!(error, ToolError::Failed(expected.to_owned()));
    assert!(!fixture.path("d").exists());
    assert_eq!(fixture.read("inside.txt"), "one\ntwo\nthree\n");
}

#[tokio::test]
async fn refuses_creating_existing_and_partially_deleting_files() {
    let fixture = Fixture::new();
    let create = "--- /dev/null\n+++ b/inside.txt\n@@ -0,0 +1 @@\n+x\n";
    let error = patch(&fixture, create).await.unwrap_err();
    assert_eq!(error, ToolError::Failed("patch: cannot create inside.txt: it exists".to_owned()));
    let delete = "--- a/inside.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-one\n";
    let error = patch(&fixture, delete).await.unwrap_err();
    assert!(matches!(&error, ToolError::Failed(text) if text.contains("do not remove all of it")), "{error}");
    let missing = "--- a/nope.txt\n+++ b/nope.txt\n@@ -1 +1 @@\n-a\n+b\n";
    let error = patch(&fixture, missing).await.unwrap_err();
    assert_eq!(error, ToolError::Failed("patch: cannot patch nope.txt: no such file".to_owned()));
    assert_eq!(fixture.read("inside.txt"), "one\ntwo\nthree\n");
}

#[tokio::test]
async fn renames_and_patches_through_inside_links() {
    let fixture = Fixture::new();
    let rename = "\
diff --git a/sub/nested.txt b/moved.txt
similarity index 50%
rename from sub/nested.txt
rename to moved.txt
--- a/sub/nested.txt
+++ b/moved.txt
@@ -1 +1 @@
-nested
+moved
";
    assert_eq!(patch(&fixture, rename).await.unwrap(), "A moved.txt\nD sub/nested.txt");
    assert_eq!(fixture.read("moved.txt"), "moved\n");
    assert!(!fixture.path("sub/nested.txt").exists());
    let through_link = "--- a/link_in\n+++ b/link_in\n@@ -3 +3 @@\n-three\n+3\n";
    assert_eq!(patch(&fixture, through_link).await.unwrap(), "M link_in");
    assert_eq!(fixture.read("inside.txt"), "one\ntwo\n3\n");
}

#[tokio::test]
async fn refuses_paths_outside_the_workspace() {
    let fixture = Fixture::new();
    let create = |path: &str| json!({"patch": format!("--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+pwned\n")});
    fixture.assert_confined(&Patch, create).await;
    let modify = |path: &str| json!({"patch": format!("--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-secret\n+pwned\n")});
    fixture.assert_confined(&Patch, modify).await;
    let delete = |path: &str| json!({"patch": format!("--- a/{path}\n+++ /dev/null\n@@ -1 +0,0 @@\n-secret\n")});
    fixture.assert_confined(&Patch, delete).await;
    let error = patch(&fixture, "--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n").await.unwrap_err();
    assert_eq!(error, ToolError::InvalidArguments("patch: \"../x\" escapes the workspace".to_owned()));
}

#[tokio::test]
async fn refuses_unparsable_and_oversized_patches() {
    let fixture = Fixture::new();
    for text in ["just some words\n", "--- a/x\n+++ b/x\n@@ -1 +1 @@\n"] {
        let error = patch(&fixture, text).await.unwrap_err();
        assert!(matches!(error, ToolError::InvalidArguments(_)), "{text:?}: {error}");
    }
    let huge = format!("--- /dev/null\n+++ b/big\n@@ -0,0 +1 @@\n+{}\n", "x".repeat(MAX_WRITE_BYTES));
    assert!(matches!(patch(&fixture, &huge).await, Err(ToolError::InvalidArguments(_))));
    assert!(!fixture.path("big").exists());
}

#[test]
fn patch_asks_when_interrupted() {
    let manifest = Patch.manifest();
    assert!(!manifest.idempotent);
    assert_eq!(manifest.filesystem, FsScope::WorkspaceWrite);
    assert_eq!(manifest.on_interrupt, InterruptPolicy::Ask);
    assert_eq!(Patch.spec().parameters["required"], json!(["patch"]));
}
