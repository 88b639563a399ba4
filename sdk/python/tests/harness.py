"""Processes the tests run: the scripted model and `agentry dev` (see
sdk/conformance/README.md), and a hub serving TLS with token authentication (`SecureHub`).
Waits are on process output lines or process exits, never sleeps."""

from __future__ import annotations

import hashlib
import os
import queue
import re
import secrets
import signal
import subprocess
import threading
from pathlib import Path
from typing import IO, Dict, List, Optional

REPO = Path(__file__).resolve().parents[3]
SCENARIO = REPO / "sdk" / "conformance" / "scenario.json"
BUILD_HINT = "cargo build -p agentry -p agentry-test-util --bins"
HUB_LINE = re.compile(r"hub on (http://\S+)")
SERVING_LINE = re.compile(r"hub serving addr=Some\((127\.0\.0\.1:\d+)\)")
# Variables that would point the hub (or its logs) elsewhere than the test wants.
HUB_ENVIRONMENT = ("AGENTRY_HUB", "AGENTRY_TOKEN", "AGENTRY_CA", "RUST_LOG")
START_DEADLINE = 60.0
STOP_DEADLINE = 30.0


def binary(variable: str, default: Path) -> Path:
    """Returns the binary named by the environment `variable`, else `default`; raises
    RuntimeError, saying how to build it, when it is missing."""
    path = Path(os.environ.get(variable) or default)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise RuntimeError(f"{variable}: {path} is missing or not executable; run `{BUILD_HINT}` (or set {variable})")
    return path


class LineReader:
    """Drains a process's output on a thread: keeps every line (for failure reports) and hands
    them to `next_line` in order; `None` marks the end of the stream."""

    def __init__(self, stream: IO[str], log: List[str]) -> None:
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._log = log
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self._log.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def next_line(self, timeout: float) -> Optional[str]:
        """Returns the next line, or None at the end of the stream; raises queue.Empty after
        `timeout` seconds without one."""
        return self._lines.get(timeout=timeout)


class ScriptedModel:
    """`agentry-scripted-model --scenario FILE --until-stdin-closes`: stops when we close its stdin."""

    def __init__(self, path: Path) -> None:
        self.log: List[str] = []
        self.process = subprocess.Popen(
            [str(path), "--scenario", str(SCENARIO), "--until-stdin-closes"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert self.process.stdout is not None
        reader = LineReader(self.process.stdout, self.log)
        try:
            first = reader.next_line(START_DEADLINE)
        except queue.Empty:
            first = None
        if not first or not first.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the scripted model printed no base URL:\n{''.join(self.log)}")
        self.url = first.strip()

    def stop(self) -> None:
        """Closes its stdin and waits for it to exit (killing it after the deadline)."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ServerProcess:
    """A server process started by a test: launched with :meth:`launch` (which waits for the
    line that says it serves), stopped with SIGTERM, killed at teardown; everything it prints
    is kept for failure reports.

    Attributes:
        name: what error messages call it (``agentry dev``, ``the hub``).
    """

    name = "the server"

    def __init__(self) -> None:
        self.log: List[str] = []
        self.process: Optional["subprocess.Popen[str]"] = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def launch(self, command: List[str], env: Dict[str, str], ready: "re.Pattern[str]") -> "re.Match[str]":
        """Starts `command` and returns the match of the first output line that matches
        `ready`; kills it and raises RuntimeError, with its output, when it exits first or
        prints none within the start deadline."""
        self.log.append(f"$ {' '.join(command)}\n")
        self.process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert self.process.stdout is not None
        reader = LineReader(self.process.stdout, self.log)
        while True:
            try:
                line = reader.next_line(START_DEADLINE)
            except queue.Empty:
                self.kill()
                raise RuntimeError(f"{self.name} printed no `{ready.pattern}` line within {START_DEADLINE}s:\n{self.log_text()}")
            if line is None:
                self.kill()
                raise RuntimeError(f"{self.name} exited before it served:\n{self.log_text()}")
            found = ready.search(line)
            if found:
                return found

    def stop(self) -> None:
        """SIGTERM, then waits for the exit (RuntimeError after the deadline, having killed it)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"{self.name} did not exit within {STOP_DEADLINE}s of SIGTERM") from None

    def kill(self) -> None:
        """Kills it at once (teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_text(self) -> str:
        """Returns everything it printed, every start included."""
        return "".join(self.log)


class DevCluster(ServerProcess):
    """`agentry dev --nodes 1` on a data directory, restartable on the same port."""

    name = "agentry dev"

    def __init__(self, path: Path, model_url: str, data_dir: Path) -> None:
        super().__init__()
        self.path = path
        self.model_url = model_url
        self.data_dir = data_dir
        self.url = ""
        self.port = 0
        self.start()

    def start(self) -> None:
        """Starts it (on the port of the previous start, if any) and waits for its hub line."""
        env = {k: v for k, v in os.environ.items() if k not in ("AGENTRY_HUB", "AGENTRY_TOKEN", "RUST_LOG")}
        # A grace of 0 s: a stopping `agentry dev` hands its running run back at once (rather
        # than finishing it first), so a restart mid-run really breaks a followed trace.
        env.update(OPENAI_BASE_URL=self.model_url, OPENAI_API_KEY="scripted", AGENTRY_SHUTDOWN_GRACE="0s")
        command = [str(self.path), "dev", "--nodes", "1", "--listen", f"127.0.0.1:{self.port}"]
        command += ["--metrics-listen", "off", "--data-dir", str(self.data_dir)]
        self.url = self.launch(command, env, HUB_LINE).group(1)
        self.port = int(self.url.rsplit(":", 1)[1])

    def restart(self) -> None:
        """Stops it and starts it again on the same port and data directory."""
        self.stop()
        self.start()


def run_quietly(command: List[str]) -> None:
    """Runs a short command; raises RuntimeError with its output when it fails."""
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed (exit {done.returncode}):\n{done.stdout}")


def auth_file_entry(name: str, token: str, role: str, tenant: Optional[str] = None) -> str:
    """Returns one ``[[token]]`` table of a hub auth file (the token stored as its SHA-256)."""
    entry = f'[[token]]\nname = "{name}"\nsha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\nrole = "{role}"\n'
    if tenant is not None:
        entry += f'tenant = "{tenant}"\n'
    return entry


def dev_certs(path: Path, directory: Path, client: str) -> None:
    """`agentry certs dev`: a new CA in `directory` (``ca.pem``), a hub certificate for
    localhost, 127.0.0.1 and ::1 (``hub.pem``, ``hub-key.pem``) and one for `client`
    (``client-CLIENT.pem``, ``client-CLIENT-key.pem``)."""
    run_quietly([str(path), "certs", "dev", "--dir", str(directory), "--client", client])


class SecureHub(ServerProcess):
    """`agentry hub serve` with TLS (mutual TLS offered), an auth file and a SQLite database in
    `directory`; no NATS and no nodes, so spawned runs stay queued.

    Attributes:
        url: ``https://127.0.0.1:PORT``.
        certs: the directory of `agentry certs dev`'s files (``ca.pem``, ``hub.pem``,
            ``client-sdk-test.pem`` and ``client-sdk-test-key.pem`` among them).
        admin_token / viewer_token: tokens of ``sdk-admin`` (role admin, no tenant) and
            ``sdk-viewer`` (role viewer, tenant ``acme``).
    """

    CLIENT = "sdk-test"

    name = "the hub"

    def __init__(self, path: Path, directory: Path) -> None:
        super().__init__()
        self.certs = directory / "certs"
        self.admin_token = secrets.token_urlsafe(32)
        self.viewer_token = secrets.token_urlsafe(32)
        dev_certs(path, self.certs, self.CLIENT)
        auth_file = directory / "auth.toml"
        auth_file.write_text(
            auth_file_entry("sdk-admin", self.admin_token, "admin")
            + "\n"
            + auth_file_entry("sdk-viewer", self.viewer_token, "viewer", "acme")
        )
        command = [str(path), "hub", "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off"]
        command += ["--database-url", f"sqlite:{directory / 'hub.db'}"]
        command += ["--tls-cert", str(self.certs / "hub.pem"), "--tls-key", str(self.certs / "hub-key.pem")]
        command += ["--tls-client-ca", str(self.ca), "--auth-file", str(auth_file)]
        env = {k: v for k, v in os.environ.items() if k not in HUB_ENVIRONMENT}
        self.url = f"https://{self.launch(command, env, SERVING_LINE).group(1)}"

    @property
    def ca(self) -> Path:
        """The CA certificate that signed the hub's (and the client's) certificate."""
        return self.certs / "ca.pem"

    @property
    def client_cert(self) -> Path:
        """The ``sdk-test`` client certificate (for mutual TLS)."""
        return self.certs / f"client-{self.CLIENT}.pem"

    @property
    def client_key(self) -> Path:
        """The private key of :attr:`client_cert`."""
        return self.certs / f"client-{self.CLIENT}-key.pem"
