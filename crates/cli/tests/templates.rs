//! Role templates through the `agentry` binary: `[templates.NAME]` tables of the config file
//! reach `agentry dev`'s hub, `templates list|show` print them beside the built-in library,
//! `spawn --template --var` renders the prompt the model receives (a scripted model records
//! it), a missing variable is refused naming it, and `hub serve` does not start with an invalid
//! template in `templates-dir`.

mod common;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use agentry_test_util::scripted_model::{Reply, ScriptedModel};

use common::{DevProcess, stderr_lines};

const CONFIG: &str = r#"
[templates.critic]
description = "Finds faults"
prompt = "Criticise {{thing}} in a {{ tone }} tone"
tools = ["view"]
max-iterations = 4
vars = { tone = "kind" }
"#;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn config_templates_are_listed_shown_and_spawned_with_their_vars() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let model = runtime.block_on(ScriptedModel::start(vec![Reply::text("it is fine")], Duration::ZERO)).expect("model");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let config = data_dir.path().join("agentry.toml");
    std::fs::write(&config, CONFIG).expect("writing the config");
    let config = config.to_str().expect("a UTF-8 path");
    let mut dev = DevProcess::start_with_env(
        data_dir.path(),
        &[("OPENAI_BASE_URL", &model.base_url()), ("AGENTRY_CONFIG", config)],
    );
    dev.wait_until_ready();

    let listed = dev.client(&["templates", "list"]);
    assert_eq!(listed.status.code(), Some(0), "{:?}", stderr_lines(&listed));
    let table = stdout(&listed);
    let rows: Vec<Vec<&str>> = table.lines().map(|line| line.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["NAME", "DESCRIPTION", "MODEL", "TOOLS", "TEAM", "SOURCE"], "{table}");
    let names: Vec<&str> = rows[1..].iter().map(|row| row[0]).collect();
    assert_eq!(names, ["agent_0", "coder", "critic", "researcher", "reviewer", "tester"], "{table}");
    let critic = table.lines().find(|line| line.starts_with("critic")).expect("the critic row");
    assert!(critic.contains("Finds faults") && critic.ends_with("config"), "{critic}");
    assert!(table.lines().nth(1).is_some_and(|line| line.contains("coder,reviewer,tester,researcher")), "{table}");

    let json = dev.client(&["templates", "list", "-o", "json"]);
    let templates: Vec<Value> = serde_json::from_slice(&json.stdout).expect("a JSON array");
    assert_eq!(templates.len(), 6);
    assert_eq!(templates[0]["source"], "builtin");

    let shown = dev.client(&["templates", "show", "critic"]);
    assert_eq!(shown.status.code(), Some(0), "{:?}", stderr_lines(&shown));
    let yaml = stdout(&shown);
    assert!(yaml.contains("prompt: Criticise {{thing}} in a {{ tone }} tone\n"), "{yaml}");
    assert!(yaml.contains("max_iterations: 4\n") && yaml.contains("tone: kind"), "{yaml}");
    let builtin = dev.client(&["templates", "show", "agent_0"]);
    assert_eq!(stdout(&builtin).trim_end(), include_str!("../../../templates/roles/agent_0.yaml").trim_end());
    let unknown = dev.client(&["templates", "show", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr_lines(&unknown)[0].starts_with("error: no template named \"nope\"; the hub knows agent_0"));

    let missing = dev.client(&["spawn", "--template", "critic", "--model", "openai:scripted", "--input", "go"]);
    let lines = stderr_lines(&missing);
    assert_eq!((missing.status.code(), lines.len()), (Some(1), 1), "{lines:?}");
    assert!(
        lines[0].ends_with("template critic: variable {{thing}} has no value (pass vars.thing / --var thing=...)"),
        "{lines:?}"
    );
    let no_model = dev.client(&["spawn", "--template", "critic", "--var", "thing=x", "--input", "go"]);
    assert!(
        stderr_lines(&no_model)[0]
            .ends_with("template critic: it names no model; pass spec.model (agentry spawn --model MODEL)")
    );

    let args = ["spawn", "--template", "critic", "--model", "openai:scripted", "--var", "thing=the plan"];
    let spawned = dev.client(&[&args[..], &["--input", "review it", "--follow"]].concat());
    assert_eq!(spawned.status.code(), Some(0), "{:?}", stderr_lines(&spawned));
    let agent_id = stdout(&spawned).lines().next().expect("the agent id").to_owned();
    let request = model.requests().into_iter().next().expect("the model was called");
    let messages = request.body["messages"].as_array().expect("messages");
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[0]["content"], "Criticise the plan in a kind tone");
    let agents: Vec<Value> = serde_json::from_slice(&dev.client(&["ps", "-o", "json"]).stdout).expect("ps JSON");
    let agent = agents.iter().find(|agent| agent["agent_id"] == agent_id.as_str()).expect("the agent is listed");
    assert_eq!(agent["labels"]["agentry.template"], "critic");
    assert_eq!(agent["tools"], serde_json::json!(["view"]));
    dev.terminate();
}

#[test]
fn an_unknown_tool_in_templates_dir_stops_hub_serve_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("coder.yaml");
    std::fs::write(&file, "name: coder\nprompt: Code\ntools: [view, rm_rf]\n").expect("writing the template");
    let database = format!("sqlite:{}", dir.path().join("hub.db").display());
    let mut command = Command::new(env!("CARGO_BIN_EXE_agentry"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("AGENTRY_")) {
        command.env_remove(name);
    }
    let output = command
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off", "--database-url", &database])
        .env("AGENTRY_TEMPLATES_DIR", dir.path())
        .env_remove("RUST_LOG")
        .output()
        .expect("running agentry");
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    // The server logs its start at info level; the failure is one `error:` line, the last.
    let errors: Vec<&String> = lines.iter().filter(|line| line.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{lines:?}");
    assert_eq!(lines.last(), errors.first().copied(), "{lines:?}");
    let expected = format!(
        "invalid role templates: file {}: template coder: unknown tool \"rm_rf\"; known tools are echo, bash",
        file.display()
    );
    assert!(errors[0].starts_with(&format!("error: hub: {expected}")), "{lines:?}");
}
