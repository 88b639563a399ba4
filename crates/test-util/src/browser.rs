//! [`Browser`]: real Chromium driven by playwright-core scripts, for the web console's tests.
//!
//! `scripts/browser-deps.sh` installs Debian's `chromium` and a pinned npm `playwright-core`
//! and prints `AGENTRY_CHROMIUM` (the browser) and `AGENTRY_PLAYWRIGHT_DIR` (the directory
//! holding `node_modules/playwright-core`); `scripts/test.sh` exports both. [`Browser::from_env`]
//! fails, naming that script, when they are unset: a browser test never skips silently.
//!
//! [`Browser::run_script`] runs `node SCRIPT` with both variables (and the test's own) in its
//! environment. The script and the test talk over a line protocol: the script prints
//! `@@ NAME [JSON]` lines when it reached a point of its scenario ([`BrowserScript::expect`]
//! waits for the next one and returns its JSON text), `@@ fail MESSAGE` when it gives up, and
//! reads commands on its stdin ([`BrowserScript::send`]), e.g. to wait until the test opened a
//! gate of the scripted model. Every other line it prints, on stdout or stderr, is copied to
//! the test's stderr with a `[browser]` prefix and kept for the error messages.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How many lines of the script's output an error quotes.
const QUOTED_LINES: usize = 40;

/// Where Chromium and playwright-core are (from `scripts/browser-deps.sh`).
#[derive(Debug, Clone)]
pub struct Browser {
    /// The Chromium executable (`AGENTRY_CHROMIUM`).
    pub chromium: PathBuf,
    /// The directory holding `node_modules/playwright-core` (`AGENTRY_PLAYWRIGHT_DIR`).
    pub playwright_dir: PathBuf,
}

impl Browser {
    /// Reads `AGENTRY_CHROMIUM` and `AGENTRY_PLAYWRIGHT_DIR`.
    ///
    /// Errors when either is unset or does not point at an installation, saying to run
    /// `scripts/browser-deps.sh`.
    pub fn from_env() -> anyhow::Result<Self> {
        let hint = "run `eval \"$(scripts/browser-deps.sh)\"` first (scripts/test.sh does): it installs Debian's \
                    chromium and the pinned npm playwright-core and exports AGENTRY_CHROMIUM and \
                    AGENTRY_PLAYWRIGHT_DIR";
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
                .ok_or_else(|| anyhow!("{name} is not set: the browser tests need a real Chromium; {hint}"))
        };
        let chromium = var("AGENTRY_CHROMIUM")?;
        let playwright_dir = var("AGENTRY_PLAYWRIGHT_DIR")?;
        if !chromium.is_file() {
            bail!("AGENTRY_CHROMIUM={} is not a file; {hint}", chromium.display());
        }
        let manifest = playwright_dir.join("node_modules/playwright-core/package.json");
        if !manifest.is_file() {
            bail!("AGENTRY_PLAYWRIGHT_DIR={} holds no playwright-core; {hint}", playwright_dir.display());
        }
        Ok(Self { chromium, playwright_dir })
    }

    /// Starts `node script` with `AGENTRY_CHROMIUM`, `AGENTRY_PLAYWRIGHT_DIR` and `env`; its
    /// stdin is the command channel of [`BrowserScript::send`]. The process is killed on drop.
    pub fn run_script(&self, script: &Path, env: &[(String, String)]) -> anyhow::Result<BrowserScript> {
        let mut child = Command::new("node")
            .arg(script)
            .env("AGENTRY_CHROMIUM", &self.chromium)
            .env("AGENTRY_PLAYWRIGHT_DIR", &self.playwright_dir)
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting node {} (is Node.js installed?)", script.display()))?;
        let name = script.file_name().map_or_else(|| script.display().to_string(), |n| n.to_string_lossy().into());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sender, messages) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().context("the script's stdout")?;
        let stderr = child.stderr.take().context("the script's stderr")?;
        tokio::spawn(forward(BufReader::new(stdout), name.clone(), log.clone(), Some(sender)));
        tokio::spawn(forward(BufReader::new(stderr), name.clone(), log.clone(), None));
        let stdin = child.stdin.take();
        Ok(BrowserScript { name, child, stdin, messages, log })
    }
}

/// Copies the lines of `reader` to stderr and `log`; `@@` lines of stdout go to `messages`.
async fn forward<R: tokio::io::AsyncBufRead + Unpin>(
    reader: R,
    name: String,
    log: Arc<Mutex<Vec<String>>>,
    messages: Option<mpsc::UnboundedSender<String>>,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match (&messages, line.strip_prefix("@@ ")) {
            (Some(messages), Some(message)) => {
                eprintln!("[browser {name}] @@ {}", shorten(message));
                let _ = messages.send(message.to_owned());
            }
            _ => {
                eprintln!("[browser {name}] {line}");
                log.lock().expect("log lock poisoned").push(line);
            }
        }
    }
}

/// Returns `text` cut to 300 characters, for echoing long JSON messages.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A running playwright-core script (see the module documentation); killed on drop.
pub struct BrowserScript {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    messages: mpsc::UnboundedReceiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl BrowserScript {
    /// Waits for the script's next `@@` message and returns its text after the name (trimmed;
    /// empty when there is none).
    ///
    /// Errors when the next message has another name (`@@ fail MESSAGE` quotes its message),
    /// the script exits first, or nothing comes within `timeout`; the error quotes the
    /// script's last lines of output.
    pub async fn expect(&mut self, name: &str, timeout: Duration) -> anyhow::Result<String> {
        let message = match tokio::time::timeout(timeout, self.messages.recv()).await {
            Ok(Some(message)) => message,
            Ok(None) => {
                let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
                let status = status.map_or_else(|_| "still running".to_owned(), |s| describe_exit(s.ok()));
                return Err(self.failure(format!("the script ended ({status}) before `@@ {name}`")));
            }
            Err(_) => return Err(self.failure(format!("no `@@ {name}` within {timeout:?}"))),
        };
        let (got, rest) = message.split_once(' ').unwrap_or((&message, ""));
        if got == "fail" {
            return Err(self.failure(format!("the script failed while the test awaited `@@ {name}`: {rest}")));
        }
        if got != name {
            return Err(
                self.failure(format!("the script said `@@ {}` where the test awaited `@@ {name}`", shorten(&message)))
            );
        }
        Ok(rest.trim().to_owned())
    }

    /// Like [`Self::expect`], parsing the message's text as JSON.
    pub async fn expect_json(&mut self, name: &str, timeout: Duration) -> anyhow::Result<serde_json::Value> {
        let text = self.expect(name, timeout).await?;
        serde_json::from_str(&text).with_context(|| format!("`@@ {name}` carries no JSON: {text}"))
    }

    /// Writes `line` (one command) to the script's stdin.
    pub async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("the script's stdin is closed")?;
        let written = async {
            stdin.write_all(format!("{line}\n").as_bytes()).await?;
            stdin.flush().await
        };
        written.await.map_err(|error| self.failure(format!("sending {line:?} to the script: {error}")))
    }

    /// Closes the script's stdin and waits up to `timeout` for it to exit.
    ///
    /// Errors when it exits non-zero, sends an `@@` message nobody awaited, or still runs
    /// after `timeout` (it is then killed).
    pub async fn finish(mut self, timeout: Duration) -> anyhow::Result<()> {
        self.stdin = None;
        let status = match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.context("waiting for the script")?,
            Err(_) => {
                let _ = self.child.kill().await;
                return Err(self.failure(format!("still running {timeout:?} after its last step (killed)")));
            }
        };
        if let Ok(message) = self.messages.try_recv() {
            return Err(
                self.failure(format!("the script said `@@ {}` which the test did not await", shorten(&message)))
            );
        }
        if !status.success() {
            return Err(self.failure(format!("the script exited with {status}")));
        }
        Ok(())
    }

    /// Returns the lines the script printed (besides its `@@` messages) so far.
    pub fn output(&self) -> Vec<String> {
        self.log.lock().expect("log lock poisoned").clone()
    }

    /// Returns an error naming the script, `what` happened and its last lines of output.
    fn failure(&self, what: String) -> anyhow::Error {
        let log = self.output();
        let tail = &log[log.len().saturating_sub(QUOTED_LINES)..];
        anyhow!("browser script {}: {what}; its last output:\n{}", self.name, tail.join("\n"))
    }
}

fn describe_exit(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "exit status unknown".to_owned(), |status| status.to_string())
}
