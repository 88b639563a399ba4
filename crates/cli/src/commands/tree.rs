//! `agentry tree AGENT_ID [--wide] [--output table|json]`: an agent's delegation tree (the agent
//! and its sub-agents, depth first, children oldest first), each agent with its role, its latest
//! run's status and what its model calls used; then the total.

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use agentry_sdk::convert::types::run_status_name;
use agentry_sdk::proto::{Agent, TreeNode};

use crate::commands::HubArgs;
use crate::output::{ListFormat, print_line, render_table};

pub use agentry_core::team::{ROLE_LABEL, TEMPLATE_LABEL};
/// Characters of an agent id shown in a tree (its end: UUIDv7 ids begin with their creation
/// time, so agents started together share a prefix).
const SHORT_ID_CHARS: usize = 8;

/// Options of `agentry tree`.
#[derive(Debug, Args)]
pub struct TreeArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// The agent at the top of the tree (any agent: its sub-agents are shown below it).
    agent_id: String,
    /// Show whole agent ids (default: their last 8 characters).
    #[arg(long)]
    wide: bool,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ListFormat::Table)]
    output: ListFormat,
}

/// Prints the tree.
pub async fn run(args: TreeArgs) -> anyhow::Result<()> {
    let client = args.hub.connect().await?;
    let nodes = client.get_tree(args.agent_id).await?;
    let text = match args.output {
        ListFormat::Table => tree_table(&nodes, args.wide),
        ListFormat::Json => tree_json(&nodes).context("encoding the tree as JSON")?,
    };
    print_line(&text).context("writing to stdout")
}

/// Returns the role of `agent`: its `agentry.role` label (a sub-agent), else its
/// `agentry.template` label (spawned from a template), else `-`.
pub fn role_of(agent: &Agent) -> &str {
    [ROLE_LABEL, TEMPLATE_LABEL]
        .iter()
        .find_map(|key| agent.labels.get(*key).map(String::as_str).filter(|value| !value.is_empty()))
        .unwrap_or("-")
}

/// Returns the last [`SHORT_ID_CHARS`] characters of `id` (all of a shorter one).
pub fn short_id(id: &str) -> &str {
    let start = id.char_indices().rev().nth(SHORT_ID_CHARS - 1).map_or(0, |(index, _)| index);
    &id[start..]
}

/// Returns the drawing before each entry of a depth-first list with these depths: nothing for
/// depth 0, else a `│  ` or blank column per ancestor level (`│` while that ancestor has a later
/// sibling) and `├─ ` (a later sibling follows) or `└─ ` (the last child).
pub fn tree_prefixes(depths: &[u32]) -> Vec<String> {
    // Walking backwards: later_sibling[i] is whether a node at depth[i] follows i's subtree
    // before any shallower node. `seen[level]`: a node at that level was passed since the last
    // shallower one.
    let mut later_sibling = vec![false; depths.len()];
    let mut seen: Vec<bool> = Vec::new();
    for (index, &depth) in depths.iter().enumerate().rev() {
        let level = depth as usize;
        later_sibling[index] = seen.get(level).copied().unwrap_or(false);
        seen.resize(level + 1, false);
        seen[level] = true;
    }
    // Walking forwards: open[l] is whether the ancestor at depth l + 1 has a later sibling.
    let mut open: Vec<bool> = Vec::new();
    let mut prefixes = Vec::with_capacity(depths.len());
    for (index, &depth) in depths.iter().enumerate() {
        let level = depth as usize;
        if level == 0 {
            open.clear();
            prefixes.push(String::new());
            continue;
        }
        // A depth that jumps (a malformed list) draws the missing levels blank.
        open.resize(level - 1, false);
        let mut prefix: String = open.iter().map(|&more| if more { "│  " } else { "   " }).collect();
        prefix.push_str(if later_sibling[index] { "├─ " } else { "└─ " });
        open.push(later_sibling[index]);
        prefixes.push(prefix);
    }
    prefixes
}

/// Returns the latest run status of `node` (`-` without a run).
fn status_of(node: &TreeNode) -> String {
    node.agent
        .as_ref()
        .and_then(|agent| agent.latest_run.as_ref())
        .map_or("-".to_owned(), |run| run_status_name(run.status))
}

/// Returns `nodes` (depth first, as `GetTree` returns them) as a table: AGENT (the tree drawing
/// and the agent id, shortened unless `wide`), ROLE, STATUS (of the latest run), CALLS, TOKENS,
/// COST (USD, 6 decimals); then a `total` line of every agent's calls, tokens and cost.
pub fn tree_table(nodes: &[TreeNode], wide: bool) -> String {
    let depths: Vec<u32> = nodes.iter().map(|node| node.depth).collect();
    let mut rows: Vec<Vec<String>> = nodes
        .iter()
        .zip(tree_prefixes(&depths))
        .map(|(node, prefix)| {
            let agent = node.agent.clone().unwrap_or_default();
            let id = if wide { agent.agent_id.as_str() } else { short_id(&agent.agent_id) };
            vec![
                format!("{prefix}{id}"),
                role_of(&agent).to_owned(),
                status_of(node),
                node.calls.to_string(),
                node.total_tokens.to_string(),
                format!("{:.6}", node.cost_usd),
            ]
        })
        .collect();
    let agents = match nodes.len() {
        1 => "1 agent".to_owned(),
        count => format!("{count} agents"),
    };
    rows.push(vec![
        format!("total ({agents})"),
        String::new(),
        String::new(),
        nodes.iter().map(|node| node.calls).sum::<u64>().to_string(),
        nodes.iter().map(|node| node.total_tokens).sum::<u64>().to_string(),
        format!("{:.6}", nodes.iter().map(|node| node.cost_usd).sum::<f64>()),
    ]);
    render_table(&["AGENT", "ROLE", "STATUS", "CALLS", "TOKENS", "COST (USD)"], &rows)
}

/// An agent in `tree --output json`.
#[derive(Serialize)]
struct NodeJson<'a> {
    agent_id: &'a str,
    parent_id: &'a str,
    depth: u32,
    role: &'a str,
    run_id: &'a str,
    status: String,
    calls: u64,
    total_tokens: u64,
    cost_usd: f64,
}

/// Returns `nodes` as a pretty JSON array, depth first, of `{agent_id, parent_id (empty for a
/// root), depth, role, run_id (of the latest run, empty without one), status, calls,
/// total_tokens, cost_usd}`.
pub fn tree_json(nodes: &[TreeNode]) -> serde_json::Result<String> {
    let empty = Agent::default();
    let json: Vec<NodeJson<'_>> = nodes
        .iter()
        .map(|node| {
            let agent = node.agent.as_ref().unwrap_or(&empty);
            NodeJson {
                agent_id: &agent.agent_id,
                parent_id: &agent.parent_id,
                depth: node.depth,
                role: role_of(agent),
                run_id: agent.latest_run.as_ref().map_or("", |run| run.run_id.as_str()),
                status: status_of(node),
                calls: node.calls,
                total_tokens: node.total_tokens,
                cost_usd: node.cost_usd,
            }
        })
        .collect();
    serde_json::to_string_pretty(&json)
}

#[cfg(test)]
mod tests {
    use agentry_sdk::proto::{Run, RunStatus};
    use serde_json::{Value, json};

    use super::*;

    fn node(id: &str, depth: u32, labels: &[(&str, &str)], status: Option<RunStatus>, calls: u64) -> TreeNode {
        let agent = Agent {
            agent_id: id.to_owned(),
            labels: labels.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
            latest_run: status.map(|status| Run {
                run_id: format!("run-{id}"),
                status: status as i32,
                ..Run::default()
            }),
            ..Agent::default()
        };
        TreeNode { agent: Some(agent), depth, calls, total_tokens: calls * 100, cost_usd: calls as f64 * 0.25 }
    }

    #[test]
    fn prefixes_draw_siblings_and_open_ancestors() {
        // root ─ a ─ a1 ─ a1x
        //      │   └ a2
        //      └ b ─ b1
        let prefixes = tree_prefixes(&[0, 1, 2, 3, 2, 1, 2]);
        assert_eq!(prefixes, ["", "├─ ", "│  ├─ ", "│  │  └─ ", "│  └─ ", "└─ ", "   └─ "]);
        assert_eq!(tree_prefixes(&[0]), [""]);
        assert!(tree_prefixes(&[]).is_empty());
        // A jump in depth (not produced by the hub) draws blanks, no panic.
        assert_eq!(tree_prefixes(&[0, 3, 1]), ["", "      └─ ", "└─ "]);
    }

    #[test]
    fn ids_are_shortened_to_their_end() {
        assert_eq!(short_id("0195a3b2-0000-7000-8000-00000abc1234"), "0abc1234");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(short_id(""), "");
    }

    #[test]
    fn the_role_is_the_role_label_else_the_template() {
        let labels = |pairs: &[(&str, &str)]| Agent {
            labels: pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
            ..Agent::default()
        };
        assert_eq!(role_of(&labels(&[(ROLE_LABEL, "coder"), (TEMPLATE_LABEL, "x")])), "coder");
        assert_eq!(role_of(&labels(&[(TEMPLATE_LABEL, "agent_0")])), "agent_0");
        assert_eq!(role_of(&labels(&[("team", "search")])), "-");
    }

    fn sample() -> Vec<TreeNode> {
        vec![
            node("root-00000001", 0, &[(TEMPLATE_LABEL, "agent_0")], Some(RunStatus::WaitingChildren), 2),
            node("kid-000000002", 1, &[(ROLE_LABEL, "coder")], Some(RunStatus::Completed), 1),
            node("kid-000000003", 1, &[(ROLE_LABEL, "tester")], Some(RunStatus::Running), 0),
            node("kid-000000004", 2, &[(ROLE_LABEL, "reviewer")], None, 0),
        ]
    }

    #[test]
    fn the_table_draws_the_tree_and_totals_it() {
        let table = tree_table(&sample(), false);
        let expected = [
            "AGENT              ROLE       STATUS             CALLS   TOKENS   COST (USD)",
            "00000001           agent_0    waiting_children   2       200      0.500000",
            "├─ 00000002        coder      completed          1       100      0.250000",
            "└─ 00000003        tester     running            0       0        0.000000",
            "   └─ 00000004     reviewer   -                  0       0        0.000000",
            "total (4 agents)                                 3       300      0.750000",
        ];
        assert_eq!(table.lines().collect::<Vec<_>>(), expected);
        let wide = tree_table(&sample()[..1], true);
        let lines: Vec<&str> = wide.lines().collect();
        assert!(lines[1].starts_with("root-00000001     agent_0   "), "{wide}");
        let total: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(total, ["total", "(1", "agent)", "2", "200", "0.500000"]);
    }

    #[test]
    fn json_has_one_object_per_agent() {
        let parsed: Value = serde_json::from_str(&tree_json(&sample()).expect("JSON")).expect("parse");
        assert_eq!(parsed.as_array().map(Vec::len), Some(4));
        assert_eq!(
            parsed[1],
            json!({
                "agent_id": "kid-000000002", "parent_id": "", "depth": 1, "role": "coder",
                "run_id": "run-kid-000000002", "status": "completed", "calls": 1, "total_tokens": 100,
                "cost_usd": 0.25,
            })
        );
        assert_eq!((parsed[3]["status"].clone(), parsed[3]["run_id"].clone()), (json!("-"), json!("")));
    }
}
