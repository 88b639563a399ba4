//! The web console with authentication on, in a real browser (Debian's Chromium driven by
//! `tests/console/auth.mjs` through `agentry_test_util::browser`): `agentry dev` with an auth
//! file of four tokens — `acme-client` (client of tenant `acme`), `globex-client` (client of
//! `globex`), `acme-viewer` (viewer of `acme`) and `ops` (admin of every tenant) — and a
//! scripted model.
//!
//! [`the_console_signs_in_with_a_token_and_sees_only_its_tenant`]: the page asks for a token
//! in its sign-in dialog; a wrong token is refused with the hub's own message and stored
//! nowhere; `acme-client`'s token lists the agent it spawned over gRPC and not `globex`'s,
//! follows its run live over SSE (`access_token`), finds `globex`'s agent missing, and shows
//! the hub's refusal of a cordon (an operator's action); "Sign out" forgets the token; the
//! viewer's token hides every write action. The refused cordon is in the audit log with the
//! browser's address.
//!
//! Needs `AGENTRY_CHROMIUM` and `AGENTRY_PLAYWRIGHT_DIR` (`eval "$(scripts/browser-deps.sh)"`,
//! which scripts/test.sh runs): without them it fails, saying so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

use agentry_sdk::proto as pb;
use agentry_test_util::browser::Browser;
use agentry_test_util::process_cluster::free_port;
use agentry_test_util::secure::{TokenSpec, auth_file};
use agentry_test_util::{Observed, Reply, ScriptedModel, eventually};

/// How long one step of the browser scenario may take (a page wait is 20 s at most).
const STEP: Duration = Duration::from_secs(45);
/// How long the dev cluster may take to start, and a run to reach a state.
const DEADLINE: Duration = Duration::from_secs(30);
/// What the run's echo call echoes, its answer, and its input.
const ECHO_TEXT: &str = "hello from behind a token";
const FINAL_TEXT: &str = "the signed-in console watched it";
const INPUT: &str = "a run of tenant acme";
/// A token the auth file does not hold.
const WRONG_TOKEN: &str = "token-nobody-knows";

/// Returns the tokens of the auth file.
fn tokens() -> [TokenSpec; 4] {
    [
        TokenSpec::new("acme-client", "client", Some("acme")),
        TokenSpec::new("globex-client", "client", Some("globex")),
        TokenSpec::new("acme-viewer", "viewer", Some("acme")),
        TokenSpec::new("ops", "admin", None),
    ]
}

/// Returns the secret of the token named `name`.
fn secret(name: &str) -> String {
    let token = tokens().into_iter().find(|token| token.name == name);
    token.unwrap_or_else(|| panic!("no token {name}")).secret()
}

/// `agentry dev` (hub and one in-process node, SQLite) with the auth file, as a process killed
/// on drop; it logs to `dev.log` in its directory.
struct DevHub {
    child: Child,
    grpc_url: String,
    http_url: String,
    dir: tempfile::TempDir,
}

impl DevHub {
    /// Starts `agentry dev` on free loopback ports, its node calling `model`, and waits until
    /// the node is ready (listed by the admin token).
    async fn start(model: &ScriptedModel) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("agentry-console-auth-").tempdir()?;
        let auth = dir.path().join("auth.toml");
        std::fs::write(&auth, auth_file(&tokens(), "")).context("writing the auth file")?;
        let config = dir.path().join("agentry.toml");
        std::fs::write(&config, format!("[hub]\nauth-file = {:?}\n", auth.display().to_string()))?;
        let grpc = format!("127.0.0.1:{}", free_port()?);
        let http = format!("127.0.0.1:{}", free_port()?);
        let log = std::fs::File::create(dir.path().join("dev.log")).context("creating dev.log")?;
        let data_dir = dir.path().join("data");
        let child = Command::new(env!("CARGO_BIN_EXE_agentry"))
            .arg("--config")
            .arg(&config)
            .args(["dev", "--nodes", "1", "--listen", &grpc, "--metrics-listen", &http, "--data-dir"])
            .arg(&data_dir)
            .env("OPENAI_BASE_URL", model.base_url())
            .env("RUST_LOG", "info,agentry=debug,agent_hub=debug")
            .env_remove("AGENTRY_HUB")
            .env_remove("AGENTRY_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting agentry dev")?;
        let hub = Self { child, grpc_url: format!("http://{grpc}"), http_url: format!("http://{http}"), dir };
        hub.wait_ready().await.map_err(|error| hub.with_log(error))?;
        Ok(hub)
    }

    /// Waits until the admin token lists a ready node.
    async fn wait_ready(&self) -> anyhow::Result<()> {
        eventually("agentry dev to list a ready node", DEADLINE, || async {
            let Ok(admin) = self.client("ops").await else {
                return Observed::NotYet("the hub does not answer yet".to_owned());
            };
            match admin.list_nodes().await {
                Ok(nodes) if nodes.iter().any(|node| node.state == pb::NodeState::Ready as i32) => Observed::Ready(()),
                Ok(nodes) => Observed::NotYet(format!("{} nodes, none ready", nodes.len())),
                Err(error) => Observed::NotYet(format!("ListNodes: {error}")),
            }
        })
        .await
    }

    /// Returns an SDK client sending the secret of the token named `name`.
    async fn client(&self, name: &str) -> anyhow::Result<agentry_sdk::Client> {
        Ok(agentry_sdk::Client::builder(self.grpc_url.clone()).token(secret(name)).connect().await?)
    }

    /// Adds the end of `dev.log` to `error`.
    fn with_log(&self, error: anyhow::Error) -> anyhow::Error {
        let log = std::fs::read_to_string(self.dir.path().join("dev.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        error.context(format!("agentry dev's log:\n{}", tail.join("\n")))
    }
}

impl Drop for DevHub {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("a temp dir")).keep();
            eprintln!("agentry dev's files kept in {}", kept.display());
        }
    }
}

/// Fails the test with `error` and its causes (the browser script's output among them).
fn fail<T>(error: anyhow::Error) -> T {
    panic!("{error:#}")
}

/// Returns the browser setup, or fails the test saying how to get one.
fn browser() -> Browser {
    Browser::from_env().unwrap_or_else(|error| panic!("{error:#}"))
}

/// Returns the path of this test's browser script.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/auth.mjs")
}

/// Returns `target/console-screenshots/` (next to the binary under test), created.
fn screenshots_dir() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_agentry"));
    let target = binary.parent().and_then(Path::parent).expect("the binary is in <target>/<profile>/");
    let dir = target.join("console-screenshots").join("auth");
    std::fs::create_dir_all(&dir).unwrap_or_else(|error| panic!("creating {}: {error}", dir.display()));
    dir
}

/// Sends a gateway request as the browser does — `GET /api/v1/whoami` or `POST
/// /agentry.v1.AgentHub/{method}` (when `method` is given) with `Authorization: Bearer
/// <token>` — and returns the HTTP status and the JSON answer.
async fn gateway(hub: &DevHub, method: Option<&str>, token: &str) -> (u16, Value) {
    let http = reqwest::Client::new();
    let request = match method {
        Some(method) => http
            .post(format!("{}/agentry.v1.AgentHub/{method}", hub.http_url))
            .header("content-type", "application/json")
            .body("{}"),
        None => http.get(format!("{}/api/v1/whoami", hub.http_url)),
    };
    let response = request.bearer_auth(token).send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// Spawns an agent as the token named `name`: with `input`, a run of the echo tool; without,
/// idle. Returns its id.
async fn spawn(hub: &DevHub, name: &str, input: Option<&str>) -> String {
    let spec = pb::AgentSpec { model: "openai:scripted".into(), tools: vec!["echo".into()], ..Default::default() };
    let request = pb::SpawnRequest { spec: Some(spec), input: input.map(str::to_owned), ..Default::default() };
    let client = hub.client(name).await.unwrap_or_else(|error| panic!("a client of {name}: {error:#}"));
    client.spawn(request).await.unwrap_or_else(|error| panic!("Spawn as {name}: {error}")).agent_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_with_a_token_and_sees_only_its_tenant() {
    let browser = browser();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let replies = vec![Reply::tool("echo", json!({ "text": ECHO_TEXT })), Reply::text(FINAL_TEXT)];
    let model = ScriptedModel::start(replies, Duration::ZERO).await.expect("scripted model");
    let hub = DevHub::start(&model).await.unwrap_or_else(|error| panic!("{error:#}"));

    // acme's agent, held by the model before its second step; globex's, idle.
    let gate = Arc::new(Notify::new());
    model.hold_step(1, gate.clone());
    let acme_agent = spawn(&hub, "acme-client", Some(INPUT)).await;
    eventually("the model to hold step 1 of acme's run", DEADLINE, || async {
        let held = model.requests().iter().any(|request| request.user_input == INPUT && request.step == 1);
        Observed::from_option(held.then_some(()), || format!("{} model requests", model.requests().len()))
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    let globex_agent = spawn(&hub, "globex-client", None).await;

    // What the hub answers the browser's refused calls: the page must show exactly this.
    let (status, wrong) = gateway(&hub, None, WRONG_TOKEN).await;
    assert_eq!((status, wrong["code"].as_str()), (401, Some("unauthenticated")), "{wrong}");
    let (status, denied) = gateway(&hub, Some("CordonNode"), &secret("acme-client")).await;
    assert_eq!((status, denied["code"].as_str()), (403, Some("permission_denied")), "{denied}");
    let (status, who) = gateway(&hub, None, &secret("acme-client")).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who, json!({ "identity": "acme-client", "role": "client", "tenant": "acme", "authenticated": true }));

    let env = [
        ("AGENTRY_CONSOLE_URL", hub.http_url.clone()),
        ("AGENTRY_ACME_AGENT", acme_agent.clone()),
        ("AGENTRY_GLOBEX_AGENT", globex_agent.clone()),
        ("AGENTRY_CLIENT_TOKEN", secret("acme-client")),
        ("AGENTRY_CLIENT_LABEL", "acme-client · client · acme".to_owned()),
        ("AGENTRY_VIEWER_TOKEN", secret("acme-viewer")),
        ("AGENTRY_WRONG_TOKEN", WRONG_TOKEN.to_owned()),
        ("AGENTRY_WRONG_MESSAGE", wrong["message"].as_str().expect("a message").to_owned()),
        ("AGENTRY_CLIENT_DENIED", denied["message"].as_str().expect("a message").to_owned()),
        ("AGENTRY_SCREENSHOT_DIR", screenshots_dir().display().to_string()),
    ]
    .map(|(key, value)| (key.to_owned(), value));
    let mut page = browser.run_script(&script(), &env).expect("node auth.mjs");

    page.expect("signin", STEP).await.unwrap_or_else(fail);
    let listed = page.expect_json("listed", STEP).await.unwrap_or_else(fail);
    let agents: Vec<&str> = listed["agents"].as_array().expect("agents").iter().filter_map(Value::as_str).collect();
    assert_eq!(agents, [acme_agent.as_str()], "acme's token lists acme's agent only (not {globex_agent})");
    assert_eq!(listed["identity"], "acme-client · client · acme");

    // The page follows the run while the model holds it; released, the run completes and the
    // page sees it over the same stream.
    let held = page.expect_json("held", STEP).await.unwrap_or_else(fail);
    page.send("go").await.expect("go");
    gate.notify_one();
    let completed = page.expect_json("completed", STEP).await.unwrap_or_else(fail);
    assert!(completed["steps"].as_u64() > held["steps"].as_u64(), "the timeline grew live: {held} → {completed}");
    assert!(completed["traceRequests"].as_u64() >= Some(1), "{completed}");
    let acme = hub.client("acme-client").await.expect("client");
    let agent = acme.get_agent(acme_agent.as_str()).await.expect("GetAgent");
    let run = agent.latest_run.expect("a run");
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");

    let viewer = page.expect_json("viewer", STEP).await.unwrap_or_else(fail);
    assert_eq!(viewer["identity"], "acme-viewer · viewer · acme");
    let done = page.expect_json("done", STEP).await.unwrap_or_else(fail);
    page.finish(STEP).await.unwrap_or_else(fail);
    eprintln!("the console's requests: {done}");
    let paths: Vec<&str> = done["paths"].as_array().expect("paths").iter().filter_map(Value::as_str).collect();
    assert!(paths.contains(&"/api/v1/trace") && paths.contains(&"/api/v1/whoami"), "{paths:?}");

    // The cordon the console tried is in the audit log as refused, besides this test's own
    // probe, each with the caller's identity and address.
    let admin = hub.client("ops").await.expect("client");
    let refused = eventually("the refused cordons in the audit log", DEADLINE, || async {
        let request = pb::ListAuditRequest { actor: "acme-client".into(), limit: 1000, ..Default::default() };
        let records = match admin.list_audit(request).await {
            Ok(listed) => listed.records,
            Err(error) => return Observed::NotYet(format!("ListAudit: {error}")),
        };
        let refused: Vec<pb::AuditRecord> = records
            .iter()
            .filter(|record| record.action == "CordonNode" && record.outcome == "PERMISSION_DENIED")
            .cloned()
            .collect();
        let count = refused.len();
        Observed::from_option((count >= 2).then_some(refused), || format!("{count} of {} records", records.len()))
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    for record in &refused {
        assert_eq!((record.role.as_str(), record.tenant.as_str()), ("client", "acme"), "{record:?}");
        assert_eq!(record.detail, denied["message"], "{record:?}");
        assert!(record.source.starts_with("127.0.0.1:"), "the audit record names the caller's address: {record:?}");
    }
}
