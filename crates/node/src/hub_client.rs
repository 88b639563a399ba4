//! [`HubClient`]: the node's only way to the hub — `NodeService` calls with domain types in and
//! out, and one retry policy for the calls that retry — and [`LeaseStream`], an open `Lease`
//! stream. An `https://` hub is reached over TLS ([`client_tls`]: the `tls-ca` the hub's
//! certificate is verified with, and the node's certificate `tls-cert`/`tls-key` for mutual
//! TLS).

use std::collections::BTreeMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::transport::{Channel, Endpoint};

use agentry_tls::{ClientTls, ClientTlsFiles, TlsError};

use agentry_core::limits::MAX_GRPC_MESSAGE_BYTES;
use agentry_core::{AgentId, CommitBatch, ErrorCode, Heartbeat, LoadedRun, NodeId, RunId};
use agentry_proto::convert::WireError;
use agentry_proto::convert::node_api::run_ids_from;
use agentry_proto::convert::status::status_error_code;
use agentry_proto::v1 as pb;
use agentry_proto::v1::node_service_client::NodeServiceClient;

use crate::config::{InvalidConfig, NodeConfig};
use crate::error::NodeError;

/// First delay of a retried call; doubles per attempt (with jitter).
const RETRY_MIN_DELAY: Duration = Duration::from_millis(100);
/// Largest delay between two attempts of a retried call.
const RETRY_MAX_DELAY: Duration = Duration::from_secs(2);
/// How long the hub's TCP connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the connection to the hub may be silent, while a call is open, before the node
/// pings it (HTTP/2 keepalive), so that a hub that vanished without a reset is noticed and the
/// call fails over to a new connection instead of hanging.
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
/// How long a keepalive ping may go unanswered before the connection is closed.
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(2);
/// Beats queued on a lease stream: one is answered before the next is sent.
const LEASE_BEATS_BUFFER: usize = 1;

/// A failed hub call: the kind of failure and the hub's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct HubCallError {
    /// What kind of failure (`FailedPrecondition`: fenced or no longer a member).
    pub code: ErrorCode,
    /// The hub's message, or the transport's.
    pub message: String,
}

impl HubCallError {
    /// Returns whether the hub refused because this node no longer owns the run or is no
    /// longer a member (FAILED_PRECONDITION).
    pub fn is_fenced(&self) -> bool {
        self.code == ErrorCode::FailedPrecondition
    }

    fn from_status(status: tonic::Status) -> Self {
        Self { code: status_error_code(&status), message: status.message().to_owned() }
    }

    fn from_wire(call: &str, error: WireError) -> Self {
        Self { code: ErrorCode::Internal, message: format!("{call} answered {error}") }
    }

    fn unavailable(message: &str) -> Self {
        Self { code: ErrorCode::Unavailable, message: message.to_owned() }
    }
}

/// The node's membership, as granted by `Join`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// This membership's identity.
    pub node_id: NodeId,
    /// How often to heartbeat (at least 100 ms).
    pub heartbeat_interval: Duration,
    /// How long the hub keeps the lease of a silent node (at least the heartbeat interval).
    pub lease_ttl: Duration,
}

/// A lazily connecting client of the hub's `NodeService`. Cheap to clone.
#[derive(Clone)]
pub struct HubClient {
    inner: NodeServiceClient<Channel>,
    tls: Option<ClientTls>,
}

impl HubClient {
    /// Returns a client of the hub at `url`; connects on first use. Each client has its own
    /// connection (the node's lease uses one of its own, so that its beats never queue behind
    /// commits). Must be called within a tokio runtime, which then drives the connection.
    ///
    /// Errors with [`NodeError::Hub`] when `url` is no valid URI.
    pub fn new(url: &str) -> Result<Self, NodeError> {
        Self::with_tls(url, None)
    }

    /// As [`HubClient::new`], reaching an `https://` hub over TLS with `tls` (`None`: the
    /// system's CAs, no client certificate); an `http://` hub in plaintext.
    ///
    /// Errors with [`NodeError::Hub`] when `url` is no valid URI or names no host.
    pub fn with_tls(url: &str, tls: Option<&ClientTls>) -> Result<Self, NodeError> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|error| NodeError::Hub { url: url.to_owned(), reason: format!("invalid URL: {error}") })?
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(HTTP2_KEEPALIVE_INTERVAL)
            .keep_alive_timeout(HTTP2_KEEPALIVE_TIMEOUT)
            .tcp_nodelay(true);
        let channel = agentry_tls::channel(endpoint, tls)
            .map_err(|error| NodeError::Hub { url: url.to_owned(), reason: error.to_string() })?;
        let inner = NodeServiceClient::new(channel)
            .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
        Ok(Self { inner, tls: tls.cloned() })
    }

    /// Returns the TLS settings this client reaches the hub with (for another connection of
    /// the same node, e.g. its lease's).
    pub fn tls(&self) -> Option<&ClientTls> {
        self.tls.as_ref()
    }

    /// Joins the cluster, retrying while the hub is unavailable for up to `within` of backoff
    /// (`None`: until it answers). Other refusals are returned at once.
    pub async fn join(
        &self,
        name: &str,
        slots: u32,
        labels: &BTreeMap<String, String>,
        within: Option<Duration>,
    ) -> Result<Membership, HubCallError> {
        let request = pb::JoinRequest { name: name.to_owned(), slots, labels: labels.clone().into_iter().collect() };
        let call = || async { self.inner.clone().join(request.clone()).await.map_err(HubCallError::from_status) };
        let response = call
            .retry(retry_policy(within))
            .sleep(tokio::time::sleep)
            .when(|error| error.code == ErrorCode::Unavailable)
            .notify(|error, _| tracing::debug!(%error, "hub not reachable yet"))
            .await?
            .into_inner();
        let node_id = agentry_proto::convert::id("node_id", &response.node_id)
            .map_err(|error| HubCallError::from_wire("join", error))?;
        let heartbeat_interval = Duration::from_millis(response.heartbeat_interval_ms.max(100));
        let lease_ttl = Duration::from_millis(response.lease_ttl_ms).max(heartbeat_interval);
        Ok(Membership { node_id, heartbeat_interval, lease_ttl })
    }

    /// Opens a `Lease` stream, waiting up to `timeout` for the hub to accept it.
    pub async fn open_lease(&self, timeout: Duration) -> Result<LeaseStream, HubCallError> {
        let (beats, outbound) = mpsc::channel(LEASE_BEATS_BUFFER);
        let answers = tokio::time::timeout(timeout, self.inner.clone().lease(ReceiverStream::new(outbound)))
            .await
            .map_err(|_| HubCallError {
                code: ErrorCode::Timeout,
                message: "opening the lease stream timed out".into(),
            })?
            .map_err(HubCallError::from_status)?
            .into_inner();
        Ok(LeaseStream { beats, answers })
    }

    /// Returns what executing `run_id` at `epoch` needs. One attempt: a failed load hands the
    /// task back to the broker, which redelivers it.
    pub async fn load_run(&self, run_id: RunId, epoch: u64) -> Result<LoadedRun, HubCallError> {
        let mut request = tonic::Request::new(pb::LoadRunRequest { run_id: run_id.to_string(), epoch });
        agentry_telemetry::propagation::inject(request.metadata_mut());
        let response = self.inner.clone().load_run(request).await.map_err(HubCallError::from_status)?.into_inner();
        LoadedRun::try_from(response).map_err(|error| HubCallError::from_wire("load_run", error))
    }

    /// Commits `batch`, retrying retryable failures (hub unreachable or restarting) for up to
    /// `within` of backoff. The batch's `commit_id` makes a retry of an applied commit harmless.
    pub async fn commit(&self, batch: &CommitBatch, within: Duration) -> Result<pb::CommitResponse, HubCallError> {
        let request = pb::CommitRequest::from(batch);
        let call = || async {
            let mut request = tonic::Request::new(request.clone());
            agentry_telemetry::propagation::inject(request.metadata_mut());
            self.inner.clone().commit(request).await.map_err(HubCallError::from_status)
        };
        call.retry(retry_policy(Some(within)))
            .sleep(tokio::time::sleep)
            .when(|error| error.code.is_retryable())
            .notify(|error, delay| {
                tracing::warn!(run_id = %batch.run_id, %error, ?delay, "commit failed, retrying");
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Hands streamed model text of `run_id`'s call `step` to the hub's followers; returns
    /// whether any follows. Best effort: one attempt.
    pub async fn publish_tokens(
        &self,
        agent_id: AgentId,
        run_id: RunId,
        step: u32,
        text: String,
    ) -> Result<bool, HubCallError> {
        let request =
            pb::PublishTokensRequest { agent_id: agent_id.to_string(), run_id: run_id.to_string(), step, text };
        let response = self.inner.clone().publish_tokens(request).await.map_err(HubCallError::from_status)?;
        Ok(response.into_inner().followed)
    }

    /// Leaves the cluster; returns how many runs the hub took back. One attempt, bounded by
    /// `timeout`.
    pub async fn leave(&self, node_id: NodeId, timeout: Duration) -> Result<u32, HubCallError> {
        let request = pb::LeaveRequest { node_id: node_id.to_string() };
        let response = tokio::time::timeout(timeout, self.inner.clone().leave(request))
            .await
            .map_err(|_| HubCallError { code: ErrorCode::Timeout, message: "hub unreachable on leave".to_owned() })?
            .map_err(HubCallError::from_status)?;
        Ok(response.into_inner().released_runs)
    }
}

/// Returns the TLS settings of the node's connections to the hub, read from `tls-ca`,
/// `tls-cert` and `tls-key`: `None` for an `http://` hub without them (plaintext).
///
/// Errors with [`NodeError::Config`] naming the key whose file is unusable (the message names
/// the file), or `tls-ca` when it is unset and the system has no CA certificates.
pub fn client_tls(config: &NodeConfig) -> Result<Option<ClientTls>, NodeError> {
    let configured = config.tls_ca.is_some() || config.tls_cert.is_some() || config.tls_key.is_some();
    if !config.hub.starts_with("https://") {
        if configured {
            tracing::warn!(hub = %config.hub, "tls-ca, tls-cert or tls-key is set but the hub URL is http://: plaintext");
        } else {
            return Ok(None);
        }
    }
    let files =
        ClientTlsFiles { ca: config.tls_ca.clone(), cert: config.tls_cert.clone(), key: config.tls_key.clone() };
    let tls = ClientTls::load(files).map_err(|error| {
        let key = tls_key_of(&error, config);
        NodeError::Config(InvalidConfig::new(key, error.to_string()))
    })?;
    Ok(Some(tls))
}

/// Returns the configuration key whose file `error` is about.
fn tls_key_of(error: &TlsError, config: &NodeConfig) -> &'static str {
    match error.path() {
        Some(path) if config.tls_cert.as_deref() == Some(path) => "tls-cert",
        Some(path) if config.tls_key.as_deref() == Some(path) => "tls-key",
        _ => "tls-ca",
    }
}

/// An open `Lease` stream: each beat gets one answer, in order.
pub struct LeaseStream {
    beats: mpsc::Sender<pb::LeaseRequest>,
    answers: Streaming<pb::LeaseResponse>,
}

impl LeaseStream {
    /// Sends `beat` and waits up to `timeout` for its answer: the runs of its leases the node
    /// no longer owns. An error ends the stream: FAILED_PRECONDITION or NOT_FOUND when the node
    /// is no longer a member, UNAVAILABLE when the stream closed, TIMEOUT without an answer.
    pub async fn beat(&mut self, beat: &Heartbeat, timeout: Duration) -> Result<Vec<RunId>, HubCallError> {
        let exchange = async {
            self.beats
                .send(pb::LeaseRequest::from(beat))
                .await
                .map_err(|_| HubCallError::unavailable("the lease stream is closed"))?;
            match self.answers.message().await {
                Ok(Some(answer)) => run_ids_from("revoked_run_ids", &answer.revoked_run_ids)
                    .map_err(|error| HubCallError::from_wire("lease", error)),
                Ok(None) => Err(HubCallError::unavailable("the hub ended the lease stream")),
                Err(status) => Err(HubCallError::from_status(status)),
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HubCallError { code: ErrorCode::Timeout, message: "no answer to a beat in time".to_owned() })?
    }

    /// Waits until the hub's side says something unprompted — it only answers beats, so this
    /// is the stream breaking or ending — and returns why. Cancel-safe: use it between beats.
    pub async fn broken(&mut self) -> HubCallError {
        match self.answers.message().await {
            Ok(Some(_)) => HubCallError { code: ErrorCode::Internal, message: "an answer to no beat".to_owned() },
            Ok(None) => HubCallError::unavailable("the hub ended the lease stream"),
            Err(status) => HubCallError::from_status(status),
        }
    }

    /// Ends the stream on purpose (half-close) and waits up to `timeout` for the hub to end its
    /// side, so that the hub does not take the end for a broken connection.
    pub async fn close(self, timeout: Duration) {
        let Self { beats, mut answers } = self;
        drop(beats);
        let drained = async { while let Ok(Some(_)) = answers.message().await {} };
        let _ = tokio::time::timeout(timeout, drained).await;
    }
}

/// The node's one retry policy: exponential backoff from 100 ms doubling to 2 s, with jitter,
/// for up to `within` of accumulated delay (`None`: forever).
fn retry_policy(within: Option<Duration>) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(RETRY_MIN_DELAY)
        .with_max_delay(RETRY_MAX_DELAY)
        .with_jitter()
        .without_max_times()
        .with_total_delay(within)
}

#[cfg(test)]
mod tests {
    use backon::BackoffBuilder;

    use super::*;

    #[test]
    fn the_retry_policy_stops_within_its_window() {
        let delays: Vec<Duration> = retry_policy(Some(Duration::from_secs(10))).build().collect();
        assert!(delays.iter().sum::<Duration>() <= Duration::from_secs(10), "{delays:?}");
        assert!(delays.iter().all(|delay| *delay <= RETRY_MAX_DELAY * 2), "{delays:?}");
        assert!(retry_policy(None).build().take(1000).count() == 1000, "no window: retries forever");
    }
}
