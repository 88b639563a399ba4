//! MCP tools against real servers: `@modelcontextprotocol/server-everything` over stdio (unconfined
//! and in the default sandbox) and over streamable HTTP.
//!
//! The servers are npm packages installed by `scripts/mcp-servers.sh` into `$AGENTRY_MCP_DIR`
//! (default `~/.cache/agentry/mcp-servers`); a test runs the script itself when they are missing and fails
//! when it cannot (no node/npm), rather than skipping. Sandboxes mount a private `/tmp`, so that
//! directory must not be under `/tmp`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use agentry_core::McpServer;
use agentry_runtime::mcp::{McpError, McpSession};
use agentry_runtime::tools::{FsScope, InterruptPolicy, Tool, ToolContext, ToolError};
use agentry_sandbox::{NetworkAccess, ResourceLimits, Sandbox, SandboxKind, Unconfined};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

const EVERYTHING_ENTRY: &str = "node_modules/@modelcontextprotocol/server-everything/dist/index.js";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Returns `dist/index.js` of server-everything, installing the servers when missing.
fn everything_entry() -> PathBuf {
    let root = workspace_root();
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
    let default = cache.unwrap_or_else(|| root.join("target")).join("agentry/mcp-servers");
    let dir = std::env::var_os("AGENTRY_MCP_DIR").map_or(default, PathBuf::from);
    let entry = dir.join(EVERYTHING_ENTRY);
    if entry.exists() {
        return entry;
    }
    let script = root.join("scripts/mcp-servers.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .env("AGENTRY_MCP_DIR", &dir)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
    assert!(
        output.status.success() && entry.exists(),
        "{} failed ({}), so the MCP interop tests cannot run; it needs node and npm with access to \
         the npm registry.\nstderr:\n{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    entry
}

fn limits() -> ResourceLimits {
    ResourceLimits {
        cpu_seconds: None,
        memory_bytes: None,
        max_processes: None,
        wall_time: Duration::from_secs(600),
        max_output_bytes: 1 << 20,
    }
}

fn stdio_everything() -> BTreeMap<String, McpServer> {
    let entry = everything_entry().to_string_lossy().into_owned();
    let server = McpServer::Stdio {
        command: vec!["node".to_owned(), entry, "stdio".to_owned()],
        env: BTreeMap::new(),
        network: false,
    };
    BTreeMap::from([("everything".to_owned(), server)])
}

fn tool_named(tools: &[Arc<dyn Tool>], name: &str) -> Arc<dyn Tool> {
    let names: Vec<String> = tools.iter().map(|tool| tool.spec().name).collect();
    let tool = tools.iter().find(|tool| tool.spec().name == name);
    Arc::clone(tool.unwrap_or_else(|| panic!("no tool {name} among {names:?}")))
}

async fn call(tool: &Arc<dyn Tool>, workspace: &Path, arguments: Value) -> Result<String, ToolError> {
    let context = ToolContext::unconfined(workspace.to_path_buf(), tool.manifest(), Duration::from_secs(30));
    tool.call(&context, arguments).await
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Awaits the exit of `pid` (on a pidfd), failing after 20 s.
async fn wait_for_exit(pid: u32) {
    let exited = tokio::time::timeout(Duration::from_secs(20), agentry_sandbox::process_exit(pid)).await;
    assert!(matches!(exited, Ok(Ok(()))), "mcp server process {pid} still runs: {exited:?}");
}

/// Starts server-everything over stdio under `sandbox` and checks listing, calls, errors and
/// shutdown.
async fn check_stdio_server(sandbox: Arc<dyn Sandbox>) {
    let workspace = tempfile::tempdir().expect("workspace");
    let session =
        McpSession::start(&stdio_everything(), &sandbox, workspace.path(), limits()).await.unwrap_or_else(|error| {
            panic!(
                "server-everything does not start under sandbox {}: {error}\n(sandboxes hide /tmp: \
                 AGENTRY_MCP_DIR must be elsewhere)",
                sandbox.kind()
            )
        });
    let tools = session.tools();

    let echo = tool_named(&tools, "everything__echo");
    let spec = echo.spec();
    assert!(!spec.description.is_empty());
    assert_eq!(spec.parameters["properties"]["message"]["type"], "string", "{}", spec.parameters);
    let manifest = echo.manifest();
    assert!(manifest.idempotent, "echo has idempotentHint: true");
    assert_eq!(manifest.on_interrupt, InterruptPolicy::Retry);
    assert_eq!(manifest.filesystem, FsScope::WorkspaceWrite);
    assert_eq!(manifest.network, NetworkAccess::None);

    let output = call(&echo, workspace.path(), json!({"message": "hello from agentry"})).await;
    assert_eq!(output, Ok("Echo: hello from agentry".to_owned()));

    let bad = call(&echo, workspace.path(), json!({"message": 42})).await.unwrap_err();
    assert!(
        matches!(&bad, ToolError::Failed(text) | ToolError::InvalidArguments(text) if text.contains("message")),
        "bad arguments should fail naming the field: {bad:?}"
    );

    let image = call(&tool_named(&tools, "everything__get-tiny-image"), workspace.path(), json!({})).await;
    let image = image.expect("get-tiny-image works");
    assert!(image.contains("[image: image/png, "), "non-text parts are summarized: {image}");

    let pid = session.process_id("everything").expect("a stdio server has a pid");
    assert!(process_exists(pid));
    session.shutdown().await;
    wait_for_exit(pid).await;

    let after = call(&echo, workspace.path(), json!({"message": "late"})).await.unwrap_err();
    assert!(matches!(&after, ToolError::Failed(text) if text.contains("everything")), "{after:?}");
}

#[tokio::test]
async fn stdio_server_unconfined() {
    check_stdio_server(Arc::new(Unconfined)).await;
}

#[tokio::test]
async fn stdio_server_in_the_default_sandbox() {
    match agentry_sandbox::detect(None) {
        Ok(sandbox) => {
            if sandbox.kind() == SandboxKind::None {
                eprintln!("NOTE: the default sandbox is unconfined on this machine; MCP ran without confinement");
            }
            check_stdio_server(sandbox).await;
        }
        Err(error) => eprintln!(
            "\n!!!!!!!!!! WARNING: no default sandbox on this machine ({error}); the MCP stdio test ran \
             only unconfined !!!!!!!!!!\n"
        ),
    }
}

#[tokio::test]
async fn dropping_the_session_stops_the_server() {
    let workspace = tempfile::tempdir().expect("workspace");
    let sandbox: Arc<dyn Sandbox> = Arc::new(Unconfined);
    let session = McpSession::start(&stdio_everything(), &sandbox, workspace.path(), limits())
        .await
        .expect("server-everything starts");
    let pid = session.process_id("everything").expect("a stdio server has a pid");
    drop(session);
    wait_for_exit(pid).await;
}

/// server-everything in `streamableHttp` mode, killed on drop.
struct HttpEverything {
    _process: tokio::process::Child,
    url: String,
}

impl HttpEverything {
    /// Starts it on a free port and waits until it says it listens.
    async fn start() -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("local addr").port()
        };
        let mut process = tokio::process::Command::new("node")
            .arg(everything_entry())
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let mut stderr = tokio::io::BufReader::new(process.stderr.take().expect("stderr")).lines();
        let listening = async {
            while let Some(line) = stderr.next_line().await.expect("stderr line") {
                if line.contains("listening on port") {
                    return;
                }
                eprintln!("server-everything: {line}");
            }
            panic!("server-everything exited before listening");
        };
        tokio::time::timeout(Duration::from_secs(30), listening).await.expect("server-everything listens within 30 s");
        // Keep draining stderr so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        Self { _process: process, url: format!("http://127.0.0.1:{port}/mcp") }
    }
}

#[tokio::test]
async fn streamable_http_server() {
    let server = HttpEverything::start().await;
    let servers = BTreeMap::from([("remote".to_owned(), McpServer::Http { url: server.url.clone() })]);
    let workspace = tempfile::tempdir().expect("workspace");
    let sandbox: Arc<dyn Sandbox> = Arc::new(Unconfined);
    let session = McpSession::start(&servers, &sandbox, workspace.path(), limits()).await.expect("connects over http");
    assert_eq!(session.process_id("remote"), None);

    let echo = tool_named(&session.tools(), "remote__echo");
    let manifest = echo.manifest();
    assert_eq!(manifest.network, NetworkAccess::Hosts(vec!["127.0.0.1".to_owned()]));
    assert_eq!(manifest.filesystem, FsScope::None);
    let output = call(&echo, workspace.path(), json!({"message": "over http"})).await;
    assert_eq!(output, Ok("Echo: over http".to_owned()));
    session.shutdown().await;
}

#[tokio::test]
async fn a_server_that_exits_is_named_with_its_stderr() {
    let servers = BTreeMap::from([(
        "broken".to_owned(),
        McpServer::Stdio {
            command: vec!["sh".to_owned(), "-c".to_owned(), "echo 'no config found' >&2; exit 3".to_owned()],
            env: BTreeMap::new(),
            network: false,
        },
    )]);
    let workspace = tempfile::tempdir().expect("workspace");
    let sandbox: Arc<dyn Sandbox> = Arc::new(Unconfined);
    let error = McpSession::start(&servers, &sandbox, workspace.path(), limits()).await.unwrap_err();
    assert_eq!(error.server(), Some("broken"));
    let message = error.to_string();
    assert!(message.starts_with("mcp server broken: exited during initialization"), "{message}");
    assert!(message.contains("no config found"), "the error carries the server's stderr: {message}");
}

#[tokio::test]
async fn a_missing_program_and_an_invalid_config_are_rejected() {
    let workspace = tempfile::tempdir().expect("workspace");
    let sandbox: Arc<dyn Sandbox> = Arc::new(Unconfined);
    let missing = BTreeMap::from([(
        "ghost".to_owned(),
        McpServer::Stdio { command: vec!["/nonexistent/mcp-server".to_owned()], env: BTreeMap::new(), network: false },
    )]);
    let error = McpSession::start(&missing, &sandbox, workspace.path(), limits()).await.unwrap_err();
    assert!(
        matches!(&error, McpError::Spawn { server, reason } if server == "ghost" && reason.contains("/nonexistent/mcp-server")),
        "{error}"
    );
    assert_eq!(error.code(), agentry_core::ErrorCode::FailedPrecondition);

    let invalid =
        BTreeMap::from([("Bad Name".to_owned(), McpServer::Http { url: "http://127.0.0.1:1/mcp".to_owned() })]);
    let error = McpSession::start(&invalid, &sandbox, workspace.path(), limits()).await.unwrap_err();
    assert!(matches!(error, McpError::InvalidConfig(_)), "{error}");
}
