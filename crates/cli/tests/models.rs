//! Configured models end to end, in real processes: `agentry dev` reads `[models.NAME]` from
//! its config file, a spawn names the model, the node calls the real local LLM (Qwen2.5-Coder
//! 0.5B on llama-server) with `tool_choice: required`, and the trace says which model answered
//! and what it cost. Bad model configuration stops `agentry dev` with one line naming the file
//! and the key; a spawn naming an unknown model is refused naming it.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use agentry_test_util::local_model_url;
use common::{DevProcess, stderr_lines};

/// Writes `text` as the config file `agentry.toml` in `dir` and returns its path.
fn config_file(dir: &Path, text: &str) -> String {
    let path = dir.join("agentry.toml");
    std::fs::write(&path, text).expect("writing the config file");
    path.display().to_string()
}

#[test]
fn a_configured_local_model_runs_one_required_tool_call_and_prices_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_file(
        dir.path(),
        &format!(
            "[models.local]\nbase-url = \"{}\"\nmodel = \"qwen2.5-coder-0.5b\"\ninput-price = 1.0\noutput-price = 2.0\n",
            local_model_url()
        ),
    );
    let mut dev = DevProcess::start_with_env(dir.path(), &[("AGENTRY_CONFIG", config.as_str())]);
    dev.wait_until_ready();

    let unknown = dev.client(&["spawn", "--model", "locl", "--input", "hi"]);
    let lines = stderr_lines(&unknown);
    assert_eq!(unknown.status.code(), Some(1), "{lines:?}");
    assert!(lines[0].starts_with("error: invalid argument"), "{lines:?}");
    assert!(lines[0].contains("unknown model \"locl\"; configured models: [local]"), "{lines:?}");

    let marker = format!("agentry-{}", std::process::id());
    let input = format!("Run the shell command: echo {marker}");
    let spawned = dev.client(&[
        "spawn",
        "--model",
        "local",
        "--tools",
        "bash",
        "--tool-choice",
        "required",
        "--max-iterations",
        "3",
        "--temperature",
        "0",
        "--input",
        &input,
        "--follow",
        "--jsonl",
    ]);
    let stdout = String::from_utf8_lossy(&spawned.stdout);
    let events: Vec<Value> = stdout.lines().skip(1).filter_map(|line| serde_json::from_str(line).ok()).collect();
    let of_type = |kind: &'static str| events.iter().filter(move |event| event["type"] == kind);

    let first_call = of_type("model_start").next().unwrap_or_else(|| panic!("no model_start in:\n{stdout}"));
    assert_eq!(first_call["data"]["model"], "local", "{first_call}");
    assert_eq!(first_call["data"]["provider_model"], "qwen2.5-coder-0.5b");
    assert_eq!(first_call["data"]["tool_choice"], "required");
    let tool_start = of_type("tool_start").next().unwrap_or_else(|| panic!("the model called no tool:\n{stdout}"));
    assert_eq!(tool_start["data"]["name"], "bash");
    let output =
        of_type("tool_end").next().expect("a tool result")["data"]["output"].as_str().unwrap_or_default().to_owned();
    assert!(output.contains(&marker), "bash output {output:?} lacks {marker}");
    let usage = &of_type("usage").next().expect("a usage event")["data"];
    let (input_tokens, output_tokens) =
        (usage["prompt_tokens"].as_f64().unwrap(), usage["completion_tokens"].as_f64().unwrap());
    assert!(input_tokens > 0.0, "{usage}");
    let expected_cost = (input_tokens * 1.0 + output_tokens * 2.0) / 1e6;
    assert!((usage["cost_usd"].as_f64().unwrap() - expected_cost).abs() < 1e-12, "{usage}");
    if let Some(second) = of_type("model_start").nth(1) {
        assert_eq!(second["data"]["tool_choice"], "auto", "required holds for the first call only");
    }
    dev.terminate();
}

/// Runs `agentry dev` with `config` and returns its exit code and stderr lines.
fn dev_with(dir: &Path, config: &str, env: &[(&str, &str)]) -> (Option<i32>, Vec<String>) {
    let output = Command::new(env!("CARGO_BIN_EXE_agentry"))
        .args(["dev", "--nodes", "0", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--config", config])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "off")
        .env_remove("AGENTRY_CONFIG")
        .envs(env.iter().copied())
        .output()
        .expect("running agentry dev");
    (output.status.code(), stderr_lines(&output))
}

#[test]
fn bad_model_configuration_stops_startup_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("[models.gpt]\nprize = 1.0\n", "models.gpt.prize: unknown field `prize`"),
        ("[models.gpt]\noutput-price = -2\n", "models.gpt.output-price: -2 is not a price"),
        (
            "[models.gpt]\napi-key-env = \"AGENTRY_TEST_UNSET_KEY\"\n",
            "models.gpt.api-key-env: the environment variable AGENTRY_TEST_UNSET_KEY is not set",
        ),
        ("[routes.auto]\nmodel = [\"gpt\"]\n", "routes.auto.model: spec.model: unknown model \"gpt\""),
    ];
    for (text, expected) in cases {
        let config = config_file(dir.path(), text);
        let (code, lines) = dev_with(dir.path(), &config, &[]);
        assert_eq!(code, Some(1), "{text}: {lines:?}");
        assert_eq!(lines.len(), 1, "{text}: {lines:?}");
        assert!(lines[0].contains(&format!("config file {config}: {expected}")), "{text}: {lines:?}");
    }
    let config = config_file(dir.path(), "[models.gpt]\napi-key-env = \"AGENTRY_TEST_SET_KEY\"\n[node]\nslots = 0\n");
    let (_, lines) = dev_with(dir.path(), &config, &[("AGENTRY_TEST_SET_KEY", "sk-1")]);
    assert!(lines[0].contains("node.slots"), "with the key set, the next error is another one: {lines:?}");
}
