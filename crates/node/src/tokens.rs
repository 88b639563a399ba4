//! Streaming a run's model text to the hub: the agent loop's [`TokenSink`] queues each piece;
//! one task per run sends them in batches (the pieces that arrive within [`BATCH_WINDOW`] of
//! the first, at most [`BATCH_BYTES`]) with `PublishTokens`, best effort. A flush — the loop
//! asks for one before committing an answer — sends at once and returns once everything before
//! it went out, so followers see a step's text before its commit. When the hub says nobody
//! follows the agent, the rest of that model call's text is dropped on the node.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use agentry_core::{AgentId, RunId};
use agentry_runtime::agent_loop::TokenSink;

use crate::hub_client::HubClient;

/// How long pieces are gathered into one publish after the first.
const BATCH_WINDOW: Duration = Duration::from_millis(40);
/// Largest text of one publish, in bytes (the hub takes up to 64 KiB).
const BATCH_BYTES: usize = 16 * 1024;

/// What the loop hands the publisher.
#[derive(Debug)]
enum Item {
    /// A piece of model call `.0`'s answer.
    Text(u32, String),
    /// Answer once everything before went out.
    Flush(oneshot::Sender<()>),
}

/// The loop's side: queues pieces and flushes for the publisher task.
#[derive(Debug)]
pub(crate) struct Publisher {
    items: mpsc::UnboundedSender<Item>,
}

#[async_trait]
impl TokenSink for Publisher {
    fn push(&self, step: u32, text: &str) {
        let _ = self.items.send(Item::Text(step, text.to_owned()));
    }

    async fn flush(&self) {
        let (done, sent) = oneshot::channel();
        if self.items.send(Item::Flush(done)).is_ok() {
            let _ = sent.await;
        }
    }
}

/// Returns the sink for one run and the task that publishes what it receives; the task ends
/// once the sink is dropped.
pub(crate) fn token_publisher(hub: HubClient, agent_id: AgentId, run_id: RunId) -> (Publisher, JoinHandle<()>) {
    let (items, receiver) = mpsc::unbounded_channel();
    (Publisher { items }, tokio::spawn(publish(hub, agent_id, run_id, receiver)))
}

async fn publish(hub: HubClient, agent_id: AgentId, run_id: RunId, mut items: mpsc::UnboundedReceiver<Item>) {
    // The step whose text nobody follows: dropped here rather than sent.
    let mut unfollowed_step = None;
    let mut pending = None;
    loop {
        let item = match pending.take() {
            Some(item) => item,
            None => match items.recv().await {
                Some(item) => item,
                None => return,
            },
        };
        let (step, mut text) = match item {
            Item::Flush(done) => {
                let _ = done.send(());
                continue;
            }
            Item::Text(step, text) => (step, text),
        };
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while text.len() < BATCH_BYTES {
            match tokio::time::timeout_at(deadline, items.recv()).await {
                Ok(Some(Item::Text(same, more))) if same == step => text.push_str(&more),
                Ok(Some(other)) => {
                    pending = Some(other);
                    break;
                }
                Ok(None) | Err(_) => break,
            }
        }
        if unfollowed_step == Some(step) {
            continue;
        }
        match hub.publish_tokens(agent_id, run_id, step, text).await {
            Ok(true) => {}
            Ok(false) => unfollowed_step = Some(step),
            Err(error) => tracing::debug!(%error, "token text not published"),
        }
    }
}
