use std::collections::BTreeMap;

use super::*;
use crate::agent::AgentSpec;

const CODER: &str = r#"
name: coder
description: Writes code
prompt: |
  You write {{ language }} for {{project}} in a {{style}} style.
tools: [view, write, bash]
max_iterations: 30
temperature: 0.2
vars:
  project: this repository
  style: plain
"#;

fn template(yaml: &str) -> RoleTemplate {
    RoleTemplate::parse_yaml(yaml, "file-stem").expect("a valid template")
}

fn error(yaml: &str) -> String {
    RoleTemplate::parse_yaml(yaml, "file-stem").expect_err("a refused template").to_string()
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
}

fn no_overrides() -> AgentSpec {
    AgentSpec {
        model: String::new(),
        tools: Vec::new(),
        system: String::new(),
        max_iterations: 0,
        node_selector: BTreeMap::new(),
        temperature: None,
        tool_choice: None,
        mcp_servers: BTreeMap::new(),
        team: None,
    }
}

fn library(yamls: &[&str]) -> BTreeMap<String, RoleTemplate> {
    yamls.iter().map(|yaml| template(yaml)).map(|template| (template.name.clone(), template)).collect()
}

const LIMITS: TeamLimits = TeamLimits { max_depth: 3, max_parallel: 8 };

#[test]
fn a_template_parses_with_every_key() {
    let coder = template(CODER);
    assert_eq!(coder.name, "coder");
    assert_eq!(coder.description, "Writes code");
    assert_eq!(coder.model, "");
    assert_eq!(coder.system, "You write {{ language }} for {{project}} in a {{style}} style.\n");
    assert_eq!(coder.tools, ["view", "write", "bash"]);
    assert_eq!(coder.max_iterations, 30);
    assert_eq!(coder.temperature, Some(0.2));
    assert_eq!(coder.vars, vars(&[("project", "this repository"), ("style", "plain")]));
    assert_eq!(coder.placeholders(), ["language", "project", "style"]);
    let aliased = template("system: hello\nvars: {n: 3}\n");
    assert_eq!(aliased.name, "file-stem", "the file stem names a template without name");
    assert_eq!(aliased.system, "hello");
    assert_eq!(aliased.vars["n"], "3", "a number is taken as its text");
}

#[test]
fn the_yaml_of_a_template_parses_back_to_it() {
    let coder = template(CODER);
    let yaml = coder.to_yaml();
    assert!(yaml.contains("prompt:"), "{yaml}");
    assert_eq!(RoleTemplate::parse_yaml(&yaml, "other").unwrap(), coder);
}

#[test]
fn placeholders_render_given_values_over_defaults() {
    let coder = template(CODER);
    let rendered = coder.render(&vars(&[("language", "Go"), ("style", "terse")])).unwrap();
    assert_eq!(rendered, "You write Go for this repository in a terse style.\n");
    let plain = render("t", "no placeholders, {single} braces", |_| None).unwrap();
    assert_eq!(plain, "no placeholders, {single} braces");
}

#[test]
fn a_missing_variable_is_named_with_its_template() {
    let missing = template(CODER).render(&BTreeMap::new()).unwrap_err();
    assert_eq!(missing, TemplateError::MissingVariable { template: "coder".into(), variable: "language".into() });
    assert_eq!(
        missing.to_string(),
        "template coder: variable {{language}} has no value (pass vars.language / --var language=...)"
    );
}

#[test]
fn an_unknown_tool_is_named() {
    assert_eq!(
        error("name: coder\ntools: [view, rm_rf]\n"),
        format!("template coder: unknown tool \"rm_rf\"; known tools are {}", crate::BUILTIN_TOOL_NAMES.join(", "))
    );
    let delegation = error("name: boss\ntools: [agent]\n");
    assert!(delegation.starts_with("template boss: tool \"agent\" is not a builtin tool; list the"), "{delegation}");
    assert!(delegation.contains("under team"), "{delegation}");
    assert_eq!(error("name: c\ntools: [ls, ls]\n"), "template c: tool \"ls\" is listed twice");
}

#[test]
fn an_unknown_field_is_named() {
    let unknown = error("name: coder\npromt: hi\n");
    assert!(unknown.starts_with("template file-stem: bad YAML: unknown field `promt`"), "{unknown}");
    assert!(unknown.contains("line 2"), "the line is given: {unknown}");
    let not_yaml = error("name: [unclosed\n");
    assert!(not_yaml.starts_with("template file-stem: bad YAML:"), "{not_yaml}");
}

#[test]
fn prompt_and_system_together_are_refused() {
    assert_eq!(
        error("name: c\nprompt: a\nsystem: b\n"),
        "template c: both prompt and system are set; give one (system is an alias of prompt)"
    );
}

#[test]
fn malformed_placeholders_names_and_values_are_refused() {
    assert_eq!(error("name: c\nprompt: 'a {{ b'\n"), "template c: prompt: {{ at byte 2 is not closed with }}");
    assert_eq!(
        error("name: c\nprompt: 'a {{two words}}'\n"),
        "template c: prompt: placeholder {{two words}} at byte 2 is not a variable name (1-64 characters of A-Z \
         a-z 0-9 _ - .)"
    );
    assert_eq!(error("name: Coder\n"), "template Coder: name \"Coder\" must be 1-64 characters of a-z 0-9 _ -");
    assert_eq!(error("name: c\ntemperature: 3\n"), "template c: temperature is 3; it must be between 0 and 2");
    assert_eq!(error("name: c\nmax_iterations: 5000\n"), "template c: max_iterations is 5000; the limit is 1000");
    assert!(error("name: c\nmodel: 'gpt 4'\n").starts_with("template c: model"));
    assert_eq!(error("name: c\nteam: [a, a]\n"), "template c: team member \"a\" is listed twice");
    assert_eq!(
        error("name: c\ntools: [ls]\ntool_choice: bash\n"),
        "template c: tool_choice \"bash\" is neither auto, none nor required, and not one of its tools"
    );
    assert_eq!(
        error("name: c\ntool_choice: required\n"),
        "template c: tool_choice is required but it has no tools and no team"
    );
    assert_eq!(
        error("name: c\ntools: [ls]\ntool_choice: parallel_agents\n"),
        "template c: tool_choice \"parallel_agents\" is neither auto, none nor required, and not one of its tools",
        "a delegation tool needs a team"
    );
    assert!(error("name: c\nvars: {'a b': x}\n").starts_with("template c: vars: \"a b\" is not a variable name"));
}

#[test]
fn unknown_team_members_are_named() {
    let templates = library(&[CODER, "name: boss\nteam: [coder, planner]\n"]);
    let error = check_team_members(&templates["boss"], &templates).unwrap_err();
    assert_eq!(
        error.to_string(),
        "template boss: team member \"planner\" is not a known template; known templates are boss, coder"
    );
    assert_eq!(check_team_members(&templates["coder"], &templates), Ok(()));
}

#[test]
fn a_team_expands_with_member_specs_inherited_models_and_shared_vars() {
    let templates = library(&[
        CODER,
        "name: reviewer\ndescription: Reviews\nmodel: openai:small\nprompt: Review {{project}}\ntools: [view]\n",
        "name: boss\nprompt: Lead {{project}}\nteam: [coder, reviewer]\nvars: {project: p}\n",
    ]);
    let overrides = AgentSpec { model: "openai:big".into(), ..no_overrides() };
    let given = vars(&[("language", "Rust"), ("project", "agentry")]);
    let spec = expand(&templates, "boss", &given, &overrides, LIMITS).unwrap();
    assert_eq!(spec.model, "openai:big");
    assert_eq!(spec.system, "Lead agentry");
    let team = spec.team.expect("boss has a team");
    assert_eq!(team.max_parallel, 8);
    assert_eq!(team.roles.keys().collect::<Vec<_>>(), ["coder", "reviewer"]);
    let coder = &team.roles["coder"];
    assert_eq!(coder.description, "Writes code");
    assert_eq!(coder.spec.model, "openai:big", "an empty model inherits the parent's");
    assert_eq!(coder.spec.system, "You write Rust for agentry in a plain style.\n");
    assert_eq!(coder.spec.tools, ["view", "write", "bash"]);
    assert_eq!((coder.spec.max_iterations, coder.spec.temperature), (30, Some(0.2)));
    assert_eq!(coder.spec.team, None);
    assert_eq!(team.roles["reviewer"].spec.model, "openai:small", "a member's own model is kept");
}

#[test]
fn set_fields_of_the_request_override_the_template() {
    let templates = library(&[CODER]);
    let overrides = AgentSpec {
        model: "openai:m".into(),
        tools: vec!["ls".into()],
        system: "Given {{verbatim}}".into(),
        max_iterations: 3,
        temperature: Some(1.0),
        tool_choice: Some("ls".into()),
        node_selector: BTreeMap::from([("gpu".into(), "yes".into())]),
        ..no_overrides()
    };
    let spec = expand(&templates, "coder", &BTreeMap::new(), &overrides, LIMITS).unwrap();
    assert_eq!(spec.system, "Given {{verbatim}}", "an overridden prompt is not rendered");
    assert_eq!((spec.tools, spec.max_iterations, spec.temperature), (vec!["ls".to_owned()], 3, Some(1.0)));
    assert_eq!((spec.tool_choice.as_deref(), spec.node_selector.len()), (Some("ls"), 1));
}

#[test]
fn expansion_errors_name_the_template_and_value() {
    let templates = library(&[CODER, "name: boss\nmodel: openai:m\nteam: [coder]\n"]);
    let missing = expand(&templates, "boss", &BTreeMap::new(), &no_overrides(), LIMITS).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "template coder: variable {{language}} has no value (pass vars.language / --var language=...)",
        "a member's placeholder is checked at spawn"
    );
    let typo = expand(&templates, "boss", &vars(&[("langauge", "Go")]), &no_overrides(), LIMITS).unwrap_err();
    assert_eq!(
        typo.to_string(),
        "template boss: no template of it or its team has a variable \"langauge\"; its variables are language, \
         project, style"
    );
    let unknown = expand(&templates, "planner", &BTreeMap::new(), &no_overrides(), LIMITS).unwrap_err();
    assert_eq!(unknown.to_string(), "unknown template \"planner\"; known templates are boss, coder");
    let no_model = expand(&templates, "coder", &vars(&[("language", "C")]), &no_overrides(), LIMITS).unwrap_err();
    assert_eq!(
        no_model.to_string(),
        "template coder: it names no model; pass spec.model (agentry spawn --model MODEL)"
    );
}

#[test]
fn team_expansion_stops_at_the_depth_limit() {
    let templates =
        library(&["name: a\nteam: [b]\n", "name: b\nteam: [c]\n", "name: c\nteam: [d]\n", "name: d\nteam: [a]\n"]);
    let overrides = AgentSpec { model: "openai:m".into(), ..no_overrides() };
    let limits = TeamLimits { max_depth: 2, max_parallel: 3 };
    let spec = expand(&templates, "a", &BTreeMap::new(), &overrides, limits).unwrap();
    let level_one = &spec.team.as_ref().expect("level 1").roles["b"];
    let level_two = &level_one.spec.team.as_ref().expect("level 2").roles["c"];
    assert_eq!(level_two.spec.team, None, "a member at the deepest level gets no team");
    assert_eq!(level_one.spec.team.as_ref().unwrap().max_parallel, 3);
    let none = expand(&templates, "a", &BTreeMap::new(), &overrides, TeamLimits { max_depth: 0, max_parallel: 3 });
    assert_eq!(none.unwrap().team, None);
}

#[test]
fn cycles_are_bounded_by_the_depth_and_the_role_spec_limit() {
    let templates = library(&["name: me\nteam: [me]\n", "name: x\nteam: [x, y]\n", "name: y\nteam: [x, y]\n"]);
    let overrides = AgentSpec { model: "openai:m".into(), ..no_overrides() };
    let spec = expand(&templates, "me", &BTreeMap::new(), &overrides, LIMITS).unwrap();
    let mut depth = 0;
    let mut team = spec.team.as_ref();
    while let Some(current) = team {
        depth += 1;
        team = current.roles["me"].spec.team.as_ref();
    }
    assert_eq!(depth, 3, "a template in its own team stops at max_depth levels");
    let deep = TeamLimits { max_depth: 8, max_parallel: 8 };
    let error = expand(&templates, "x", &BTreeMap::new(), &overrides, deep).unwrap_err().to_string();
    assert!(error.starts_with("template x: its team expands to more than 128 role specs within 8 levels"), "{error}");
}

#[test]
fn a_tool_choice_reaches_the_lead_and_its_team_members() {
    let templates = library(&[
        "name: lead\nprompt: Lead\ntool_choice: parallel_agents\nteam: [shell]\n",
        "name: shell\nprompt: Run\ntools: [bash]\ntool_choice: required\n",
    ]);
    let overrides = AgentSpec { model: "openai:m".into(), ..no_overrides() };
    let spec = expand(&templates, "lead", &BTreeMap::new(), &overrides, LIMITS).unwrap();
    assert_eq!(spec.tool_choice.as_deref(), Some("parallel_agents"));
    let team = spec.clone().team.expect("a team");
    assert_eq!(team.roles["shell"].spec.tool_choice.as_deref(), Some("required"));
    assert!(spec.validated().is_ok(), "the expanded spec passes the spawn checks");
    let forced = AgentSpec { tool_choice: Some("required".into()), ..overrides };
    assert_eq!(
        expand(&templates, "lead", &BTreeMap::new(), &forced, LIMITS).unwrap().tool_choice.as_deref(),
        Some("required")
    );
}
