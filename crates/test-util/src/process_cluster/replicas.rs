//! Hub replicas of a [`ProcessCluster`]: more `agentry hub serve` processes on the same
//! database and NATS, stopped with SIGTERM (a rollout, a scale-down) or SIGKILL (a crash).

use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{Context, bail};

use super::{Process, ProcessCluster, STARTUP_DEADLINE, free_port, kill, terminate};

/// The name of the hub [`ProcessCluster::start`] starts, as a replica name.
const FIRST_HUB: &str = "hub";

impl ProcessCluster {
    /// Starts the hub replica `name` (logging to `<name>.log`) on free loopback ports, with the
    /// first hub's other arguments, and waits until it answers `agentry nodes` itself; returns
    /// its gRPC `host:port`. A stopped replica starts again on the address it had.
    ///
    /// Errors when `name` is `hub` (the first hub: [`Self::start_hub`]) or a running replica,
    /// or when it exits or does not answer within 30 s.
    pub async fn start_hub_replica(&mut self, name: &str) -> anyhow::Result<String> {
        if name == FIRST_HUB {
            bail!("the first hub starts with start_hub");
        }
        if !self.replicas.contains_key(name) {
            let address = format!("127.0.0.1:{}", free_port()?);
            let metrics_address = format!("127.0.0.1:{}", free_port()?);
            let mut args = self.hub.args.clone();
            set_flag(&mut args, "--listen", &address);
            set_flag(&mut args, "--metrics-listen", &metrics_address);
            let process = Process { child: None, args, env: self.hub.env.clone(), metrics_address };
            self.replicas.insert(name.to_owned(), (address, process));
        }
        let (address, process) = self.replicas.get(name).with_context(|| format!("no hub replica {name}"))?;
        if process.child.is_some() {
            bail!("hub replica {name} is running already");
        }
        let child = self.spawn_process(name, &process.args, &process.env)?;
        let address = address.clone();
        if let Some((_, process)) = self.replicas.get_mut(name) {
            process.child = Some(child);
        }
        let answered = self.wait_until_answers(&format!("http://{address}"), STARTUP_DEADLINE).await;
        answered.map_err(|error| self.with_exit_report(error))?;
        Ok(address)
    }

    /// Returns the gRPC `host:port` of hub replica `name` (`hub`: the first hub); `None` for
    /// an unknown replica.
    pub fn hub_replica_address(&self, name: &str) -> Option<&str> {
        if name == FIRST_HUB {
            return Some(&self.hub_address);
        }
        self.replicas.get(name).map(|(address, _)| address.as_str())
    }

    /// Returns the URL of hub replica `name`'s Prometheus metrics; `None` for an unknown one.
    pub fn hub_replica_metrics_url(&self, name: &str) -> Option<String> {
        let process =
            if name == FIRST_HUB { Some(&self.hub) } else { self.replicas.get(name).map(|(_, process)| process) };
        process.map(|process| format!("http://{}/metrics", process.metrics_address))
    }

    /// Sends SIGTERM to hub replica `name` (`hub`: the first hub) and returns its exit status
    /// once it exited, waiting up to `deadline`.
    ///
    /// Errors when it is not running, or still runs after `deadline` (it is then killed).
    pub async fn terminate_hub_replica(&mut self, name: &str, deadline: Duration) -> anyhow::Result<ExitStatus> {
        let logs = self.logs_dir().display().to_string();
        let process = self.hub_process_mut(name)?;
        terminate(process, &format!("hub replica {name}"), deadline).await.with_context(|| format!("logs in {logs}"))
    }

    /// Kills hub replica `name` (`hub`: the first hub) with SIGKILL and waits for it to exit.
    ///
    /// Errors when it is not running.
    pub async fn kill_hub_replica(&mut self, name: &str) -> anyhow::Result<()> {
        let process = self.hub_process_mut(name)?;
        kill(process, name).await
    }

    fn hub_process_mut(&mut self, name: &str) -> anyhow::Result<&mut Process> {
        if name == FIRST_HUB {
            return Ok(&mut self.hub);
        }
        self.replicas.get_mut(name).map(|(_, process)| process).with_context(|| format!("no hub replica {name}"))
    }
}

/// Sets the value after `flag` in `args`, or appends both.
fn set_flag(args: &mut Vec<String>, flag: &str, value: &str) {
    match args.iter().position(|arg| arg == flag) {
        Some(index) if index + 1 < args.len() => args[index + 1] = value.to_owned(),
        _ => args.extend([flag.to_owned(), value.to_owned()]),
    }
}
