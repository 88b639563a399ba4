//! [`TaskQueue`] in process, for `agentry dev` and tests: per-node FIFO queues with
//! de-duplication by `run_id:epoch` and redelivery on nak.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use agentry_core::NodeId;

use crate::{Acker, Delivery, Result, Task, TaskQueue, TaskSubscription};

/// An in-process broker. Cheap to clone; clones share the queues.
#[derive(Clone)]
pub struct MemoryQueue {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queues: HashMap<NodeId, NodeQueue>,
    published: HashSet<String>,
    /// Tasks delivered to each node and not acked yet (being handled, or naked and waiting for
    /// their redelivery).
    unacked: HashMap<NodeId, u64>,
}

#[derive(Default)]
struct NodeQueue {
    pending: VecDeque<(Task, u64)>,
    notify: Arc<Notify>,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryQueue {
    /// Returns an empty broker.
    pub fn new() -> Self {
        Self { shared: Arc::new(Shared { state: Mutex::new(State::default()) }) }
    }

    /// Returns how many tasks wait for `node_id` (not counting delivered, unacked ones).
    pub fn pending(&self, node_id: NodeId) -> usize {
        let state = self.shared.state.lock().expect("broker state poisoned");
        state.queues.get(&node_id).map_or(0, |queue| queue.pending.len())
    }

    fn enqueue(&self, node_id: NodeId, task: Task, delivered: u64) {
        let mut state = self.shared.state.lock().expect("broker state poisoned");
        if delivered > 0 {
            settle(&mut state, node_id);
        }
        let queue = state.queues.entry(node_id).or_default();
        queue.pending.push_back((task, delivered));
        queue.notify.notify_one();
    }
}

/// Counts one delivered task of `node_id` as no longer unacked (acked, or queued again).
fn settle(state: &mut State, node_id: NodeId) {
    if let Some(unacked) = state.unacked.get_mut(&node_id) {
        *unacked = unacked.saturating_sub(1);
    }
}

#[async_trait]
impl TaskQueue for MemoryQueue {
    async fn backlog(&self, node_id: NodeId) -> Result<u64> {
        Ok(self.pending(node_id) as u64)
    }

    async fn outstanding(&self, node_id: NodeId) -> Result<u64> {
        let state = self.shared.state.lock().expect("broker state poisoned");
        let pending = state.queues.get(&node_id).map_or(0, |queue| queue.pending.len() as u64);
        Ok(pending + state.unacked.get(&node_id).copied().unwrap_or(0))
    }

    async fn publish(&self, node_id: NodeId, task: &Task) -> Result<()> {
        let first_time = {
            let mut state = self.shared.state.lock().expect("broker state poisoned");
            state.published.insert(task.dedup_id())
        };
        if first_time {
            self.enqueue(node_id, task.clone(), 0);
        }
        Ok(())
    }

    async fn subscribe(&self, node_id: NodeId) -> Result<Box<dyn TaskSubscription>> {
        let notify = {
            let mut state = self.shared.state.lock().expect("broker state poisoned");
            state.queues.entry(node_id).or_default().notify.clone()
        };
        Ok(Box::new(MemorySubscription { queue: self.clone(), node_id, notify }))
    }

    async fn retire(&self, node_id: NodeId) -> Result<()> {
        let mut state = self.shared.state.lock().expect("broker state poisoned");
        state.queues.remove(&node_id);
        state.unacked.remove(&node_id);
        Ok(())
    }
}

struct MemorySubscription {
    queue: MemoryQueue,
    node_id: NodeId,
    notify: Arc<Notify>,
}

#[async_trait]
impl TaskSubscription for MemorySubscription {
    async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            let popped = {
                let mut state = self.queue.shared.state.lock().expect("broker state poisoned");
                let popped = state.queues.get_mut(&self.node_id).and_then(|queue| queue.pending.pop_front());
                if popped.is_some() {
                    *state.unacked.entry(self.node_id).or_default() += 1;
                }
                popped
            };
            if let Some((task, delivered)) = popped {
                let acker = MemoryAcker {
                    queue: self.queue.clone(),
                    node_id: self.node_id,
                    task: task.clone(),
                    delivered: delivered + 1,
                };
                return Ok(Some(Delivery::new(task, delivered + 1, Box::new(acker))));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }
}

struct MemoryAcker {
    queue: MemoryQueue,
    node_id: NodeId,
    task: Task,
    delivered: u64,
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(&self) -> Result<()> {
        settle(&mut self.queue.shared.state.lock().expect("broker state poisoned"), self.node_id);
        Ok(())
    }

    async fn nak(&self, delay: Duration) -> Result<()> {
        let queue = self.queue.clone();
        let (node_id, task, delivered) = (self.node_id, self.task.clone(), self.delivered);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.enqueue(node_id, task, delivered);
        });
        Ok(())
    }

    async fn in_progress(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use agentry_core::{AgentId, RunId};

    use super::*;

    fn task(epoch: u64) -> Task {
        Task { run_id: RunId::generate(), agent_id: AgentId::generate(), epoch, trace_parent: None }
    }

    #[tokio::test]
    async fn outstanding_counts_tasks_until_they_are_acked() {
        let queue = MemoryQueue::new();
        let node = NodeId::generate();
        queue.publish(node, &task(1)).await.unwrap();
        queue.publish(node, &task(1)).await.unwrap();
        assert_eq!(queue.outstanding(node).await.unwrap(), 2);
        let mut subscription = queue.subscribe(node).await.unwrap();
        let wait = Duration::from_millis(50);
        let first = subscription.next(wait).await.unwrap().expect("a first task");
        assert_eq!((queue.backlog(node).await.unwrap(), queue.outstanding(node).await.unwrap()), (1, 2));
        first.ack().await.unwrap();
        assert_eq!(queue.outstanding(node).await.unwrap(), 1);
        let second = subscription.next(wait).await.unwrap().expect("a second task");
        second.nak(Duration::ZERO).await.unwrap();
        assert_eq!(queue.outstanding(node).await.unwrap(), 1, "a naked task is still outstanding");
        let again = subscription.next(Duration::from_secs(5)).await.unwrap().expect("the redelivery");
        assert_eq!(queue.outstanding(node).await.unwrap(), 1);
        again.ack().await.unwrap();
        assert_eq!((queue.backlog(node).await.unwrap(), queue.outstanding(node).await.unwrap()), (0, 0));
    }

    #[tokio::test]
    async fn delivers_in_order_and_deduplicates() {
        let queue = MemoryQueue::new();
        let node = NodeId::generate();
        let first = task(1);
        let second = task(1);
        queue.publish(node, &first).await.unwrap();
        queue.publish(node, &first).await.unwrap();
        queue.publish(node, &second).await.unwrap();
        let mut subscription = queue.subscribe(node).await.unwrap();
        let wait = Duration::from_millis(50);
        assert_eq!(subscription.next(wait).await.unwrap().unwrap().task, first);
        assert_eq!(subscription.next(wait).await.unwrap().unwrap().task, second);
        assert!(subscription.next(wait).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn nak_redelivers_with_a_higher_count() {
        let queue = MemoryQueue::new();
        let node = NodeId::generate();
        let sent = task(3);
        queue.publish(node, &sent).await.unwrap();
        let mut subscription = queue.subscribe(node).await.unwrap();
        let delivery = subscription.next(Duration::from_millis(50)).await.unwrap().unwrap();
        assert_eq!(delivery.delivered, 1);
        delivery.nak(Duration::from_millis(1)).await.unwrap();
        let again = subscription.next(Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!((again.task, again.delivered), (sent, 2));
    }

    #[tokio::test]
    async fn a_waiting_subscriber_wakes_on_publish() {
        let queue = MemoryQueue::new();
        let node = NodeId::generate();
        let mut subscription = queue.subscribe(node).await.unwrap();
        let sent = task(1);
        let publisher = queue.clone();
        let expected = sent.clone();
        tokio::spawn(async move { publisher.publish(node, &sent).await });
        let delivery = subscription.next(Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!(delivery.task, expected);
    }
}
