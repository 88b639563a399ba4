//! Trace following: replay the persisted backlog after a `seq`, then tail new events.
//!
//! Events are always read from the store, in `seq` order, starting after the last one sent;
//! hints ([`crate::fanout`]) only say *when* to read again. So the stream has no gap and no
//! duplicate — across hub restarts too, since a client resumes with `after_seq` = the last `seq`
//! it saw. A trace is a plain stream, polled by the gRPC response: no task runs for it, and it
//! stops the moment the client goes away.

use std::collections::VecDeque;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast;

use agentry_core::{AgentId, RunId, TraceEvent, event::kind};

use crate::error::{HubError, Result};
use std::sync::Arc;

use crate::fanout::{EphemeralFollower, LocalHint};
use crate::hub::Hub;

/// Most events read from the store per query.
const PAGE: u32 = 512;

/// What a client asked to follow: an agent, or one run (its agent is looked up).
#[derive(Debug, Clone, Copy)]
pub struct TraceRequest {
    /// The agent; may be omitted when `run_id` is given.
    pub agent_id: Option<AgentId>,
    /// Only this run's events, when set; the trace ends when the run ends.
    pub run_id: Option<RunId>,
    /// Send events with `seq > after_seq`.
    pub after_seq: u64,
    /// Keep tailing after the backlog.
    pub follow: bool,
    /// Also send ephemeral events (`token`, seq 0) while tailing.
    pub include_ephemeral: bool,
}

/// An opened trace.
pub struct Trace {
    /// The followed agent's parent, for sub-agents.
    pub parent_agent_id: Option<AgentId>,
    /// The events; ends after the backlog (without `follow`), when the followed run ended, or
    /// with [`HubError::ShuttingDown`] when the hub stops.
    pub events: BoxStream<'static, Result<TraceEvent>>,
}

impl Hub {
    /// Resolves `request` (the agent of a run, the agent's parent) and opens its trace.
    ///
    /// Errors with NOT_FOUND for an unknown agent or run, INVALID_ARGUMENT when neither is given.
    pub async fn open_trace(&self, request: TraceRequest) -> Result<Trace> {
        let agent_id = match (request.agent_id, request.run_id) {
            (Some(agent_id), _) => agent_id,
            (None, Some(run_id)) => self.get_run(run_id).await?.agent_id,
            (None, None) => return Err(HubError::InvalidArgument("agent_id or run_id is required".into())),
        };
        let summary = self.get_agent(agent_id).await?;
        Ok(Trace { parent_agent_id: summary.agent.parent_id, events: self.follow_trace(agent_id, request) })
    }

    /// Returns the events selected by `request` of `agent_id`, the agent `open_trace` resolved,
    /// as a stream (see [`Trace::events`]).
    fn follow_trace(&self, agent_id: AgentId, request: TraceRequest) -> BoxStream<'static, Result<TraceEvent>> {
        let follower = Follower {
            hub: self.clone(),
            // Subscribe before the first read: a hint sent between read and wait is not missed.
            hints: self.fanout.subscribe(),
            last_seq: request.after_seq,
            agent_id,
            request,
            page: VecDeque::new(),
            read_again: true,
            ended: false,
            ephemeral_guard: (request.follow && request.include_ephemeral)
                .then(|| self.fanout.follow_ephemeral(agent_id)),
            ephemeral: VecDeque::new(),
        };
        futures::stream::unfold(follower, |mut follower| async move {
            let item = follower.next().await?;
            Some((item, follower))
        })
        .boxed()
    }
}

/// The state of one followed trace.
struct Follower {
    hub: Hub,
    agent_id: AgentId,
    request: TraceRequest,
    hints: broadcast::Receiver<LocalHint>,
    last_seq: u64,
    /// Events read but not yet sent.
    page: VecDeque<TraceEvent>,
    /// Whether the store may hold more events right now (the last page was full, or nothing
    /// was read yet).
    read_again: bool,
    ended: bool,
    /// Counts this follower as one that takes ephemeral events, while it lives.
    ephemeral_guard: Option<EphemeralFollower>,
    /// Ephemeral events received, not yet sent.
    ephemeral: VecDeque<Arc<TraceEvent>>,
}

impl Follower {
    /// Returns the next item, or `None` when the trace is over.
    async fn next(&mut self) -> Option<Result<TraceEvent>> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(event) = self.ephemeral.pop_front() {
                return Some(Ok(TraceEvent::clone(&event)));
            }
            if let Some(event) = self.page.pop_front() {
                self.last_seq = event.seq;
                // Events handed over by a commit are the agent's; the store filters by run.
                if self.request.run_id.is_some_and(|run_id| run_id != event.run_id) {
                    continue;
                }
                self.ended = self.request.run_id.is_some() && kind::ends_run(&event.kind);
                return Some(Ok(event));
            }
            if !self.read_again {
                if !self.request.follow {
                    return None;
                }
                match self.wait_for_events().await {
                    Wait::Read => {}
                    Wait::Appended | Wait::Ephemeral => continue,
                    Wait::Stopping => {
                        self.ended = true;
                        return Some(Err(HubError::ShuttingDown));
                    }
                }
            }
            let store = &self.hub.store;
            match store.events_after(self.agent_id, self.request.run_id, self.last_seq, PAGE).await {
                Ok(page) => {
                    self.read_again = page.len() == PAGE as usize;
                    self.page.extend(page);
                }
                Err(error) => {
                    self.ended = true;
                    return Some(Err(error.into()));
                }
            }
        }
    }

    /// Waits for a hint about the followed agent, or the poll interval.
    async fn wait_for_events(&mut self) -> Wait {
        let poll = tokio::time::sleep(self.hub.config.trace_poll_interval);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                _ = self.hub.stopping.cancelled() => return Wait::Stopping,
                _ = &mut poll => return Wait::Read,
                hint = self.hints.recv() => match hint {
                    Ok(LocalHint { ephemeral: Some(event), .. }) => {
                        let wanted = self.ephemeral_guard.is_some()
                            && event.agent_id == self.agent_id
                            && self.request.run_id.is_none_or(|run_id| run_id == event.run_id);
                        if wanted {
                            self.ephemeral.push_back(event);
                            return Wait::Ephemeral;
                        }
                    }
                    Ok(local) if local.hint.agent_id == self.agent_id => match take(self.last_seq, &mut self.page, local) {
                        Take::Appended => return Wait::Appended,
                        Take::Read => return Wait::Read,
                        Take::Covered => {}
                    },
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => return Wait::Read,
                },
            }
        }
    }
}

/// Takes what a hint about the followed agent brings a follower that sent every event up to
/// `last_seq`: the committed events themselves, appended to `page`, when they continue exactly
/// after it; nothing when the hint's seq is already covered; otherwise the store must be read.
fn take(last_seq: u64, page: &mut VecDeque<TraceEvent>, local: LocalHint) -> Take {
    if let Some(events) = local.events {
        let mut fresh = events.iter().filter(|event| event.seq > last_seq).peekable();
        return match fresh.peek() {
            None => Take::Covered,
            Some(first) if first.seq == last_seq + 1 => {
                page.extend(fresh.cloned());
                Take::Appended
            }
            Some(_) => Take::Read,
        };
    }
    match local.hint.last_seq {
        Some(seq) if seq <= last_seq => Take::Covered,
        _ => Take::Read,
    }
}

/// What a hint brings a follower.
#[derive(Debug, PartialEq, Eq)]
enum Take {
    /// The events, appended to the page.
    Appended,
    /// Nothing new.
    Covered,
    /// Something new that must be read from the store.
    Read,
}

/// What ended a wait.
enum Wait {
    /// New events are in the page.
    Appended,
    /// An ephemeral event is waiting to be sent.
    Ephemeral,
    /// New events may be there: read again.
    Read,
    /// The hub is stopping.
    Stopping,
}

#[cfg(test)]
mod tests {
    use agentry_broker::Hint;
    use serde_json::json;

    use super::*;

    fn events(agent_id: AgentId, run_id: RunId, seqs: std::ops::RangeInclusive<u64>) -> Arc<[TraceEvent]> {
        seqs.map(|seq| TraceEvent {
            seq,
            agent_id,
            run_id,
            kind: kind::TOOL_START.into(),
            data: json!({ "seq": seq }),
            ts_ms: 0,
            trace: None,
        })
        .collect()
    }

    fn local(agent_id: AgentId, last_seq: Option<u64>, events: Option<Arc<[TraceEvent]>>) -> LocalHint {
        LocalHint { hint: Hint { agent_id, last_seq }, events, ephemeral: None }
    }

    #[test]
    fn committed_events_that_continue_the_trace_are_appended_without_a_read() {
        let (agent, run) = (AgentId::generate(), RunId::generate());
        let mut page = VecDeque::new();
        let taken = take(4, &mut page, local(agent, Some(7), Some(events(agent, run, 5..=7))));
        assert_eq!(taken, Take::Appended);
        assert_eq!(page.iter().map(|event| event.seq).collect::<Vec<_>>(), [5, 6, 7]);
    }

    #[test]
    fn committed_events_partly_sent_append_only_the_rest() {
        let (agent, run) = (AgentId::generate(), RunId::generate());
        let mut page = VecDeque::new();
        assert_eq!(take(6, &mut page, local(agent, Some(7), Some(events(agent, run, 5..=7)))), Take::Appended);
        assert_eq!(page.iter().map(|event| event.seq).collect::<Vec<_>>(), [7]);
    }

    #[test]
    fn a_gap_before_the_committed_events_means_reading_the_store() {
        let (agent, run) = (AgentId::generate(), RunId::generate());
        let mut page = VecDeque::new();
        assert_eq!(take(3, &mut page, local(agent, Some(7), Some(events(agent, run, 5..=7)))), Take::Read);
        assert!(page.is_empty(), "nothing is appended past a gap");
    }

    #[test]
    fn hints_already_covered_are_skipped_and_unknown_ones_read() {
        let (agent, run) = (AgentId::generate(), RunId::generate());
        let mut page = VecDeque::new();
        assert_eq!(take(7, &mut page, local(agent, Some(7), Some(events(agent, run, 5..=7)))), Take::Covered);
        assert_eq!(take(7, &mut page, local(agent, Some(6), None)), Take::Covered);
        assert_eq!(take(7, &mut page, local(agent, Some(8), None)), Take::Read);
        assert_eq!(take(7, &mut page, local(agent, None, None)), Take::Read);
        assert!(page.is_empty());
    }
}
