//! [`TaskQueue`] over NATS JetStream.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, message::PublishMessage, stream};
use async_trait::async_trait;
use futures::StreamExt;

use agentry_core::{NodeId, TraceParent};

use crate::hints::NatsEventHints;
use crate::tls::{NatsTls, hint};
use crate::{
    Acker, BrokerError, Delivery, Result, TRACEPARENT_HEADER, Task, TaskQueue, TaskSubscription, task_subject,
};

/// JetStream layout and timing.
#[derive(Debug, Clone)]
pub struct JetStreamConfig {
    /// NATS server URL, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// Stream name (default `AGENTRY_TASKS`).
    pub stream: String,
    /// Window in which a repeated `Nats-Msg-Id` is dropped (default 2 min).
    pub duplicate_window: Duration,
    /// How long a delivered task may go without ack or progress before redelivery (default 30 s).
    pub ack_wait: Duration,
    /// Most tasks a subscription asks the server for at once (default 64; a node sets its
    /// slots). The subscription keeps one pull open and asks for more when half were taken.
    pub pull_batch: usize,
    /// TLS of the connection (default: the system's CAs, TLS when the URL is `tls://` or the
    /// server requires it).
    pub tls: NatsTls,
}

impl JetStreamConfig {
    /// Returns the default layout for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: "AGENTRY_TASKS".into(),
            duplicate_window: Duration::from_secs(120),
            ack_wait: Duration::from_secs(30),
            pull_batch: 64,
            tls: NatsTls::default(),
        }
    }
}

/// Tasks on a JetStream work-queue stream.
#[derive(Clone)]
pub struct JetStreamQueue {
    client: async_nats::Client,
    context: jetstream::Context,
    stream: stream::Stream,
    config: JetStreamConfig,
}

impl JetStreamQueue {
    /// Connects (then reconnects forever after connection losses) and creates the stream if it
    /// does not exist.
    ///
    /// Errors with [`BrokerError::Unavailable`] when the server cannot be reached now.
    pub async fn connect(config: JetStreamConfig) -> Result<Self> {
        let options = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5));
        let options = config.tls.apply(options, &config.url)?;
        let connect = async_nats::connect_with_options(config.url.as_str(), options);
        let client = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| BrokerError::Unavailable(format!("no NATS server answered at {} within 10 s", config.url)))?
            .map_err(|error| {
                let error = error_chain(&error);
                BrokerError::Unavailable(format!("{}: {error}{}", config.url, hint(&config.tls, &error)))
            })?;
        let context = jetstream::new(client.clone());
        let stream_config = stream::Config {
            name: config.stream.clone(),
            subjects: vec!["agentry.tasks.>".into()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            duplicate_window: config.duplicate_window,
            ..Default::default()
        };
        let stream = context
            .get_or_create_stream(stream_config)
            .await
            .map_err(|error| BrokerError::Unavailable(format!("creating stream {}: {error}", config.stream)))?;
        Ok(Self { client, context, stream, config })
    }

    /// Returns `(num_pending, num_ack_pending)` of the consumer of `node_id`: tasks not taken
    /// yet, and tasks taken and not acknowledged; `(0, 0)` for a node that never subscribed.
    async fn consumer_counts(&self, node_id: NodeId) -> Result<(u64, u64)> {
        let name = format!("node-{node_id}");
        match self.stream.consumer_info(&name).await {
            Ok(info) => Ok((info.num_pending, info.num_ack_pending as u64)),
            Err(error) if error.to_string().contains("not found") => Ok((0, 0)),
            Err(error) => Err(BrokerError::Unavailable(format!("reading consumer {name}: {error}"))),
        }
    }

    /// Returns event hints over this queue's NATS connection (core NATS subjects).
    pub fn event_hints(&self) -> NatsEventHints {
        NatsEventHints::new(self.client.clone())
    }
}

#[async_trait]
impl TaskQueue for JetStreamQueue {
    async fn publish(&self, node_id: NodeId, task: &Task) -> Result<()> {
        let payload = serde_json::to_vec(task).map_err(|error| BrokerError::Decode(error.to_string()))?;
        let mut publish = PublishMessage::build().payload(payload.into()).message_id(task.dedup_id());
        if let Some(trace_parent) = task.trace_parent {
            publish = publish.header(TRACEPARENT_HEADER, trace_parent.to_string().as_str());
        }
        let ack = self
            .context
            .send_publish(task_subject(node_id), publish)
            .await
            .map_err(|error| BrokerError::Unavailable(format!("publishing task: {error}")))?;
        ack.await.map_err(|error| BrokerError::Unavailable(format!("awaiting publish ack: {error}")))?;
        Ok(())
    }

    async fn subscribe(&self, node_id: NodeId) -> Result<Box<dyn TaskSubscription>> {
        let name = format!("node-{node_id}");
        let consumer_config = pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: task_subject(node_id),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: self.config.ack_wait,
            ..Default::default()
        };
        let consumer = self
            .stream
            .get_or_create_consumer(&name, consumer_config)
            .await
            .map_err(|error| BrokerError::Unavailable(format!("creating consumer {name}: {error}")))?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.config.pull_batch.max(1))
            .messages()
            .await
            .map_err(|error| BrokerError::Unavailable(format!("opening the pull of consumer {name}: {error}")))?;
        Ok(Box::new(JetStreamSubscription { messages }))
    }

    async fn backlog(&self, node_id: NodeId) -> Result<u64> {
        Ok(self.consumer_counts(node_id).await?.0)
    }

    async fn outstanding(&self, node_id: NodeId) -> Result<u64> {
        let (pending, ack_pending) = self.consumer_counts(node_id).await?;
        Ok(pending + ack_pending)
    }

    async fn retire(&self, node_id: NodeId) -> Result<()> {
        let name = format!("node-{node_id}");
        if let Err(error) = self.stream.delete_consumer(&name).await {
            // A node that never subscribed has no consumer; anything else is worth a retry.
            let message = error.to_string();
            if !message.contains("not found") {
                return Err(BrokerError::Unavailable(format!("deleting consumer {name}: {message}")));
            }
        }
        self.stream
            .purge()
            .filter(task_subject(node_id))
            .await
            .map_err(|error| BrokerError::Unavailable(format!("purging the tasks of node {node_id}: {error}")))?;
        Ok(())
    }
}

/// One long-lived pull per node: the server pushes tasks as they are published, up to
/// `pull_batch` ahead, instead of one pull request (and one inbox) per task. Tasks never wait
/// long in that buffer: the placer only assigns a node as many runs as it has slots.
struct JetStreamSubscription {
    messages: pull::Stream,
}

#[async_trait]
impl TaskSubscription for JetStreamSubscription {
    async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>> {
        let message = match tokio::time::timeout(wait, self.messages.next()).await {
            Err(_elapsed) => return Ok(None),
            Ok(None) => return Err(BrokerError::Unavailable("the task pull ended".into())),
            Ok(Some(message)) => message,
        };
        let message = message.map_err(|error| BrokerError::Unavailable(format!("pulling tasks: {error}")))?;
        let delivered = message.info().map(|info| info.delivered.max(1) as u64).unwrap_or(1);
        let task: Task = match serde_json::from_slice(&message.payload) {
            Ok(task) => Task { trace_parent: trace_parent_of(&message), ..task },
            Err(error) => {
                // A payload no node can read would be redelivered forever: terminate it.
                tracing::error!(%error, subject = %message.subject, "dropping undecodable task");
                let _ = message.ack_with(AckKind::Term).await;
                return Err(BrokerError::Decode(error.to_string()));
            }
        };
        Ok(Some(Delivery::new(task, delivered, Box::new(JetStreamAcker { message }))))
    }
}

/// Returns the task's trace context from its message header; a missing or malformed one only
/// loses the link to the run's trace.
fn trace_parent_of(message: &jetstream::Message) -> Option<TraceParent> {
    let header = message.headers.as_ref()?.get(TRACEPARENT_HEADER)?;
    TraceParent::parse(header.as_str())
}

struct JetStreamAcker {
    message: jetstream::Message,
}

#[async_trait]
impl Acker for JetStreamAcker {
    async fn ack(&self) -> Result<()> {
        // Fire and forget: a lost ack only redelivers a task whose run has ended or moved on,
        // and the run's epoch and status make the node drop it.
        self.message.ack().await.map_err(|error| BrokerError::Unavailable(format!("ack: {error}")))
    }

    async fn nak(&self, delay: Duration) -> Result<()> {
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|error| BrokerError::Unavailable(format!("nak: {error}")))
    }

    async fn in_progress(&self) -> Result<()> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(|error| BrokerError::Unavailable(format!("progress ack: {error}")))
    }
}

/// Returns `error` and its sources, joined by `: ` (async-nats keeps TLS reasons in sources).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
