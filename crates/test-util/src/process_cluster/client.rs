//! Client helpers of [`ProcessCluster`]: the `agentry` CLI run against the hub, its JSON
//! parsed, and waits on what it reports.

use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use tokio::process::Command;

use super::ProcessCluster;
use crate::eventually::{Observed, eventually_every};

/// How long one client command may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How many client commands [`ProcessCluster::spawn_agents`] and [`ProcessCluster::traces`]
/// run at once.
const CLIENT_CONCURRENCY: usize = 8;
/// Pause between two polls of a wait.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Run statuses after which a run does not change any more, besides `completed`.
const FAILED_STATUSES: [&str; 2] = ["failed", "cancelled"];

impl ProcessCluster {
    /// Runs `agentry <args> --hub <hub>` (logging off) and returns its output, whatever its
    /// exit code.
    ///
    /// Errors when it cannot be started or runs longer than 30 s (it is then killed).
    pub async fn client(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.client_at(&self.hub_url(), args).await
    }

    /// Like [`Self::client`], against the hub at `hub_url` (e.g. one replica of several).
    pub async fn client_at(&self, hub_url: &str, args: &[&str]) -> anyhow::Result<Output> {
        let command = Command::new(&self.config.binary)
            .args(args)
            .args(["--hub", hub_url])
            .env_remove("AGENTRY_HUB")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(CLIENT_TIMEOUT, command).await {
            Ok(output) => output.with_context(|| format!("running agentry {args:?}")),
            Err(_) => bail!("agentry {args:?} ran longer than {CLIENT_TIMEOUT:?}"),
        }
    }

    /// Runs a client command that prints JSON and returns the JSON.
    ///
    /// Errors when the command fails (the error quotes its stderr) or prints no JSON.
    pub async fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let output = succeeded(self.client(args).await?, args)?;
        serde_json::from_slice(&output.stdout).with_context(|| format!("agentry {args:?} printed no JSON"))
    }

    /// Returns `agentry nodes --output json`: objects with `node_id`, `name`, `state` (`ready`,
    /// `cordoned`, `draining`, `dead`), `slots`, `running`, `labels`, `last_heartbeat`.
    pub async fn nodes(&self) -> anyhow::Result<Vec<Value>> {
        Ok(as_array(self.json(&["nodes", "--output", "json"]).await?))
    }

    /// Returns `agentry ps --output json`: objects with `agent_id`, `last_seq` and `latest_run`
    /// (`run_id`, `status`, `epoch`, `node_id`, `error`, `wait_reason`, or null).
    pub async fn agents(&self) -> anyhow::Result<Vec<Value>> {
        Ok(as_array(self.json(&["ps", "--output", "json"]).await?))
    }

    /// Returns the id of the node named `name`: the `ready` one when several have that name
    /// (a node started again), else the last listed.
    ///
    /// Errors when the hub lists no node of that name.
    pub async fn node_id(&self, name: &str) -> anyhow::Result<String> {
        let nodes = self.nodes().await?;
        let named: Vec<&Value> = nodes.iter().filter(|node| node["name"] == name).collect();
        let node = named.iter().find(|node| node["state"] == "ready").or(named.last());
        let id = node.and_then(|node| node["node_id"].as_str());
        id.map(str::to_owned).with_context(|| format!("the hub lists no node {name}"))
    }

    /// Runs `agentry spawn <args>` and returns the agent id it printed.
    pub async fn spawn(&self, args: &[&str]) -> anyhow::Result<String> {
        let args: Vec<&str> = ["spawn"].into_iter().chain(args.iter().copied()).collect();
        let output = succeeded(self.client(&args).await?, &args)?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let agent_id = stdout.lines().next().unwrap_or_default().trim();
        if agent_id.is_empty() {
            bail!("agentry {args:?} printed no agent id");
        }
        Ok(agent_id.to_owned())
    }

    /// Spawns one agent per input (`agentry spawn <args> --input INPUT`), a few at a time, and
    /// returns their ids in the order of `inputs`.
    pub async fn spawn_agents(&self, inputs: &[String], args: &[&str]) -> anyhow::Result<Vec<String>> {
        futures::stream::iter(inputs)
            .map(|input| {
                let mut spawn_args = args.to_vec();
                spawn_args.extend(["--input", input.as_str()]);
                async move { self.spawn(&spawn_args).await }
            })
            .buffered(CLIENT_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Returns an agent's persisted trace events (`agentry trace AGENT --jsonl`): objects with
    /// `seq`, `ts`, `type`, `agent_id`, `run_id` and `data` (the payload object).
    pub async fn trace(&self, agent_id: &str) -> anyhow::Result<Vec<Value>> {
        let args = ["trace", agent_id, "--jsonl"];
        let output = succeeded(self.client(&args).await?, &args)?;
        parse_jsonl(&output.stdout)
    }

    /// Returns the traces of `agent_ids`, in their order, reading a few at a time.
    pub async fn traces(&self, agent_ids: &[String]) -> anyhow::Result<Vec<Vec<Value>>> {
        futures::stream::iter(agent_ids)
            .map(|agent_id| self.trace(agent_id))
            .buffered(CLIENT_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Polls `agentry nodes` until `condition` holds (failed calls, e.g. while the hub is down,
    /// count as not yet) and returns the nodes then.
    ///
    /// Errors after `timeout`, with the last answer and the logs directory.
    pub async fn wait_for_nodes(
        &self,
        what: &str,
        timeout: Duration,
        condition: impl Fn(&[Value]) -> bool,
    ) -> anyhow::Result<Vec<Value>> {
        self.poll_until("agentry nodes", what, timeout, || self.nodes(), condition).await
    }

    /// Polls `agentry nodes` against the hub at `hub_url` until it answers.
    ///
    /// Errors after `timeout`, with its last error and the logs directory.
    pub async fn wait_until_answers(&self, hub_url: &str, timeout: Duration) -> anyhow::Result<()> {
        let args = ["nodes", "--output", "json"];
        let fetch = || async { succeeded(self.client_at(hub_url, &args).await?, &args).map(|_| Vec::new()) };
        let what = format!("the hub at {hub_url} to answer");
        self.poll_until("agentry nodes", &what, timeout, fetch, |_| true).await.map(|_| ())
    }

    /// Polls `agentry ps` until `condition` holds (failed calls count as not yet) and returns
    /// the agents then.
    ///
    /// Errors after `timeout`, with the last answer and the logs directory.
    pub async fn wait_for_agents(
        &self,
        what: &str,
        timeout: Duration,
        condition: impl Fn(&[Value]) -> bool,
    ) -> anyhow::Result<Vec<Value>> {
        self.poll_until("agentry ps", what, timeout, || self.agents(), condition).await
    }

    /// Calls `fetch` every [`POLL_INTERVAL`] until its answer satisfies `condition`; errors
    /// after `timeout` naming `what`, the last answer of `command` and the logs directory.
    async fn poll_until<F: Future<Output = anyhow::Result<Vec<Value>>>>(
        &self,
        command: &str,
        what: &str,
        timeout: Duration,
        fetch: impl Fn() -> F,
        condition: impl Fn(&[Value]) -> bool,
    ) -> anyhow::Result<Vec<Value>> {
        eventually_every(&self.awaiting(what), timeout, POLL_INTERVAL, || async {
            match fetch().await {
                Ok(items) if condition(&items) => Observed::Ready(items),
                answer => Observed::NotYet(format!("`{command}` answered {}", describe(&answer))),
            }
        })
        .await
    }

    /// Waits until the latest run of each of `agent_ids` is `completed` and returns their
    /// `agentry ps` entries, in the order of `agent_ids`.
    ///
    /// Errors at once when one of them ended otherwise (`failed`, e.g. dead-lettered, or `cancelled`),
    /// and after `timeout` with the ones not completed.
    pub async fn wait_until_completed(&self, agent_ids: &[String], timeout: Duration) -> anyhow::Result<Vec<Value>> {
        let what = format!("{} runs to complete", agent_ids.len());
        eventually_every(&self.awaiting(&what), timeout, POLL_INTERVAL, || async {
            match self.agents().await {
                Ok(agents) => completed_entries(agent_ids, &agents),
                Err(error) => Observed::NotYet(format!("the hub did not answer `agentry ps`: {error:#}")),
            }
        })
        .await
    }

    /// Waits until the log of `name` (`hub` or a node) contains `needle`; returns the log.
    ///
    /// Errors after `timeout`.
    pub async fn wait_for_log(&self, name: &str, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let what = format!("{needle:?} in {name}.log");
        eventually_every(&self.awaiting(&what), timeout, POLL_INTERVAL, || async {
            let log = self.log(name);
            if log.contains(needle) {
                Observed::Ready(log)
            } else {
                Observed::NotYet(format!("{} lines", log.lines().count()))
            }
        })
        .await
    }

    /// Returns `what` followed by where the logs are, for the message of a wait that failed.
    fn awaiting(&self, what: &str) -> String {
        format!("{what} (logs in {})", self.logs_dir().display())
    }
}

/// Returns the `agentry ps` entries of `agent_ids` (in that order) when the latest run of each
/// is `completed`, fails when one of them ended otherwise, else lists the ones not completed.
fn completed_entries(agent_ids: &[String], agents: &[Value]) -> Observed<Vec<Value>> {
    let entries: Vec<Option<&Value>> =
        agent_ids.iter().map(|id| agents.iter().find(|agent| agent["agent_id"] == id.as_str())).collect();
    let status =
        |entry: &Option<&Value>| entry.map(|agent| agent["latest_run"]["status"].as_str().unwrap_or("none").to_owned());
    if let Some(ended) = entries
        .iter()
        .flatten()
        .find(|agent| FAILED_STATUSES.contains(&agent["latest_run"]["status"].as_str().unwrap_or_default()))
    {
        return Observed::Failed(anyhow!("a run did not complete: {ended}"));
    }
    if entries.iter().all(|entry| status(entry).as_deref() == Some("completed")) {
        return Observed::Ready(entries.into_iter().flatten().cloned().collect());
    }
    let pending: Vec<String> = agent_ids
        .iter()
        .zip(&entries)
        .filter(|(_, entry)| status(entry).as_deref() != Some("completed"))
        .map(|(id, entry)| format!("{id}: {}", entry.map_or("not listed".to_owned(), Value::to_string)))
        .collect();
    Observed::NotYet(format!("{} of {} runs not completed: {}", pending.len(), agent_ids.len(), pending.join("; ")))
}

/// Returns `output` when the command exited 0; else an error quoting its stderr.
fn succeeded(output: Output, args: &[&str]) -> anyhow::Result<Output> {
    if !output.status.success() {
        bail!("agentry {args:?} exited with {}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(output)
}

/// Parses JSON lines, skipping empty ones.
pub(super) fn parse_jsonl(text: &[u8]) -> anyhow::Result<Vec<Value>> {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).with_context(|| format!("not a JSON line: {line}")))
        .collect()
}

fn as_array(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

fn describe(answer: &anyhow::Result<Vec<Value>>) -> String {
    match answer {
        Ok(items) => Value::Array(items.clone()).to_string(),
        Err(error) => format!("{error:#}"),
    }
}
