//! Role templates through an in-process hub (SQLite in memory, no node): `ListTemplates`
//! answers with the built-in library; a `Spawn` naming a template stores the rendered spec with
//! its team (role specs, `max_parallel`, the depth limit) and the `agentry.template` label; a
//! placeholder without a value is INVALID_ARGUMENT naming the variable and the template; an
//! invalid template in `templates-dir` stops the hub's start, naming the file and the tool.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;

use common::TestHub;

use agent_hub::{HubConfig, HubServer};
use agentry_broker::Broker;
use agentry_core::templates::TemplateDef;
use agentry_core::{AgentId, AgentSpec, BUILTIN_TOOL_NAMES};
use agentry_proto::v1 as pb;
use agentry_store::{SqliteStore, Store};

const MODEL: &str = "openai:gpt-test";

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
}

fn spawn_request(template: &str, model: &str, vars: HashMap<String, String>) -> pb::SpawnRequest {
    pb::SpawnRequest {
        spec: Some(pb::AgentSpec { model: model.to_owned(), ..Default::default() }),
        input: Some("build it".to_owned()),
        template: template.to_owned(),
        vars,
        ..Default::default()
    }
}

impl TestHub {
    /// Spawns `request` and returns the stored agent's spec and labels.
    async fn spawn_stored(&self, request: pb::SpawnRequest) -> (AgentSpec, BTreeMap<String, String>) {
        let spawned = self.client.clone().spawn(request).await.expect("spawned").into_inner();
        let agent_id: AgentId = spawned.agent_id.parse().expect("an agent id");
        assert!(!spawned.run_id.is_empty(), "the input started a run");
        let stored = self.store.get_agent(agent_id).await.expect("the stored agent").agent;
        (stored.spec, stored.labels)
    }

    async fn spawn_error(&self, request: pb::SpawnRequest) -> tonic::Status {
        self.client.clone().spawn(request).await.expect_err("a refused spawn")
    }
}

/// Config tables of a hub for the depth and missing-variable cases.
fn tables() -> BTreeMap<String, TemplateDef> {
    let def = |prompt: &str, team: &[&str], defaults: &[(&str, &str)]| TemplateDef {
        prompt: Some(prompt.to_owned()),
        tools: vec!["view".to_owned()],
        team: team.iter().map(|member| (*member).to_owned()).collect(),
        vars: defaults.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
        ..TemplateDef::default()
    };
    BTreeMap::from([
        ("looper".to_owned(), def("Loop on {{topic}}", &["looper"], &[("topic", "anything")])),
        ("translator".to_owned(), def("Translate into {{target}}", &[], &[])),
        ("desk".to_owned(), def("Run the desk", &["translator"], &[])),
    ])
}

#[tokio::test]
async fn list_templates_answers_with_the_builtin_library() {
    let hub = TestHub::start().await;
    let listed = hub.client.clone().list_templates(pb::ListTemplatesRequest {}).await.expect("listed").into_inner();
    let names: Vec<&str> = listed.templates.iter().map(|template| template.name.as_str()).collect();
    assert_eq!(names, ["agent_0", "coder", "researcher", "reviewer", "tester"]);
    let agent_0 = &listed.templates[0];
    assert_eq!(agent_0.team, ["coder", "reviewer", "tester", "researcher"]);
    assert_eq!((agent_0.source.as_str(), agent_0.model.as_str()), ("builtin", ""));
    assert_eq!(agent_0.yaml, include_str!("../../../templates/roles/agent_0.yaml"));
    assert!(agent_0.system.contains("{{project}}"), "the prompt is listed unrendered");
    assert_eq!(agent_0.vars.get("style").map(String::as_str), Some("clear and concise"));
    for template in &listed.templates {
        assert!(template.tools.iter().all(|tool| BUILTIN_TOOL_NAMES.contains(&tool.as_str())), "{}", template.name);
        assert!(!template.description.is_empty() && template.max_iterations > 0, "{}", template.name);
    }
    hub.stop().await;
}

#[tokio::test]
async fn a_spawn_from_agent_0_stores_the_rendered_spec_with_its_team() {
    let hub = TestHub::start().await;
    let mut request = spawn_request("agent_0", MODEL, vars(&[("project", "agentry"), ("language", "Rust")]));
    request.labels = HashMap::from([("tenant".to_owned(), "acme".to_owned())]);
    let (spec, labels) = hub.spawn_stored(request).await;
    assert_eq!(spec.model, MODEL);
    assert!(
        spec.system.starts_with("You are Agent 0, the lead of a small team working on agentry."),
        "{}",
        spec.system
    );
    assert!(
        spec.system.contains("- coder: writes and changes Rust code")
            && spec.system.contains("Style: clear and concise.")
    );
    assert!(!spec.system.contains("{{"), "every placeholder is rendered: {}", spec.system);
    assert_eq!(spec.tools, ["view", "ls", "grep", "find"]);
    assert_eq!(spec.max_iterations, 24);
    let expected_labels = [("agentry.template", "agent_0"), ("tenant", "acme")];
    assert_eq!(labels, expected_labels.map(|(key, value)| (key.to_owned(), value.to_owned())).into());
    let team = spec.team.expect("agent_0 has a team");
    assert_eq!(team.max_parallel, 8, "the default max-parallel-agents");
    assert_eq!(team.roles.keys().collect::<Vec<_>>(), ["coder", "researcher", "reviewer", "tester"]);
    let coder = &team.roles["coder"];
    assert_eq!(coder.description, "Writes and changes code, then shows the resulting code or diff");
    assert_eq!(coder.spec.model, MODEL, "a member without a model inherits the spawner's");
    assert!(coder.spec.system.starts_with("You are an experienced Rust engineer working on agentry."));
    assert_eq!(coder.spec.max_iterations, 30);
    assert!(coder.spec.tools.contains(&"bash".to_owned()) && coder.spec.team.is_none());
    let researcher = &team.roles["researcher"];
    assert!(researcher.spec.system.contains("Answer in a short summary with bullet points"));
    assert_eq!(researcher.spec.tools, ["fetch", "view", "ls", "find", "grep", "read_lines"]);
    hub.stop().await;
}

#[tokio::test]
async fn set_spec_fields_override_the_template() {
    let hub = TestHub::start().await;
    let mut request = spawn_request("coder", MODEL, HashMap::new());
    let spec = request.spec.as_mut().expect("a spec");
    spec.tools = vec!["view".to_owned()];
    spec.max_iterations = 5;
    spec.temperature = Some(0.5);
    let (spec, labels) = hub.spawn_stored(request).await;
    assert_eq!((spec.tools, spec.max_iterations, spec.temperature), (vec!["view".to_owned()], 5, Some(0.5)));
    assert!(spec.system.starts_with("You are an experienced software engineer"), "defaults fill the placeholders");
    assert_eq!(labels["agentry.template"], "coder");
    hub.stop().await;
}

#[tokio::test]
async fn teams_expand_down_to_the_configured_depth_with_its_fan_out() {
    let config =
        HubConfig { max_delegation_depth: 2, max_parallel_agents: 3, ..HubConfig::for_test("sqlite::memory:") };
    let hub = TestHub::start_with(config, |server| server.with_templates(tables())).await;
    let (spec, _) = hub.spawn_stored(spawn_request("looper", MODEL, vars(&[("topic", "rust")]))).await;
    assert_eq!(spec.system, "Loop on rust");
    let level_one = spec.team.expect("level 1");
    assert_eq!(level_one.max_parallel, 3);
    let member = &level_one.roles["looper"].spec;
    assert_eq!((member.system.as_str(), member.model.as_str()), ("Loop on rust", MODEL), "vars reach the team");
    assert_eq!(member.max_iterations, 16, "a role spec gets the hub's defaults");
    let level_two = member.team.as_ref().expect("level 2");
    assert_eq!(level_two.max_parallel, 3);
    assert_eq!(level_two.roles["looper"].spec.team, None, "the deepest level cannot delegate");
    hub.stop().await;
}

#[tokio::test]
async fn a_missing_variable_is_refused_at_spawn_naming_it() {
    let hub =
        TestHub::start_with(HubConfig::for_test("sqlite::memory:"), |server| server.with_templates(tables())).await;
    let direct = hub.spawn_error(spawn_request("translator", MODEL, HashMap::new())).await;
    assert_eq!(direct.code(), Code::InvalidArgument);
    assert_eq!(
        direct.message(),
        "template translator: variable {{target}} has no value (pass vars.target / --var target=...)"
    );
    let member = hub.spawn_error(spawn_request("desk", MODEL, HashMap::new())).await;
    assert_eq!(
        member.message(),
        "template translator: variable {{target}} has no value (pass vars.target / --var target=...)",
        "a team member's placeholder is checked too"
    );
    let (spec, _) = hub.spawn_stored(spawn_request("desk", MODEL, vars(&[("target", "French")]))).await;
    assert_eq!(spec.team.expect("a team").roles["translator"].spec.system, "Translate into French");
    hub.stop().await;
}

#[tokio::test]
async fn bad_template_spawns_are_invalid_arguments_naming_the_value() {
    let hub = TestHub::start().await;
    let cases = [
        (
            spawn_request("planner", MODEL, HashMap::new()),
            "unknown template \"planner\"; known templates are agent_0, coder, researcher, reviewer, tester",
        ),
        (
            spawn_request("coder", MODEL, vars(&[("langauge", "Go")])),
            "template coder: no template of it or its team has a variable \"langauge\"; its variables are language, project, style",
        ),
        (
            spawn_request("coder", "", HashMap::new()),
            "template coder: it names no model; pass spec.model (agentry spawn --model MODEL)",
        ),
        (
            spawn_request("", MODEL, vars(&[("a", "b")])),
            "vars are given without a template; name one in template (agentry spawn --template NAME)",
        ),
    ];
    for (request, message) in cases {
        let status = hub.spawn_error(request).await;
        assert_eq!((status.code(), status.message()), (Code::InvalidArgument, message));
    }
    hub.stop().await;
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

#[tokio::test]
async fn an_unknown_tool_in_templates_dir_stops_the_start_naming_file_and_tool() {
    let dir = TempDir(std::env::temp_dir().join(format!("agentry-templates-{}", uuid::Uuid::now_v7())));
    std::fs::create_dir_all(&dir.0).expect("a temporary directory");
    let file = dir.0.join("coder.yaml");
    std::fs::write(&file, "name: coder\nprompt: Code\ntools: [view, rm_rf]\n").expect("writing the template");
    let config = HubConfig { templates_dir: Some(dir.0.clone()), ..HubConfig::for_test("sqlite::memory:") };
    let store = SqliteStore::connect("sqlite::memory:").await.expect("a store");
    let server = HubServer::new(config).with_store(std::sync::Arc::new(store)).with_broker(Broker::in_process());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let error = server.serve(listener, CancellationToken::new()).await.expect_err("the start fails");
    assert_eq!(
        error.to_string(),
        format!(
            "invalid role templates: file {}: template coder: unknown tool \"rm_rf\"; known tools are {}",
            file.display(),
            BUILTIN_TOOL_NAMES.join(", ")
        )
    );
}
