//! `agentry whoami [--output text|json]`: who the hub takes the caller for — the actor (a
//! token's name, a JWT's subject, `anonymous` without authentication), its role, its tenant and
//! how it was authenticated. Checks a token without doing anything with it.

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use agentry_sdk::proto::WhoAmIResponse;

use crate::commands::HubArgs;
use crate::output::{ResultFormat, print_line};

/// Options of `agentry whoami`.
#[derive(Debug, Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Text)]
    output: ResultFormat,
}

/// The answer in `--output json`.
#[derive(Serialize)]
struct WhoamiJson<'a> {
    actor: &'a str,
    role: &'a str,
    /// Empty for a cluster-wide admin.
    tenant: &'a str,
    method: &'a str,
}

/// Prints the hub's answer.
pub async fn run(args: WhoamiArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let answer = client.who_am_i().await?;
    print_line(&render(&answer, args.output)?).context("writing to stdout")
}

/// Returns the answer as `actor: ...`, `role: ...`, `tenant: ...`, `method: ...` lines, or
/// JSON.
fn render(answer: &WhoAmIResponse, format: ResultFormat) -> anyhow::Result<String> {
    if format == ResultFormat::Json {
        let json =
            WhoamiJson { actor: &answer.actor, role: &answer.role, tenant: &answer.tenant, method: &answer.method };
        return serde_json::to_string_pretty(&json).context("encoding as JSON");
    }
    let tenant = if answer.tenant.is_empty() { "* (every tenant)" } else { answer.tenant.as_str() };
    Ok(format!("actor:  {}\nrole:   {}\ntenant: {tenant}\nmethod: {}", answer.actor, answer.role, answer.method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_print_as_lines_or_json() {
        let answer = WhoAmIResponse {
            actor: "ci-bot".into(),
            role: "client".into(),
            tenant: "acme".into(),
            method: "token".into(),
        };
        let text = render(&answer, ResultFormat::Text).expect("text");
        assert_eq!(text, "actor:  ci-bot\nrole:   client\ntenant: acme\nmethod: token");
        let json: serde_json::Value =
            serde_json::from_str(&render(&answer, ResultFormat::Json).expect("json")).expect("JSON");
        assert_eq!(json, serde_json::json!({"actor": "ci-bot", "role": "client", "tenant": "acme", "method": "token"}));
        let admin = WhoAmIResponse {
            actor: "anonymous".into(),
            role: "admin".into(),
            tenant: String::new(),
            method: "none".into(),
        };
        assert!(render(&admin, ResultFormat::Text).expect("text").contains("tenant: * (every tenant)"));
    }
}
