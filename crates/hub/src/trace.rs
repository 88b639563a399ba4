//! Trace following: replay the persisted backlog after a `seq`, then tail new events.
//!
//! Events are always read from the store, in `seq` order, starting after the last one sent;
//! hints only say *when* to read again. So the stream has no gap and no duplicate — across hub
//! restarts too, since a client resumes with `after_seq` = the last `seq` it saw.

use tokio::sync::{broadcast, mpsc};

use agentry_core::{AgentId, RunId, TraceEvent, event::kind};

use crate::error::{HubError, Result};
use crate::hub::Hub;

/// Most events read from the store per query.
const PAGE: u32 = 512;

/// What to follow.
#[derive(Debug, Clone, Copy)]
pub struct TraceQuery {
    /// The agent.
    pub agent_id: AgentId,
    /// Only this run's events, when set.
    pub run_id: Option<RunId>,
    /// Send events with `seq > after_seq`.
    pub after_seq: u64,
    /// Keep tailing after the backlog.
    pub follow: bool,
}

impl Hub {
    /// Sends the events of `query` into `sink` until the backlog is done (without `follow`),
    /// the followed run has ended (with a `run_id`), or the receiver is dropped.
    pub async fn follow_trace(&self, query: TraceQuery, sink: mpsc::Sender<Result<TraceEvent>>) {
        // Subscribe before the first read: a hint sent between read and wait is not missed.
        let mut hints = self.event_hints.subscribe();
        let mut last_seq = query.after_seq;
        loop {
            let page = match self.store.events_after(query.agent_id, query.run_id, last_seq, PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    let _ = sink.send(Err(error.into())).await;
                    return;
                }
            };
            let full_page = page.len() == PAGE as usize;
            for event in page {
                last_seq = event.seq;
                let run_ended = query.run_id.is_some() && kind::ends_run(&event.kind);
                if sink.send(Ok(event)).await.is_err() {
                    return;
                }
                if run_ended {
                    return;
                }
            }
            if full_page {
                continue;
            }
            if !query.follow {
                return;
            }
            match self.wait_for_events(query.agent_id, &mut hints, &sink).await {
                Wait::Read => {}
                Wait::ReceiverGone => return,
                Wait::Stopping => {
                    let _ = sink.send(Err(HubError::ShuttingDown)).await;
                    return;
                }
            }
        }
    }

    /// Waits for a hint about `agent_id` or the poll interval.
    async fn wait_for_events(
        &self,
        agent_id: AgentId,
        hints: &mut broadcast::Receiver<AgentId>,
        sink: &mpsc::Sender<Result<TraceEvent>>,
    ) -> Wait {
        let poll = tokio::time::sleep(self.config.trace_poll_interval);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                _ = sink.closed() => return Wait::ReceiverGone,
                _ = self.stopping.cancelled() => return Wait::Stopping,
                _ = &mut poll => return Wait::Read,
                hint = hints.recv() => match hint {
                    Ok(hinted) if hinted == agent_id => return Wait::Read,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => return Wait::Read,
                },
            }
        }
    }
}

/// What ended a wait.
enum Wait {
    /// New events may be there: read again.
    Read,
    /// The client went away.
    ReceiverGone,
    /// The hub is stopping.
    Stopping,
}
