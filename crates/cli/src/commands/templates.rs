//! `agentry templates list|show NAME`: the role templates the hub knows (built in,
//! `templates-dir`, `[templates.NAME]` of its config), and `--var key=value` parsing for the
//! commands that spawn from one.

use std::collections::BTreeMap;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;

use agentry_sdk::proto::RoleTemplate;

use crate::commands::HubArgs;
use crate::output::{ListFormat, ResultFormat, one_line_preview, print_line, render_table};

/// Characters of a description shown in the `templates list` table.
const DESCRIPTION_PREVIEW_CHARS: usize = 60;

/// `agentry templates list|show NAME`.
#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// List the role templates the hub knows: name, description, model, tools, team, source.
    List(ListArgs),
    /// Print a role template as YAML (as loaded: the file's text, or a config table as YAML).
    Show(ShowArgs),
}

/// Options of `agentry templates list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ListFormat::Table)]
    output: ListFormat,
}

/// Options of `agentry templates show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The template's name (`agentry templates list`).
    name: String,
    /// Output format: the YAML (text), or the template as JSON.
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

impl TemplatesCommand {
    /// Runs it.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::List(args) => {
                let templates = args.hub.connect().await?.list_templates().await?;
                let text = match args.output {
                    ListFormat::Table => templates_table(&templates),
                    ListFormat::Json => templates_json(&templates).context("encoding templates as JSON")?,
                };
                print_line(&text).context("writing to stdout")
            }
            Self::Show(args) => {
                let templates = args.hub.connect().await?.list_templates().await?;
                let Some(template) = templates.iter().find(|template| template.name == args.name) else {
                    let known: Vec<&str> = templates.iter().map(|template| template.name.as_str()).collect();
                    anyhow::bail!("no template named {:?}; the hub knows {}", args.name, known.join(", "));
                };
                let text = match args.output {
                    ResultFormat::Text => template.yaml.trim_end().to_owned(),
                    ResultFormat::Json => serde_json::to_string_pretty(&TemplateJson::from(template))
                        .context("encoding the template as JSON")?,
                };
                print_line(&text).context("writing to stdout")
            }
        }
    }
}

/// A template in `templates list|show --output json`.
#[derive(Serialize)]
struct TemplateJson {
    name: String,
    description: String,
    model: String,
    system: String,
    tools: Vec<String>,
    max_iterations: u32,
    vars: BTreeMap<String, String>,
    team: Vec<String>,
    source: String,
    yaml: String,
}

impl From<&RoleTemplate> for TemplateJson {
    fn from(template: &RoleTemplate) -> Self {
        Self {
            name: template.name.clone(),
            description: template.description.clone(),
            model: template.model.clone(),
            system: template.system.clone(),
            tools: template.tools.clone(),
            max_iterations: template.max_iterations,
            vars: template.vars.clone().into_iter().collect(),
            team: template.team.clone(),
            source: template.source.clone(),
            yaml: template.yaml.clone(),
        }
    }
}

/// Returns `templates` as a pretty JSON array.
fn templates_json(templates: &[RoleTemplate]) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&templates.iter().map(TemplateJson::from).collect::<Vec<_>>())
}

/// Returns `templates` as a table: name, description (cut), model (`-`: the spawner's), tools,
/// team, source.
fn templates_table(templates: &[RoleTemplate]) -> String {
    let or_dash = |text: String| if text.is_empty() { "-".to_owned() } else { text };
    let rows: Vec<Vec<String>> = templates
        .iter()
        .map(|template| {
            vec![
                template.name.clone(),
                or_dash(one_line_preview(&template.description, DESCRIPTION_PREVIEW_CHARS)),
                or_dash(template.model.clone()),
                or_dash(template.tools.join(",")),
                or_dash(template.team.join(",")),
                template.source.clone(),
            ]
        })
        .collect();
    render_table(&["NAME", "DESCRIPTION", "MODEL", "TOOLS", "TEAM", "SOURCE"], &rows)
}

/// Parses `--var key=value` (clap value parser): the key is a variable name, the value is kept
/// as given (it may be empty or contain `=`).
pub fn parse_var(text: &str) -> Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!("{text:?} is not key=value"));
    };
    let key = key.trim();
    if !agentry_core::templates::is_var_name(key) {
        return Err(format!("{key:?} is not a variable name (1-64 characters of A-Z a-z 0-9 _ - .)"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// Collects repeated `--var` pairs; a repeated key is an error naming it.
pub fn collect_vars(pairs: Vec<(String, String)>) -> Result<std::collections::HashMap<String, String>, String> {
    let mut vars = std::collections::HashMap::new();
    for (key, value) in pairs {
        if vars.insert(key.clone(), value).is_some() {
            return Err(format!("--var {key} is given twice"));
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(name: &str, model: &str, tools: &[&str], team: &[&str]) -> RoleTemplate {
        RoleTemplate {
            name: name.to_owned(),
            description: format!("The {name}\nsecond line"),
            model: model.to_owned(),
            tools: tools.iter().map(|tool| (*tool).to_owned()).collect(),
            team: team.iter().map(|member| (*member).to_owned()).collect(),
            source: "builtin".to_owned(),
            yaml: format!("name: {name}\n"),
            ..RoleTemplate::default()
        }
    }

    #[test]
    fn the_table_has_one_row_per_template() {
        let templates =
            [template("agent_0", "", &["view", "ls"], &["coder", "tester"]), template("coder", "openai:m", &[], &[])];
        let table = templates_table(&templates);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header, ["NAME", "DESCRIPTION", "MODEL", "TOOLS", "TEAM", "SOURCE"]);
        let agent_0: Vec<&str> = lines[1].split("   ").map(str::trim).filter(|cell| !cell.is_empty()).collect();
        assert_eq!(agent_0, ["agent_0", "The agent_0\\nsecond line", "-", "view,ls", "coder,tester", "builtin"]);
        assert!(lines[2].starts_with("coder") && lines[2].contains("openai:m"), "{table}");
    }

    #[test]
    fn json_lists_every_field() {
        let json = templates_json(&[template("coder", "", &["bash"], &[])]).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value[0]["name"], "coder");
        assert_eq!(value[0]["tools"][0], "bash");
        assert_eq!(value[0]["yaml"], "name: coder\n");
    }

    #[test]
    fn vars_are_key_value_pairs_with_variable_names() {
        assert_eq!(parse_var("language=Rust"), Ok(("language".into(), "Rust".into())));
        assert_eq!(parse_var("query=a=b"), Ok(("query".into(), "a=b".into())));
        assert_eq!(parse_var("empty="), Ok(("empty".into(), String::new())));
        assert_eq!(parse_var("nothing"), Err("\"nothing\" is not key=value".into()));
        assert!(parse_var("two words=x").unwrap_err().contains("is not a variable name"));
        let twice = collect_vars(vec![("a".into(), "1".into()), ("a".into(), "2".into())]);
        assert_eq!(twice, Err("--var a is given twice".into()));
    }
}
