//! Lease streams: a node holds its lease over one long-lived `Lease` stream, and the hub takes
//! the node's runs back as soon as that stream breaks and a short confirmation agrees, instead
//! of waiting for the lease TTL.
//!
//! Each beat on a stream does what a unary heartbeat does ([`Hub::heartbeat`]: extend the
//! lease, answer the revoked runs). How the stream ends decides what follows:
//! - the node half-closed it (it stops beating on purpose, e.g. before `Leave`), or the hub
//!   ended it (a refused beat, the hub stopping): nothing; the reaper's TTL stays the fallback;
//! - it broke (a transport error: the node's process died and its kernel closed the connection,
//!   an HTTP/2 keepalive timed out, the node stopped reading): the hub waits
//!   [`HubConfig::break_confirmation`](crate::HubConfig::break_confirmation) and, unless a newer
//!   beat of the node was stored meanwhile, marks the node dead and takes its runs back at once,
//!   as the reaper does after the TTL.
//!
//! The confirmation compares the node's stored `last_heartbeat_ms` with the one the broken
//! stream's last beat wrote, so a reconnection to another hub replica counts too (as long as
//! the replicas' clocks agree within the window). A false positive (a node that comes back just
//! after the window) is safe: its runs are fenced by the epoch bump, its next beat is refused
//! and it joins again. Racing the reaper or a `Leave` is safe as well: marking a node dead is a
//! guarded update that refuses a node already gone, and taking back a run twice finds nothing
//! the second time.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use agentry_core::{Heartbeat, NodeId, NodeState, RunId};
use agentry_store::ReleaseScope;

use crate::error::{HubError, Result};
use crate::hub::Hub;
use crate::metrics::MoveCause;

/// Answers buffered per stream: a beat is answered before the next one is read.
const ANSWERS_BUFFER: usize = 1;

/// An item of a lease stream's inbound side, as the gRPC adapter decoded it.
#[derive(Debug)]
pub enum Inbound {
    /// A well-formed beat.
    Beat(Heartbeat),
    /// A malformed beat: answered with this error, which ends the stream.
    Invalid(HubError),
    /// The transport failed (connection reset or closed, keepalive timeout): the stream broke.
    Broken(String),
}

/// The answers of a lease stream, one per beat: the revoked runs, or the error that ended it.
pub type Answers = ReceiverStream<Result<Vec<RunId>>>;

/// What the confirmation of a broken lease stream concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakVerdict {
    /// A newer beat of the node was stored: it reconnected, nothing moves.
    Reconnected,
    /// The node was gone already (it left, or was declared dead by the reaper or a replica).
    Gone,
    /// The node was declared dead here; `moved` runs were taken back.
    Dead {
        /// How many runs were taken back.
        moved: usize,
    },
    /// The hub is stopping: the reaper (of this hub or another) decides after the TTL.
    Abandoned,
}

/// How a lease stream ended.
#[derive(Debug)]
enum StreamEnd {
    /// The node half-closed it.
    Closed,
    /// The hub ended it with an error (a refused beat, shutdown).
    Refused,
    /// The transport failed, or the node stopped reading.
    Broken(String),
}

impl Hub {
    /// Serves one lease stream of beats `inbound`; returns its answers, one per beat, in order.
    /// A task holds the stream until it ends; when it broke after at least one beat, the task
    /// confirms the break ([`Hub::confirm_break`]) and logs the verdict.
    pub fn serve_lease(&self, inbound: impl Stream<Item = Inbound> + Send + 'static) -> Answers {
        let (answers, receiver) = mpsc::channel(ANSWERS_BUFFER);
        tokio::spawn(self.clone().hold_lease(Box::pin(inbound), answers));
        ReceiverStream::new(receiver)
    }

    /// Returns, after the confirmation window, whether the node whose lease stream broke after
    /// a beat stored at `last_beat_ms` came back; if it did not, marks it dead, retires its task
    /// queue and takes its runs back (`run_moved`, epoch + 1), like the reaper.
    ///
    /// Errors when the store fails; the reaper then acts after the TTL.
    pub async fn confirm_break(&self, node_id: NodeId, last_beat_ms: i64) -> Result<BreakVerdict> {
        let window = self.config.break_confirmation();
        tokio::select! {
            () = self.stopping.cancelled() => return Ok(BreakVerdict::Abandoned),
            () = tokio::time::sleep(window) => {}
        }
        let Some(node) = self.store.list_nodes().await?.into_iter().find(|node| node.id == node_id) else {
            return Ok(BreakVerdict::Gone);
        };
        if node.state.is_gone() {
            return Ok(BreakVerdict::Gone);
        }
        if node.last_heartbeat_ms > last_beat_ms {
            return Ok(BreakVerdict::Reconnected);
        }
        match self.store.set_node_state(node_id, NodeState::Dead).await {
            Ok(_) => {}
            Err(agentry_store::Error::Conflict(_)) => return Ok(BreakVerdict::Gone),
            Err(error) => return Err(error.into()),
        }
        let window = humantime::format_duration(window);
        tracing::warn!(%node_id, name = %node.name, %window, "lease stream broke and no beat followed; node is dead");
        self.retire_queue(node_id).await;
        let reason = format!(
            "node {} ({node_id}) is dead: its lease stream broke and no beat followed within {window}",
            node.name
        );
        let moved = self.take_back(node_id, ReleaseScope::All, &reason, MoveCause::StreamBroken).await?;
        Ok(BreakVerdict::Dead { moved })
    }

    /// Applies the beats of one stream until it ends, then confirms a break; returns the verdict
    /// (`None`: no break to confirm, or the confirmation failed).
    async fn hold_lease(
        self,
        mut inbound: Pin<Box<dyn Stream<Item = Inbound> + Send>>,
        answers: mpsc::Sender<Result<Vec<RunId>>>,
    ) -> Option<BreakVerdict> {
        // The stream's node and the `last_heartbeat_ms` its last beat stored.
        let mut holder: Option<(NodeId, i64)> = None;
        let end = loop {
            let item = tokio::select! {
                () = self.stopping.cancelled() => {
                    let _ = answers.send(Err(HubError::ShuttingDown)).await;
                    break StreamEnd::Refused;
                }
                () = answers.closed() => break StreamEnd::Broken("the node stopped reading answers".to_owned()),
                item = inbound.next() => item,
            };
            let beat = match item {
                None => break StreamEnd::Closed,
                Some(Inbound::Broken(reason)) => break StreamEnd::Broken(reason),
                Some(Inbound::Invalid(error)) => {
                    let _ = answers.send(Err(error)).await;
                    break StreamEnd::Refused;
                }
                Some(Inbound::Beat(beat)) => beat,
            };
            if let Some((node_id, _)) = holder
                && node_id != beat.node_id
            {
                let reason = format!("node_id: a lease stream is held by one node ({node_id}), not {}", beat.node_id);
                let _ = answers.send(Err(HubError::InvalidArgument(reason))).await;
                break StreamEnd::Refused;
            }
            match self.beat(&beat).await {
                Ok(beaten) => {
                    holder = Some((beat.node_id, beaten.at_ms));
                    if answers.send(Ok(beaten.revoked)).await.is_err() {
                        break StreamEnd::Broken("the node stopped reading answers".to_owned());
                    }
                }
                Err(error) => {
                    let _ = answers.send(Err(error)).await;
                    break StreamEnd::Refused;
                }
            }
        };
        drop(answers);
        let (node_id, last_beat_ms) = holder?;
        let StreamEnd::Broken(reason) = end else {
            tracing::debug!(%node_id, ?end, "lease stream ended");
            return None;
        };
        tracing::info!(%node_id, %reason, "lease stream broke; waiting for the node to come back");
        let verdict = self.confirm_break(node_id, last_beat_ms).await;
        match &verdict {
            Ok(BreakVerdict::Reconnected) => {
                tracing::info!(%node_id, "node came back within the confirmation window; it keeps its runs")
            }
            Ok(BreakVerdict::Dead { moved }) => tracing::warn!(%node_id, moved, "runs of the dead node taken back"),
            Ok(verdict) => tracing::debug!(%node_id, ?verdict, "lease stream break needs nothing more"),
            Err(error) => {
                tracing::warn!(%node_id, %error, "confirming a lease stream break failed; the reaper decides")
            }
        }
        verdict.ok()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use tokio::task::JoinHandle;

    use agentry_broker::Broker;
    use agentry_core::{ErrorCode, Run, RunStatus, clock};

    use super::*;
    use crate::config::HubConfig;

    /// A hub on an in-memory SQLite store (confirmation window 20 ms, lease TTL 1.5 s, no
    /// background task) with one node holding one run.
    async fn hub_with_a_run_on_a_node() -> (Hub, NodeId, Run) {
        let config =
            HubConfig { heartbeat_interval: Duration::from_millis(10), ..HubConfig::for_test("sqlite::memory:") };
        let store = agentry_store::connect(&config.database_url).await.expect("an in-memory store");
        let hub = Hub::new(config, store, Broker::in_process());
        let node_id = hub.join("node-1".into(), 2, BTreeMap::new()).await.expect("join").node_id;
        let command = crate::test_support::scripted_spawn(None);
        let (_, run) = hub.spawn(command).await.expect("spawn");
        let run = run.expect("a first run");
        let run = hub.store.assign_run(run.id, node_id, run.epoch).await.expect("placing the run on the node");
        (hub, node_id, run)
    }

    /// A served lease stream: its inbound side, its answers, and the task holding it.
    type OpenStream = (mpsc::Sender<Inbound>, mpsc::Receiver<Result<Vec<RunId>>>, JoinHandle<Option<BreakVerdict>>);

    /// Serves a lease stream fed through the returned sender; its task returns the verdict.
    fn open_stream(hub: &Hub) -> OpenStream {
        let (beats, inbound) = mpsc::channel(4);
        let (answers, answered) = mpsc::channel(ANSWERS_BUFFER);
        let task = tokio::spawn(hub.clone().hold_lease(Box::pin(ReceiverStream::new(inbound)), answers));
        (beats, answered, task)
    }

    fn beat(node_id: NodeId, run: &Run) -> Inbound {
        Inbound::Beat(Heartbeat { node_id, running: 1, leases: vec![(run.id, run.epoch)] })
    }

    #[tokio::test]
    async fn a_broken_stream_without_a_later_beat_moves_the_runs_at_once() {
        let (hub, node_id, run) = hub_with_a_run_on_a_node().await;
        let (beats, mut answered, task) = open_stream(&hub);
        beats.send(beat(node_id, &run)).await.expect("beat");
        assert_eq!(answered.recv().await.expect("an answer").expect("accepted"), Vec::<RunId>::new());
        beats.send(Inbound::Broken("connection reset".into())).await.expect("break");

        assert_eq!(task.await.expect("the stream task"), Some(BreakVerdict::Dead { moved: 1 }));
        let moved = hub.get_run(run.id).await.expect("the run");
        assert_eq!((moved.status, moved.node_id, moved.epoch), (RunStatus::Queued, None, run.epoch + 1));
        let node = hub.list_nodes().await.expect("nodes").into_iter().find(|node| node.id == node_id).expect("listed");
        assert_eq!(node.state, NodeState::Dead);
        let refused = hub.heartbeat(node_id, 0, &[]).await.expect_err("a dead node's beat is refused");
        assert_eq!(refused.code(), Some(ErrorCode::FailedPrecondition));
        assert_eq!(hub.confirm_break(node_id, node.last_heartbeat_ms).await.expect("confirmed"), BreakVerdict::Gone);
    }

    #[tokio::test]
    async fn a_beat_after_the_broken_streams_last_one_keeps_the_node_and_its_runs() {
        let (hub, node_id, run) = hub_with_a_run_on_a_node().await;
        let (beats, mut answered, task) = open_stream(&hub);
        beats.send(beat(node_id, &run)).await.expect("beat");
        answered.recv().await.expect("an answer").expect("accepted");
        let first_beat_ms = clock::now_ms();
        // The node beats on a new stream (the wall clock has moved on: stored beats are in ms).
        while clock::now_ms() <= first_beat_ms {
            tokio::task::yield_now().await;
        }
        let (again, mut answered_again, second_task) = open_stream(&hub);
        again.send(beat(node_id, &run)).await.expect("beat on the new stream");
        answered_again.recv().await.expect("an answer").expect("accepted");
        beats.send(Inbound::Broken("connection reset".into())).await.expect("break");

        assert_eq!(task.await.expect("the stream task"), Some(BreakVerdict::Reconnected));
        let kept = hub.get_run(run.id).await.expect("the run");
        assert_eq!((kept.node_id, kept.epoch), (Some(node_id), run.epoch));
        drop(again);
        assert_eq!(second_task.await.expect("the second stream task"), None, "a closed stream is no break");
    }

    #[tokio::test]
    async fn a_closed_stream_and_a_node_that_left_are_not_handled_as_breaks() {
        let (hub, node_id, run) = hub_with_a_run_on_a_node().await;
        let (beats, mut answered, task) = open_stream(&hub);
        beats.send(beat(node_id, &run)).await.expect("beat");
        answered.recv().await.expect("an answer").expect("accepted");
        drop(beats);
        assert_eq!(task.await.expect("the stream task"), None);
        assert_eq!(hub.get_run(run.id).await.expect("the run").epoch, run.epoch, "nothing moved");

        let (beats, mut answered, task) = open_stream(&hub);
        beats.send(beat(node_id, &run)).await.expect("beat");
        answered.recv().await.expect("an answer").expect("accepted");
        assert_eq!(hub.leave(node_id).await.expect("leave"), 1);
        beats.send(Inbound::Broken("connection reset".into())).await.expect("break");
        assert_eq!(task.await.expect("the stream task"), Some(BreakVerdict::Gone));
        assert_eq!(hub.get_run(run.id).await.expect("the run").epoch, run.epoch + 1, "moved once, by the leave");
    }

    #[tokio::test]
    async fn a_beat_of_another_node_ends_the_stream_without_a_break() {
        let (hub, node_id, run) = hub_with_a_run_on_a_node().await;
        let (beats, mut answered, task) = open_stream(&hub);
        beats.send(beat(node_id, &run)).await.expect("beat");
        answered.recv().await.expect("an answer").expect("accepted");
        beats.send(beat(NodeId::generate(), &run)).await.expect("a beat of another node");
        let refused = answered.recv().await.expect("an answer").expect_err("refused");
        assert_eq!(refused.code(), Some(ErrorCode::InvalidArgument));
        assert_eq!(task.await.expect("the stream task"), None);
        assert_eq!(hub.get_run(run.id).await.expect("the run").node_id, Some(node_id));
    }
}
