//! [`Client`]: the typed client of the hub's `AgentHub` API.

use std::time::Duration;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use agentry_proto::v1 as pb;
use agentry_proto::v1::agent_hub_client::AgentHubClient;

use crate::error::ClientError;
use crate::follow::{FollowOptions, follow};
use crate::options::{ClientBuilder, ClientOptions, Credentials, open_channel};

/// Largest gRPC message sent or accepted, in bytes (8 MiB): the hub's limit.
pub use agentry_core::limits::MAX_GRPC_MESSAGE_BYTES as MAX_MESSAGE_BYTES;

/// How long [`Client::connect`] waits for the connection to the hub (TCP, and the TLS
/// handshake for `https://`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A stream of trace events, as returned by [`Client::trace`].
pub type TraceStream = BoxStream<'static, Result<pb::TraceEvent, ClientError>>;

/// The connection with the credentials every call carries.
pub(crate) type HubChannel = InterceptedService<Channel, Credentials>;

/// A connection to a hub. Cheap to clone; clones share the connection (and its token and TLS
/// settings), which is re-established on the next call after it breaks.
///
/// ```no_run
/// use agentry_sdk::Client;
/// use agentry_sdk::proto::{AgentSpec, SpawnRequest, TraceRequest};
/// use futures::StreamExt;
///
/// # async fn example() -> Result<(), agentry_sdk::ClientError> {
/// let client = Client::connect("http://127.0.0.1:7700").await?;
/// let spec = AgentSpec { model: "openai:gpt-4o-mini".into(), ..AgentSpec::default() };
/// let spawned = client
///     .spawn(SpawnRequest { spec: Some(spec), input: Some("hello".into()), ..SpawnRequest::default() })
///     .await?;
/// let mut events = client.trace(TraceRequest { run_id: spawned.run_id, follow: true, ..TraceRequest::default() });
/// while let Some(event) = events.next().await {
///     let event = event?;
///     println!("#{} {} {}", event.seq, event.r#type, event.data);
/// }
/// # Ok(())
/// # }
/// ```
///
/// A hub with TLS and tokens: `Client::builder("https://hub:7700").token(token).tls(tls).connect()`
/// (see [`ClientOptions`]).
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    inner: AgentHubClient<HubChannel>,
    channel: Channel,
    credentials: Credentials,
}

impl Client {
    /// Connects to the hub at `url` (`http://host:port`; a bare `host:port` means `http://`;
    /// `https://` connects with TLS trusting the system's roots) without a token. Connects
    /// eagerly, so an unreachable hub fails here within [`CONNECT_TIMEOUT`].
    pub async fn connect(url: impl Into<String>) -> Result<Self, ClientError> {
        Self::connect_with(url, ClientOptions::default()).await
    }

    /// Connects to the hub at `url` with `options`: its token goes with every call, its TLS
    /// settings secure an `https://` connection (and every reconnection, e.g. of
    /// [`Client::follow_trace`]).
    ///
    /// Errors: [`ClientError::InvalidUrl`], [`ClientError::InvalidToken`];
    /// [`ClientError::Unreachable`] when nothing answers within [`CONNECT_TIMEOUT`];
    /// [`ClientError::Tls`] when the TLS handshake fails (a hub certificate from a CA not
    /// trusted, a hub that does not speak TLS).
    pub async fn connect_with(url: impl Into<String>, options: ClientOptions) -> Result<Self, ClientError> {
        let url = url.into();
        let credentials = Credentials::new(options.token.as_deref())?;
        let channel = open_channel(&url, options.tls.as_ref()).await?;
        Ok(Self::with_credentials(url, channel, credentials))
    }

    /// Returns a builder: `Client::builder(url).token(..).tls(..).connect()`.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// Returns a client over an existing `channel`, without a token; `url` names the hub in
    /// errors. See [`Client::with_token`].
    pub fn from_channel(url: impl Into<String>, channel: Channel) -> Self {
        Self::with_credentials(url.into(), channel, Credentials::default())
    }

    /// Returns this client sending `token` as `authorization: Bearer <token>` with every call
    /// (sharing the connection).
    ///
    /// Errors: [`ClientError::InvalidToken`] for a token that cannot be sent in a header.
    pub fn with_token(self, token: &str) -> Result<Self, ClientError> {
        let credentials = Credentials::new(Some(token))?;
        Ok(Self::with_credentials(self.url, self.channel, credentials))
    }

    fn with_credentials(url: String, channel: Channel, credentials: Credentials) -> Self {
        let inner = AgentHubClient::new(InterceptedService::new(channel.clone(), credentials.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Self { url, inner, channel, credentials }
    }

    /// Returns the hub URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Returns the connection with its credentials, shared by every call of this client (e.g.
    /// for [`crate::health`]).
    pub(crate) fn channel(&self) -> HubChannel {
        InterceptedService::new(self.channel.clone(), self.credentials.clone())
    }

    /// Returns who the hub takes this client for: actor (token name or JWT subject), role,
    /// tenant (empty for a cluster-wide admin) and how it was authenticated (`none`, `token`,
    /// `jwt`).
    pub async fn who_am_i(&self) -> Result<pb::WhoAmIResponse, ClientError> {
        self.unary(self.inner.clone().who_am_i(pb::WhoAmIRequest {}).await)
    }

    /// Lists audit records, newest first, as `request` says (`since`, `actor`, `limit` up to
    /// 1000, `page_token` from the previous page's `next_page_token`). Admins see every
    /// record, operators their tenant's; other roles are refused
    /// ([`ClientError::PermissionDenied`]).
    pub async fn list_audit(&self, request: pb::ListAuditRequest) -> Result<pb::ListAuditResponse, ClientError> {
        self.unary(self.inner.clone().list_audit(request).await)
    }

    /// Creates an agent and, when `request.input` is set, its first run.
    pub async fn spawn(&self, request: pb::SpawnRequest) -> Result<pb::SpawnResponse, ClientError> {
        let response = self.inner.clone().spawn(request).await;
        self.unary(response)
    }

    /// Sends user input to an agent, creating a run; `accepted` is false when the agent was busy
    /// and `on_busy` said to reject.
    pub async fn send_message(&self, request: pb::SendMessageRequest) -> Result<pb::SendMessageResponse, ClientError> {
        let response = self.inner.clone().send_message(request).await;
        self.unary(response)
    }

    /// Returns the trace events selected by `request`: the persisted ones after
    /// `request.after_seq`, then, with `request.follow`, new ones as they are committed. A
    /// stream for a `run_id` ends after that run's `run_finished` or `run_failed`.
    ///
    /// The call is made when the stream is first polled; its failure is the stream's only item.
    /// Use [`Client::open_trace`] to tell a refused call from a stream that broke later.
    pub fn trace(&self, request: pb::TraceRequest) -> TraceStream {
        let client = self.clone();
        futures::stream::once(async move { client.open_trace(request).await }).try_flatten().boxed()
    }

    /// Like [`Client::trace`], but makes the call first: returns once the hub accepted it.
    pub async fn open_trace(&self, request: pb::TraceRequest) -> Result<TraceStream, ClientError> {
        let events = self.unary(self.inner.clone().trace(request).await)?;
        let url = self.url.clone();
        Ok(events
            .map_err(move |status| ClientError::from_status(&url, status))
            .try_filter_map(|response| futures::future::ready(Ok(response.event)))
            .boxed())
    }

    /// Like [`Client::trace`], but a followed trace survives hub restarts: when the stream
    /// breaks (the hub is unavailable or restarting, the connection drops) it is reopened after
    /// the last `seq` received, with backoff, and no event is skipped or yielded twice. Gives up
    /// with [`ClientError::TraceInterrupted`] after 60 s without progress; see
    /// [`Client::follow_trace_with`].
    ///
    /// With `request.run_id`, the stream ends after that run's `run_finished`, `run_failed` or
    /// `run_cancelled`; a paused run is followed on until it is resumed and ends, or is
    /// cancelled. Without `request.follow`, the backlog is replayed once and a broken stream is
    /// an error, as with [`Client::trace`]. An error is always the stream's last item.
    ///
    /// ```no_run
    /// use agentry_sdk::Client;
    /// use agentry_sdk::proto::TraceRequest;
    /// use futures::StreamExt;
    ///
    /// # async fn example(client: Client, run_id: String) -> Result<(), agentry_sdk::ClientError> {
    /// let request = TraceRequest { run_id, follow: true, ..TraceRequest::default() };
    /// let mut events = client.follow_trace(request);
    /// while let Some(event) = events.next().await {
    ///     let event = event?;
    ///     if agentry_sdk::event_kind::ends_run(&event.r#type) {
    ///         println!("run ended with {}", event.r#type);
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn follow_trace(&self, request: pb::TraceRequest) -> TraceStream {
        self.follow_trace_with(request, FollowOptions::default())
    }

    /// Like [`Client::follow_trace`], with the give-up window, backoff and pause behaviour of
    /// `options`.
    pub fn follow_trace_with(&self, request: pb::TraceRequest, options: FollowOptions) -> TraceStream {
        follow(self.clone(), request, options)
    }

    /// Returns one agent with its latest run and the budget its model calls draw from (its own
    /// or an ancestor's; `budget` absent without one).
    pub async fn get_agent(&self, agent_id: impl Into<String>) -> Result<pb::Agent, ClientError> {
        let request = pb::GetAgentRequest { agent_id: agent_id.into() };
        let response = self.unary(self.inner.clone().get_agent(request).await)?;
        response.agent.ok_or_else(|| missing_field("GetAgentResponse.agent"))
    }

    /// Lists agents with their latest runs, newest first; `limit` 0 means the hub's maximum
    /// (1000). The first page only: see [`Client::list_agents_page`] for filters and more pages.
    pub async fn list_agents(&self, limit: u32) -> Result<Vec<pb::Agent>, ClientError> {
        let response = self.inner.clone().list_agents(pb::ListAgentsRequest { limit, ..Default::default() }).await;
        Ok(self.unary(response)?.agents)
    }

    /// Lists one page of agents with their latest runs, newest first, as `request` says: at
    /// most `limit` (0: the hub's maximum, 1000), only latest runs of `statuses` or
    /// dead-lettered ones, only those the search `query` finds (an agent or run id prefix, a
    /// model or label value it contains, or `key=value` for a label). The answer's
    /// `next_page_token`, passed as `page_token` with the same filters, continues the listing;
    /// it is empty on the last page.
    ///
    /// Errors: `InvalidArgument` for a query over 256 bytes, an unspecified or unknown status,
    /// or a page token the hub did not give.
    pub async fn list_agents_page(
        &self,
        request: pb::ListAgentsRequest,
    ) -> Result<pb::ListAgentsResponse, ClientError> {
        self.unary(self.inner.clone().list_agents(request).await)
    }

    /// Returns one run.
    pub async fn get_run(&self, run_id: impl Into<String>) -> Result<pb::Run, ClientError> {
        let request = pb::GetRunRequest { run_id: run_id.into() };
        let response = self.unary(self.inner.clone().get_run(request).await)?;
        response.run.ok_or_else(|| missing_field("GetRunResponse.run"))
    }

    /// Lists the nodes known to the hub.
    pub async fn list_nodes(&self) -> Result<Vec<pb::Node>, ClientError> {
        let response = self.inner.clone().list_nodes(pb::ListNodesRequest {}).await;
        Ok(self.unary(response)?.nodes)
    }

    /// Stops placing new runs on a node; returns the node.
    pub async fn cordon_node(&self, node_id: String) -> Result<pb::Node, ClientError> {
        let response = self.inner.clone().cordon_node(pb::CordonNodeRequest { node_id }).await;
        self.unary(response)?.node.ok_or_else(|| ClientError::missing("CordonNode", "node"))
    }

    /// Makes a cordoned or draining node receive new runs again; returns the node.
    pub async fn uncordon_node(&self, node_id: String) -> Result<pb::Node, ClientError> {
        let response = self.inner.clone().uncordon_node(pb::UncordonNodeRequest { node_id }).await;
        self.unary(response)?.node.ok_or_else(|| ClientError::missing("UncordonNode", "node"))
    }

    /// Drains a node; returns the node and how many not-yet-started runs moved elsewhere.
    pub async fn drain_node(&self, node_id: String) -> Result<(pb::Node, u32), ClientError> {
        let response = self.unary(self.inner.clone().drain_node(pb::DrainNodeRequest { node_id }).await)?;
        let node = response.node.ok_or_else(|| ClientError::missing("DrainNode", "node"))?;
        Ok((node, response.moved_runs))
    }

    /// Cancels a queued, running or paused run for good; `reason` is kept in the run's `error`
    /// and its `run_cancelled` event. Returns the run, now cancelled. A run that already ended
    /// is refused (`FailedPrecondition`); an unknown one is `NotFound`.
    pub async fn cancel_run(
        &self,
        run_id: impl Into<String>,
        reason: impl Into<String>,
    ) -> Result<pb::Run, ClientError> {
        let request = pb::CancelRunRequest { run_id: run_id.into(), reason: reason.into() };
        let response = self.unary(self.inner.clone().cancel_run(request).await)?;
        response.run.ok_or_else(|| ClientError::missing("CancelRun", "run"))
    }

    /// Pauses a queued or running run: it stops executing and stays paused (with a
    /// `run_paused` event) until [`Client::resume_run`] or [`Client::cancel_run`]. Returns the
    /// run, now paused. A run that ended is refused (`FailedPrecondition`).
    pub async fn pause_run(
        &self,
        run_id: impl Into<String>,
        reason: impl Into<String>,
    ) -> Result<pb::Run, ClientError> {
        let request = pb::PauseRunRequest { run_id: run_id.into(), reason: reason.into() };
        let response = self.unary(self.inner.clone().pause_run(request).await)?;
        response.run.ok_or_else(|| ClientError::missing("PauseRun", "run"))
    }

    /// Queues a paused run again; it continues from its last commit. Returns the run, now
    /// queued. A run that is not paused is refused (`FailedPrecondition`).
    pub async fn resume_run(&self, run_id: impl Into<String>) -> Result<pb::Run, ClientError> {
        self.resume_run_with(pb::ResumeRunRequest { run_id: run_id.into(), ..Default::default() }).await
    }

    /// Resumes a paused run as `request` says, e.g. after raising its agent's budget by
    /// `add_tokens` / `add_cost_usd` (FAILED_PRECONDITION when the agent has no budget).
    pub async fn resume_run_with(&self, request: pb::ResumeRunRequest) -> Result<pb::Run, ClientError> {
        let response = self.unary(self.inner.clone().resume_run(request).await)?;
        response.run.ok_or_else(|| ClientError::missing("ResumeRun", "run"))
    }

    /// Returns the cost and tokens of model calls, grouped as `request.by` says (root agent
    /// when unspecified; a sub-agent's calls count toward its root), costliest first, then by
    /// key; `request.window_ms` keeps only the calls of that many last milliseconds.
    /// `request.bucket_ms` (at least 1000; 0: none) splits each group into time buckets of that
    /// length (rows then by key, then `bucket_start`).
    pub async fn get_cost(&self, request: pb::GetCostRequest) -> Result<Vec<pb::CostRow>, ClientError> {
        Ok(self.unary(self.inner.clone().get_cost(request).await)?.rows)
    }

    /// Decides on the tool call a `WAITING_APPROVAL` run waits for (approve or deny, with a
    /// reason and who decides); returns the run, queued again.
    ///
    /// Errors: `NotFound` for an unknown run; `FailedPrecondition` when the run does not wait
    /// for that call.
    pub async fn approve(&self, request: pb::ApproveRequest) -> Result<pb::Run, ClientError> {
        let response = self.unary(self.inner.clone().approve(request).await)?;
        response.run.ok_or_else(|| ClientError::missing("Approve", "run"))
    }

    /// Returns approval requests with their decisions, newest first.
    pub async fn list_approvals(&self, request: pb::ListApprovalsRequest) -> Result<Vec<pb::Approval>, ClientError> {
        Ok(self.unary(self.inner.clone().list_approvals(request).await)?.approvals)
    }

    /// Loads a trace (its events, a source name, labels) as a new, read-only agent; returns its
    /// id, run ids and event count. The request must fit in [`MAX_MESSAGE_BYTES`] (a larger one
    /// fails with `OutOfRange` before it is sent).
    ///
    /// Errors: `InvalidArgument` naming the offending event field (`events[3].seq`) or limit.
    pub async fn import_trace(&self, request: pb::ImportTraceRequest) -> Result<pb::ImportTraceResponse, ClientError> {
        self.unary(self.inner.clone().import_trace(request).await)
    }

    /// Lists the role templates the hub knows, by name.
    pub async fn list_templates(&self) -> Result<Vec<pb::RoleTemplate>, ClientError> {
        let response = self.unary(self.inner.clone().list_templates(pb::ListTemplatesRequest {}).await)?;
        Ok(response.templates)
    }

    /// Forks an agent: `count` new agents sharing its conversation up to a point, each with a
    /// queued run that continues from there. `NotFound` for an unknown agent or run;
    /// `InvalidArgument` for a point outside the conversation.
    pub async fn fork(&self, request: pb::ForkRequest) -> Result<pb::ForkResponse, ClientError> {
        self.unary(self.inner.clone().fork(request).await)
    }

    /// Returns an agent's committed conversation, in order.
    pub async fn list_messages(&self, agent_id: impl Into<String>) -> Result<Vec<pb::Message>, ClientError> {
        let request = pb::ListMessagesRequest { agent_id: agent_id.into() };
        Ok(self.unary(self.inner.clone().list_messages(request).await)?.messages)
    }

    /// Returns an agent's delegation tree, depth first, with each agent's model use.
    pub async fn get_tree(&self, agent_id: impl Into<String>) -> Result<Vec<pb::TreeNode>, ClientError> {
        let request = pb::GetTreeRequest { agent_id: agent_id.into() };
        Ok(self.unary(self.inner.clone().get_tree(request).await)?.nodes)
    }

    fn unary<T>(&self, response: Result<tonic::Response<T>, tonic::Status>) -> Result<T, ClientError> {
        response.map(tonic::Response::into_inner).map_err(|status| ClientError::from_status(&self.url, status))
    }
}

/// A reply lacking a field the hub always sets is a protocol violation.
fn missing_field(field: &str) -> ClientError {
    ClientError::Status(tonic::Status::internal(format!("the hub's reply lacks {field}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connecting_to_a_closed_port_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let url = format!("http://{address}");
        let error = Client::connect(url.clone()).await.expect_err("nothing listens");
        assert_eq!(error.to_string(), format!("hub unreachable at {url}: connection refused"));
    }
}
