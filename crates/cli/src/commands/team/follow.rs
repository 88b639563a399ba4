//! Following a delegation tree: one follower task per agent sends its trace events into one
//! channel, in arrival order; [`TeamView`] (`team/view.rs`) turns them into lines and names the
//! sub-agents to follow next. The tree is followed until the root's run ends.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use agentry_sdk::Client;
use agentry_sdk::proto::TraceRequest;

use super::view::{Member, Report, TeamView};
use crate::output::{EventFormat, print_line};

/// How long, once the root's run ended, the sub-agents' followers may take to deliver their last
/// events (their runs have ended, so their streams end at once unless the hub is unreachable).
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Reports buffered between the followers and the printer.
const CHANNEL_CAPACITY: usize = 1024;

/// Follows `root`'s run and, recursively, every sub-agent it delegates to, printing their
/// events interleaved to stdout (warnings to stderr) until the root's run ends. `Ok` only when
/// it completed.
pub async fn follow_team(client: &Client, root: Member, format: EventFormat) -> anyhow::Result<()> {
    let (reports, mut received) = mpsc::channel(CHANNEL_CAPACITY);
    // Dropped on return: followers still running are aborted.
    let mut followers = JoinSet::new();
    followers.spawn(follow_member(client.clone(), Arc::new(root.clone()), reports.clone()));
    let mut view = TeamView::new(root, format);
    while !view.is_done() {
        let report = if view.root_ended() {
            match tokio::time::timeout(DRAIN_GRACE, received.recv()).await {
                Ok(report) => report,
                Err(_) => break,
            }
        } else {
            received.recv().await
        };
        // Every follower holds a sender and so does this loop: the channel never closes here.
        let Some(report) = report else { break };
        let step = view.on_report(&report);
        for line in &step.lines {
            print_line(line)?;
        }
        for warning in &step.warnings {
            eprintln!("warning: {warning}");
        }
        for member in step.follow {
            followers.spawn(follow_member(client.clone(), Arc::new(member), reports.clone()));
        }
    }
    let (lines, result) = view.finish();
    for line in &lines {
        print_line(line)?;
    }
    result
}

/// Sends every event of `member`'s run, then the end of its stream, to `reports`; stops early
/// when the printer is gone.
async fn follow_member(client: Client, member: Arc<Member>, reports: mpsc::Sender<Report>) {
    let request = TraceRequest {
        agent_id: member.agent_id.clone(),
        run_id: member.run_id.clone(),
        follow: true,
        include_ephemeral: false,
        ..TraceRequest::default()
    };
    // With a run id the stream ends after that run's end.
    let mut events = client.follow_trace(request);
    let mut error = None;
    while let Some(item) = events.next().await {
        match item {
            Ok(event) => {
                if reports.send(Report::Event(Arc::clone(&member), event)).await.is_err() {
                    return;
                }
            }
            Err(failure) => {
                error = Some(failure.to_string());
                break;
            }
        }
    }
    // The printer may be gone already: nothing is left to tell.
    let _ = reports.send(Report::Ended(member, error)).await;
}
