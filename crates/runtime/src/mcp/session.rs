//! The MCP servers of one run: started (stdio, inside the sandbox) or connected to (streamable
//! HTTP) at the start of the run, reused by every call of the run, stopped with it.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_sandbox::{ConfinedChild, Confinement, NetworkAccess, ResourceLimits, Sandbox};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{IntoTransport, StreamableHttpClientTransport};
use rmcp::{RoleClient, ServiceExt};
use tokio::io::AsyncBufReadExt;
use tokio::process::ChildStderr;
use tokio::task::JoinHandle;
use tracing::{debug, info, instrument, warn};

use super::names::{http_host, is_valid_tool_name, tool_name, validate_servers};
use super::tool::McpTool;
use super::{McpError, McpServer};
use crate::tools::{FsScope, Tool};

/// Time a server has to initialize and list its tools.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Time the client has to close a connection (an HTTP server's session is deleted).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a stdio server has to exit once its stdin is closed, before its process tree is killed
/// (the MCP stdio shutdown sequence, without the `SIGTERM` step).
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Time the killed tree has to leave its cgroup leaf, and the killed server to be reaped.
const CLEAN_UP_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a stdio server that failed to initialize has to show it exited.
const EXITED_WAIT: Duration = Duration::from_millis(500);

/// Stderr lines of a stdio server kept for error messages.
const STDERR_TAIL_LINES: usize = 20;

type Client = RunningService<RoleClient, ClientConfig>;

/// The connected MCP servers of one run and their tools.
///
/// Dropping the session closes the connections and stops the stdio servers too (in a background
/// task, or by killing them when no Tokio runtime is running); [`McpSession::shutdown`] waits
/// for it.
#[derive(Default)]
pub struct McpSession {
    servers: Vec<ConnectedServer>,
}

struct ConnectedServer {
    name: String,
    client: Client,
    tools: Vec<Arc<McpTool>>,
    process: Option<ServerProcess>,
}

/// A stdio server's process tree, confined; dropping it kills the tree.
struct ServerProcess {
    pid: Option<u32>,
    child: ConfinedChild,
}

impl std::fmt::Debug for McpSession {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<&str> = self.server_names().collect();
        formatter.debug_struct("McpSession").field("servers", &servers).finish()
    }
}

impl McpSession {
    /// Connects to every server of `servers` (concurrently) and lists their tools. Stdio servers
    /// are started by `sandbox`, in `workspace`, with `limits` (CPU, memory, processes; not
    /// `wall_time`: a server lives until the session ends), with their `env` added to the
    /// sandbox's minimal environment, and with network access only when their config allows it.
    ///
    /// Errors with [`McpError::InvalidConfig`] when [`validate_servers`] rejects the config, or
    /// with an error naming the first server that could not be started, initialized or listed
    /// within [`CONNECT_TIMEOUT`]; the servers already started are stopped.
    #[instrument(skip_all, fields(servers = servers.len()))]
    pub async fn start(
        servers: &BTreeMap<String, McpServer>,
        sandbox: &Arc<dyn Sandbox>,
        workspace: &Path,
        limits: ResourceLimits,
    ) -> Result<Self, McpError> {
        validate_servers(servers).map_err(McpError::InvalidConfig)?;
        let connecting = servers.iter().map(|(name, server)| match server {
            McpServer::Stdio { command, env, network } => {
                let network = if *network { NetworkAccess::Any } else { NetworkAccess::None };
                let mut confinement = Confinement::new(workspace, network, limits.clone());
                confinement.env.extend(env.iter().map(|(name, value)| (name.clone(), value.clone())));
                futures::future::Either::Left(connect_stdio(name, command, sandbox.as_ref(), confinement))
            }
            McpServer::Http { url } => futures::future::Either::Right(connect_http(name, url)),
        });
        let servers = futures::future::try_join_all(connecting).await?;
        Ok(Self { servers })
    }

    /// Returns one tool per tool of every server, named `<server>__<tool>`. Tools whose prefixed
    /// name models would reject were skipped (with a warning) when the session started.
    pub fn tools(&self) -> Vec<Arc<dyn Tool>> {
        let tools = self.servers.iter().flat_map(|server| server.tools.iter());
        tools.map(|tool| Arc::clone(tool) as Arc<dyn Tool>).collect()
    }

    /// Returns the names of the connected servers.
    pub fn server_names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|server| server.name.as_str())
    }

    /// Returns the process id of the stdio server `server` (the sandbox's process when it wraps
    /// the server), or `None` for HTTP and unknown servers.
    pub fn process_id(&self, server: &str) -> Option<u32> {
        let server = self.servers.iter().find(|connected| connected.name == server)?;
        server.process.as_ref()?.pid
    }

    /// Closes every connection and stops the stdio servers, waiting until they have exited (or,
    /// after a grace period, have been killed). Calls of the session's tools fail afterwards.
    #[instrument(skip_all)]
    pub async fn shutdown(mut self) {
        close_all(std::mem::take(&mut self.servers)).await;
    }
}

impl Drop for McpSession {
    fn drop(&mut self) {
        let servers = std::mem::take(&mut self.servers);
        if servers.is_empty() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(close_all(servers))),
            // No runtime to close them gracefully: dropping kills every process tree.
            Err(_) => drop(servers),
        }
    }
}

async fn close_all(servers: Vec<ConnectedServer>) {
    futures::future::join_all(servers.into_iter().map(close_server)).await;
}

/// Closes one server: its connection (for stdio, its stdin), then, for stdio, waits briefly for
/// it to exit before killing what is left of its tree and reaping it.
async fn close_server(mut server: ConnectedServer) {
    let name = server.name.as_str();
    match server.client.close_with_timeout(CLOSE_TIMEOUT).await {
        Ok(Some(reason)) => debug!(server = name, ?reason, "mcp connection closed"),
        Ok(None) => warn!(server = name, timeout = ?CLOSE_TIMEOUT, "mcp connection did not close in time"),
        Err(error) => warn!(server = name, %error, "mcp client task failed"),
    }
    let Some(mut process) = server.process.take() else {
        return;
    };
    match tokio::time::timeout(EXIT_GRACE, process.child.child.wait()).await {
        Ok(Ok(status)) => debug!(server = name, %status, "mcp server exited"),
        Ok(Err(error)) => warn!(server = name, %error, "cannot wait for the mcp server"),
        Err(_) => {
            debug!(server = name, grace = ?EXIT_GRACE, "mcp server still runs after its stdin closed; killing it")
        }
    }
    process.child.clean_up(CLEAN_UP_TIMEOUT).await;
    let _ = tokio::time::timeout(CLEAN_UP_TIMEOUT, process.child.child.wait()).await;
}

/// Starts a stdio server under the sandbox and connects to it over its stdin and stdout.
async fn connect_stdio(
    name: &str,
    command: &[String],
    sandbox: &dyn Sandbox,
    confinement: Confinement,
) -> Result<ConnectedServer, McpError> {
    let Some((program, args)) = command.split_first() else {
        return Err(McpError::InvalidConfig(format!("spec.mcp_servers.{name}: command is empty")));
    };
    let network = confinement.network.clone();
    let sandbox_error =
        |error: agentry_sandbox::SandboxError| McpError::Sandbox { server: name.to_owned(), reason: error.to_string() };
    let mut confined = sandbox.command(program, args, &confinement).map_err(sandbox_error)?;
    confined.command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child =
        confined.spawn().map_err(|error| McpError::Spawn { server: name.to_owned(), reason: error.to_string() })?;
    let pid = child.child.id();
    info!(server = name, pid, sandbox = %child.description, "mcp server started");
    let stdin = child.child.stdin.take().expect("stdin is piped");
    let stdout = child.child.stdout.take().expect("stdout is piped");
    let stderr_tail = StderrTail::spawn(name, child.child.stderr.take());
    match tokio::time::timeout(CONNECT_TIMEOUT, initialize((stdout, stdin))).await {
        Ok(Ok((client, tools))) => {
            let tools = server_tools(name, tools, network, FsScope::WorkspaceWrite, &client);
            let process = ServerProcess { pid, child };
            Ok(ConnectedServer { name: name.to_owned(), client, tools, process: Some(process) })
        }
        Ok(Err(reason)) => {
            // A server that exits (bad arguments, missing config) shows up as a broken pipe;
            // its exit status and stderr say more.
            let reason = match tokio::time::timeout(EXITED_WAIT, child.child.wait()).await {
                Ok(Ok(status)) => format!("exited during initialization ({status})"),
                _ => reason,
            };
            child.kill_tree();
            let reason = format!("{reason}{}", stderr_tail.finish().await);
            Err(McpError::Connect { server: name.to_owned(), reason })
        }
        Err(_) => {
            child.kill_tree();
            let stderr = stderr_tail.finish().await;
            Err(McpError::Timeout { server: name.to_owned(), timeout: CONNECT_TIMEOUT, stderr })
        }
    }
}

/// Connects to a streamable-HTTP server.
async fn connect_http(name: &str, url: &str) -> Result<ConnectedServer, McpError> {
    let host = http_host(url).map_err(McpError::InvalidConfig)?;
    // reqwest is built without a default crypto provider; a second install is a no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = StreamableHttpClientTransportConfig::with_uri(url);
    let transport = StreamableHttpClientTransport::<reqwest::Client>::from_config(config);
    match tokio::time::timeout(CONNECT_TIMEOUT, initialize(transport)).await {
        Ok(Ok((client, tools))) => {
            let tools = server_tools(name, tools, NetworkAccess::Hosts(vec![host]), FsScope::None, &client);
            info!(server = name, url, tools = tools.len(), "mcp server connected");
            Ok(ConnectedServer { name: name.to_owned(), client, tools, process: None })
        }
        Ok(Err(reason)) => Err(McpError::Connect { server: name.to_owned(), reason: format!("{url}: {reason}") }),
        Err(_) => Err(McpError::Timeout { server: name.to_owned(), timeout: CONNECT_TIMEOUT, stderr: String::new() }),
    }
}

/// Initializes the MCP connection over `transport` and lists every page of tools.
async fn initialize<T, E, A>(transport: T) -> Result<(Client, Vec<rmcp::model::Tool>), String>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let info =
        ClientConfig::new(ClientCapabilities::default(), Implementation::new("agentry", env!("CARGO_PKG_VERSION")));
    let client = info.serve(transport).await.map_err(|error| format!("initialize failed: {error}"))?;
    let tools = client.peer().list_all_tools().await.map_err(|error| format!("tools/list failed: {error}"))?;
    Ok((client, tools))
}

/// Returns the server's tools as [`McpTool`]s, skipping those whose prefixed name is invalid.
fn server_tools(
    server: &str,
    tools: Vec<rmcp::model::Tool>,
    network: NetworkAccess,
    filesystem: FsScope,
    client: &Client,
) -> Vec<Arc<McpTool>> {
    let mut offered = Vec::with_capacity(tools.len());
    for tool in tools {
        let name = tool_name(server, &tool.name);
        if !is_valid_tool_name(&name) {
            warn!(server, tool = %tool.name, "mcp tool skipped: {name:?} does not match ^[a-zA-Z0-9_-]{{1,64}}$");
            continue;
        }
        offered.push(Arc::new(McpTool::new(server, tool, network.clone(), filesystem, client.peer().clone())));
    }
    offered
}

/// The last lines a stdio server wrote on stderr (each also logged at debug level).
struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl StderrTail {
    fn spawn(server: &str, stderr: Option<ChildStderr>) -> Self {
        let lines = Arc::new(Mutex::new(VecDeque::new()));
        let reader = stderr.map(|stderr| {
            let (server, tail) = (server.to_owned(), Arc::clone(&lines));
            tokio::spawn(async move {
                let mut reader = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    debug!(server = %server, line = %line, "mcp server stderr");
                    let mut tail = tail.lock().expect("stderr tail lock");
                    if tail.len() == STDERR_TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(agentry_core::limits::truncate_with_marker(&line, 500));
                }
            })
        });
        Self { lines, reader }
    }

    /// Waits (briefly) for the stream to end (the process was killed), then returns `"; stderr: …"`, or empty when the
    /// server wrote nothing.
    async fn finish(self) -> String {
        if let Some(reader) = self.reader {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        let lines = self.lines.lock().expect("stderr tail lock");
        if lines.is_empty() {
            return String::new();
        }
        format!("; stderr: {}", lines.iter().map(String::as_str).collect::<Vec<_>>().join(" | "))
    }
}
