//! Streaming a run's model text to the hub: the agent loop's [`TokenSink`] queues each piece;
//! one task per run sends them in batches (the pieces that arrive within [`BATCH_WINDOW`] of
//! the first, at most [`BATCH_BYTES`]) with `PublishTokens`, best effort. A flush — the loop
//! asks for one before committing an answer — sends at once and returns once everything before
//! it went out, so followers see a step's text before its commit. Model calls are streamed
//! only while the hub says someone follows the agent (its answers to `LoadRun`, each commit and
//! each publish): an unwatched run asks for whole answers and costs nothing here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    followed: Arc<AtomicBool>,
}

#[async_trait]
impl TokenSink for Publisher {
    fn wanted(&self) -> bool {
        self.followed.load(Ordering::Relaxed)
    }

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
pub(crate) fn token_publisher(
    hub: HubClient,
    agent_id: AgentId,
    run_id: RunId,
    followed: Arc<AtomicBool>,
) -> (Publisher, JoinHandle<()>) {
    let (items, receiver) = mpsc::unbounded_channel();
    let publisher = Publisher { items, followed: followed.clone() };
    (publisher, tokio::spawn(publish(hub, agent_id, run_id, followed, receiver)))
}

async fn publish(
    hub: HubClient,
    agent_id: AgentId,
    run_id: RunId,
    followed: Arc<AtomicBool>,
    mut items: mpsc::UnboundedReceiver<Item>,
) {
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
        if !followed.load(Ordering::Relaxed) {
            continue;
        }
        match hub.publish_tokens(agent_id, run_id, step, text).await {
            Ok(still_followed) => followed.store(still_followed, Ordering::Relaxed),
            Err(error) => tracing::debug!(%error, "token text not published"),
        }
    }
}
