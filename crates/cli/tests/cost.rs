//! `agentry cost` against `agentry dev` driven by a scripted model: the calls of a priced
//! configured model and of an unpriced `openai:` model are summed by model, tenant and root
//! agent, as JSON, CSV and a table.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use agentry_test_util::scripted_model::{Reply, ScriptedModel};

use common::{DevProcess, stderr_lines};

/// Tokens of one run of the script: the scripted model reports 10 + 5 × step prompt tokens
/// and 7 completion tokens per call, and the run makes two calls (a tool call, then the answer).
const CALLS: u64 = 2;
const INPUT_TOKENS: u64 = 10 + 15;
const OUTPUT_TOKENS: u64 = 7 + 7;
/// USD of one run on the priced model: $1 per million input tokens, $2 per million output.
const PRICED_COST: f64 = (INPUT_TOKENS as f64 * 1.0 + OUTPUT_TOKENS as f64 * 2.0) / 1e6;

/// Starts a scripted model server on its own runtime (kept alive by the returned value).
fn scripted_model(script: Vec<Reply>) -> (tokio::runtime::Runtime, ScriptedModel) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let model = runtime.block_on(ScriptedModel::start(script, Duration::ZERO)).expect("scripted model");
    (runtime, model)
}

/// Spawns an agent with `args`, follows its run to completion and returns the agent id.
fn spawn_and_finish(dev: &DevProcess, args: &[&str]) -> String {
    let mut command = vec!["spawn", "--tools", "echo", "--input", "hi", "--follow"];
    command.extend_from_slice(args);
    let spawned = dev.client(&command);
    assert_eq!(spawned.status.code(), Some(0), "{:?}", stderr_lines(&spawned));
    let stdout = String::from_utf8_lossy(&spawned.stdout).into_owned();
    stdout.lines().next().expect("the agent id").to_owned()
}

/// Runs `agentry cost` with `args` and returns its stdout.
fn cost(dev: &DevProcess, args: &[&str]) -> String {
    let mut command = vec!["cost"];
    command.extend_from_slice(args);
    let output = dev.client(&command);
    assert_eq!(output.status.code(), Some(0), "{:?}", stderr_lines(&output));
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Asserts a JSON row: its key, the script's calls and tokens, and `cost_usd`.
#[track_caller]
fn assert_row(row: &Value, key: &str, cost_usd: f64) {
    let expected = json!({
        "key": key, "calls": CALLS, "input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS,
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
    });
    let mut without_cost = row.clone();
    let cost = without_cost.as_object_mut().and_then(|row| row.remove("cost_usd")).and_then(|cost| cost.as_f64());
    assert_eq!(without_cost, expected, "{row}");
    assert!(cost.is_some_and(|cost| (cost - cost_usd).abs() < 1e-12), "cost_usd {cost:?}, expected {cost_usd}: {row}");
}

#[test]
fn cost_sums_model_calls_by_model_tenant_and_agent() {
    let (_runtime, model) = scripted_model(vec![Reply::tool("echo", json!({ "text": "ping" })), Reply::text("done")]);
    let data_dir = tempfile::tempdir().expect("temp dir");
    let config = data_dir.path().join("agentry.toml");
    let priced = format!(
        "[models.priced]\nbase-url = \"{}\"\nmodel = \"scripted\"\ninput-price = 1.0\noutput-price = 2.0\n",
        model.base_url()
    );
    std::fs::write(&config, priced).expect("writing the config file");
    let config = config.display().to_string();
    let mut dev = DevProcess::start_with_env(
        data_dir.path(),
        &[("OPENAI_BASE_URL", &model.base_url()), ("AGENTRY_CONFIG", &config)],
    );
    dev.wait_until_ready();

    // No calls yet: an empty report.
    assert_eq!(cost(&dev, &["--output", "json"]).trim(), "[]");
    let unpriced = spawn_and_finish(&dev, &["--model", "openai:scripted"]);
    let acme = spawn_and_finish(&dev, &["--model", "priced", "--label", "tenant=acme"]);

    let by_model: Value = serde_json::from_str(&cost(&dev, &["--by", "model", "--output", "json"])).expect("JSON");
    let rows = by_model.as_array().expect("a JSON array");
    assert_eq!(rows.len(), 2, "{by_model}");
    assert_row(&rows[0], "priced", PRICED_COST);
    assert_row(&rows[1], "openai:scripted", 0.0);

    let csv = cost(&dev, &["--by", "model", "--output", "csv", "--since", "1h"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "key,calls,input_tokens,output_tokens,total_tokens,cost_usd", "{csv}");
    assert_eq!(lines[1], format!("priced,2,25,14,39,{PRICED_COST}"), "{csv}");
    assert_eq!(lines[2], "openai:scripted,2,25,14,39,0", "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");

    // Tenants are the agents' own (issue 16), not a label: without authentication every agent
    // is the `default` tenant's, whatever its labels say.
    let by_tenant: Value = serde_json::from_str(&cost(&dev, &["--by", "tenant", "-o", "json"])).expect("JSON");
    let rows = by_tenant.as_array().expect("a JSON array");
    assert_eq!(rows.len(), 1, "{by_tenant}");
    assert_eq!((&rows[0]["key"], &rows[0]["calls"]), (&json!("default"), &json!(CALLS * 2)), "{by_tenant}");
    let cost_usd = rows[0]["cost_usd"].as_f64().unwrap_or_default();
    assert!((cost_usd - PRICED_COST).abs() < 1e-12, "{by_tenant}");

    let table = cost(&dev, &["--since", "7d"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("AGENT ") && lines[0].ends_with("COST (USD)"), "{table}");
    assert!(lines[1].starts_with(&format!("{acme}   2 ")) && lines[1].ends_with("0.000053"), "{table}");
    assert!(lines[2].starts_with(&format!("{unpriced}   2 ")) && lines[2].ends_with("0.000000"), "{table}");
    assert!(lines[3].starts_with("total ") && lines[3].contains(" 4 ") && lines[3].ends_with("0.000053"), "{table}");

    // Daily buckets: the same sums per model, each in today's bucket (UTC midnight) unless
    // the calls straddled midnight; hourly ones over all time are refused (too many buckets).
    let daily: Value =
        serde_json::from_str(&cost(&dev, &["--by", "model", "--bucket", "1d", "-o", "json"])).expect("JSON");
    let rows = daily.as_array().expect("a JSON array");
    let keys: std::collections::BTreeSet<&str> = rows.iter().filter_map(|row| row["key"].as_str()).collect();
    assert_eq!(keys, ["openai:scripted", "priced"].into(), "{daily}");
    let calls: u64 = rows.iter().filter_map(|row| row["calls"].as_u64()).sum();
    assert_eq!(calls, 2 * CALLS, "{daily}");
    assert!(rows.iter().all(|row| row["bucket"].as_str().is_some_and(|start| start.ends_with("T00:00:00.000Z"))));
    let table = cost(&dev, &["--by", "model", "--since", "1d", "--bucket", "1h"]);
    assert!(table.lines().next().is_some_and(|header| header.starts_with("MODEL ") && header.contains(" BUCKET ")));
    let refused = dev.client(&["cost", "--bucket", "1h"]);
    let lines = stderr_lines(&refused);
    assert_eq!(refused.status.code(), Some(1), "{lines:?}");
    assert!(lines.iter().any(|line| line.contains("choose a larger bucket or a shorter window")), "{lines:?}");

    // Calls older than the window do not count: every call was made before the client
    // processes above ran, each of which took well over a millisecond to start and answer.
    assert_eq!(cost(&dev, &["--since", "1ms", "-o", "json"]).trim(), "[]");
    let refused = dev.client(&["cost", "--since", "soon"]);
    let lines = stderr_lines(&refused);
    assert_eq!(refused.status.code(), Some(1), "{lines:?}");
    assert!(lines[0].starts_with("error: invalid value 'soon' for '--since <DURATION>'"), "{lines:?}");

    dev.terminate();
}
