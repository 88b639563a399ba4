//! Docker: a throwaway container per call, with the workspace mounted at the same path.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::confined::{self, ConfinementGuard};
use crate::{Confined, Confinement, Sandbox, SandboxError, SandboxKind};

/// Confines with a Docker container per call (`docker run --rm`), used when asked for
/// (`sandbox = "docker"`) and a Docker engine answers.
///
/// The container has a read-only root, a tmpfs on `/tmp`, the workspace bind-mounted at its
/// host path as the only writable path, no capabilities, `no-new-privileges`, no network unless
/// allowed (`bridge` then), and Docker's pids, memory and CPU limits. Killing the tree runs
/// `docker rm -f` on the container.
#[derive(Debug, Clone)]
pub struct DockerSandbox {
    docker: PathBuf,
    image: String,
    cpus: f64,
}

impl DockerSandbox {
    /// The image used by [`detect`](crate::detect): it must have `bash`.
    pub const DEFAULT_IMAGE: &'static str = "debian:bookworm-slim";

    /// Returns a sandbox running containers of `image` with the `docker` client at `docker`,
    /// limited to one CPU, without checking for an engine.
    pub fn new(docker: impl Into<PathBuf>, image: impl Into<String>) -> Self {
        Self { docker: docker.into(), image: image.into(), cpus: 1.0 }
    }

    /// Returns the sandbox with containers limited to `cpus` CPUs (`--cpus`).
    pub fn with_cpus(self, cpus: f64) -> Self {
        Self { cpus, ..self }
    }

    /// Returns a sandbox for `image` if the `docker` client is on `PATH` and `docker info`
    /// reaches an engine.
    ///
    /// Errors with the reason (no client, or the client's message).
    pub fn probe(image: impl Into<String>) -> Result<Self, SandboxError> {
        let docker = crate::bwrap::find_program("docker")
            .ok_or_else(|| SandboxError("docker is not installed (no `docker` on PATH)".to_owned()))?;
        let output = std::process::Command::new(&docker)
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdin(Stdio::null())
            .output()
            .map_err(|error| SandboxError(format!("could not run {}: {error}", docker.display())))?;
        if !output.status.success() {
            let message = String::from_utf8_lossy(&output.stderr);
            return Err(SandboxError(format!("no docker engine reachable: {}", message.trim())));
        }
        Ok(Self::new(docker, image))
    }

    /// Returns the arguments of `docker` that run `program args` in container `name`.
    pub(crate) fn arguments(
        &self,
        name: &str,
        program: &str,
        args: &[String],
        workspace: &Path,
        confinement: &Confinement,
    ) -> Vec<OsString> {
        let mut argv: Vec<OsString> = Vec::new();
        let mut push = |items: &[&str]| argv.extend(items.iter().map(OsString::from));
        push(&["run", "--rm", "-i", "--name", name, "--init"]);
        push(&["--network", if confinement.network.is_allowed() { "bridge" } else { "none" }]);
        push(&["--read-only", "--tmpfs", "/tmp"]);
        let workspace_text = workspace.to_string_lossy();
        push(&["-v", &format!("{workspace_text}:{workspace_text}"), "-w", &workspace_text]);
        push(&["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]);
        let limits = &confinement.limits;
        if let Some(processes) = limits.max_processes {
            push(&["--pids-limit", &processes.to_string()]);
        }
        if let Some(bytes) = limits.memory_bytes {
            // memory-swap equal to memory: no swap on top.
            push(&["--memory", &bytes.to_string(), "--memory-swap", &bytes.to_string()]);
        }
        push(&["--cpus", &self.cpus.to_string()]);
        if let Some(seconds) = limits.cpu_seconds {
            push(&["--ulimit", &format!("cpu={seconds}:{}", seconds + 1)]);
        }
        push(&["-e", &format!("HOME={workspace_text}"), "-e", "LANG=C.UTF-8", "-e", "TERM=dumb"]);
        for (variable, _) in &confinement.env {
            // The value comes from the client's environment, not the command line (`ps`).
            push(&["-e", variable]);
        }
        push(&[&self.image, program]);
        argv.extend(args.iter().map(OsString::from));
        argv
    }
}

impl Sandbox for DockerSandbox {
    fn kind(&self) -> SandboxKind {
        SandboxKind::Docker
    }

    fn command(&self, program: &str, args: &[String], confinement: &Confinement) -> Result<Confined, SandboxError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let workspace = confined::workspace(confinement)?;
        let name = format!("agentry-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut command = tokio::process::Command::new(&self.docker);
        command
            .args(self.arguments(&name, program, args, &workspace, confinement))
            .envs(confinement.env.iter().map(|(variable, value)| (variable, value)))
            .current_dir(&workspace)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let guard = ConfinementGuard::new(None, Some((self.docker.clone(), name.clone())), confinement.limits.clone());
        let mut description = self.describe(confinement);
        description["container"] = json!(name);
        Ok(Confined { command, description, guard })
    }

    fn describe(&self, confinement: &Confinement) -> Value {
        let limits = &confinement.limits;
        let limit =
            |value: Option<u64>, mechanism: &str| value.map(|value| json!({"value": value, "mechanism": mechanism}));
        json!({
            "sandbox": "docker",
            "image": self.image,
            "network": confinement.network,
            "network_enforced": true,
            "filesystem": "container with read-only root; writable workspace; private /tmp",
            "limits": {
                "wall_time_ms": crate::limits::wall_time_ms(limits),
                "max_output_bytes": limits.max_output_bytes,
                "cpu_seconds": limit(limits.cpu_seconds, "docker --ulimit cpu"),
                "memory_bytes": limit(limits.memory_bytes, "docker --memory"),
                "max_processes": limit(limits.max_processes, "docker --pids-limit"),
                "cpus": self.cpus,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{NetworkAccess, ResourceLimits};

    fn confinement(network: NetworkAccess) -> Confinement {
        let limits = ResourceLimits {
            cpu_seconds: Some(30),
            memory_bytes: Some(1 << 30),
            max_processes: Some(128),
            wall_time: Duration::from_secs(60),
            max_output_bytes: 1024,
        };
        Confinement::new("/srv/ws", network, limits).with_env("AGENTRY_IDEMPOTENCY_KEY", "secret-ish")
    }

    fn text(argv: Vec<OsString>) -> Vec<String> {
        argv.into_iter().map(|arg| arg.into_string().unwrap()).collect()
    }

    #[test]
    fn docker_run_confines_files_network_privileges_and_resources() {
        let sandbox = DockerSandbox::new("/usr/bin/docker", "debian:bookworm-slim").with_cpus(1.5);
        let confinement = confinement(NetworkAccess::None);
        let argv = text(sandbox.arguments(
            "agentry-1-0",
            "bash",
            &["-c".into(), "ls".into()],
            Path::new("/srv/ws"),
            &confinement,
        ));
        let expected = "run --rm -i --name agentry-1-0 --init --network none --read-only --tmpfs /tmp \
                        -v /srv/ws:/srv/ws -w /srv/ws --cap-drop ALL --security-opt no-new-privileges \
                        --pids-limit 128 --memory 1073741824 --memory-swap 1073741824 --cpus 1.5 \
                        --ulimit cpu=30:31 -e HOME=/srv/ws -e LANG=C.UTF-8 -e TERM=dumb \
                        -e AGENTRY_IDEMPOTENCY_KEY debian:bookworm-slim bash -c ls";
        assert_eq!(argv.join(" "), expected);
        assert!(!argv.iter().any(|arg| arg.contains("secret-ish")), "env values stay off the command line");
    }

    #[test]
    fn allowed_network_uses_the_bridge_and_absent_limits_add_no_flags() {
        let sandbox = DockerSandbox::new("docker", "img");
        let mut confinement = confinement(NetworkAccess::Hosts(vec!["example.com".into()]));
        confinement.limits.memory_bytes = None;
        confinement.limits.max_processes = None;
        confinement.limits.cpu_seconds = None;
        let argv = text(sandbox.arguments("n", "true", &[], Path::new("/w"), &confinement));
        let network = argv.iter().position(|arg| arg == "--network").unwrap();
        assert_eq!(argv[network + 1], "bridge");
        for flag in ["--memory", "--pids-limit", "--ulimit"] {
            assert!(!argv.contains(&flag.to_owned()), "{flag} in {argv:?}");
        }
        assert_eq!(&argv[argv.len() - 2..], ["img", "true"]);
    }

    #[test]
    fn the_container_is_named_in_the_description_and_guard() {
        let workspace = tempfile::TempDir::new().unwrap();
        let mut confinement = confinement(NetworkAccess::None);
        confinement.workspace = workspace.path().to_owned();
        let confined = DockerSandbox::new("docker", "img").command("true", &[], &confinement).unwrap();
        let name = confined.description["container"].as_str().unwrap().to_owned();
        assert!(name.starts_with("agentry-"), "{name}");
        let argv: Vec<String> =
            confined.command.as_std().get_args().map(|arg| arg.to_string_lossy().into_owned()).collect();
        assert!(argv.windows(2).any(|pair| pair == ["--name", name.as_str()]), "{argv:?}");
        assert_eq!(confined.description["limits"]["memory_bytes"]["mechanism"], "docker --memory");
    }
}
