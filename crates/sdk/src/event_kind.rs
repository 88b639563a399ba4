//! Names of the trace events that mark a run's lifecycle (`TraceEvent.type`), as the hub and
//! nodes write them.

/// A node started (or resumed) the run. Data: `{node_id, epoch, resumed}`.
pub const RUN_STARTED: &str = "run_started";
/// The run completed. Data: `{steps, prompt_tokens, completion_tokens}`.
pub const RUN_FINISHED: &str = "run_finished";
/// The run failed. Data: `{error}`.
pub const RUN_FAILED: &str = "run_failed";
/// An operator cancelled the run. Data: `{reason}`.
pub const RUN_CANCELLED: &str = "run_cancelled";
/// An operator paused the run; it may be resumed or cancelled later. Data: `{reason, epoch}`.
pub const RUN_PAUSED: &str = "run_paused";
/// An operator resumed a paused run; it is queued again. Data: `{}`.
pub const RUN_RESUMED: &str = "run_resumed";
/// The hub took the run back from its node to place it again. Data: `{from_node_id, reason, epoch}`.
pub const RUN_MOVED: &str = "run_moved";

/// Returns whether an event of this type ends its run for good: `run_finished`, `run_failed`
/// or `run_cancelled`. A paused run is not ended.
pub fn ends_run(kind: &str) -> bool {
    matches!(kind, RUN_FINISHED | RUN_FAILED | RUN_CANCELLED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finished_failed_and_cancelled_end_a_run() {
        for kind in [RUN_FINISHED, RUN_FAILED, RUN_CANCELLED] {
            assert!(ends_run(kind), "{kind}");
        }
        for kind in [RUN_STARTED, RUN_PAUSED, RUN_RESUMED, RUN_MOVED, "final"] {
            assert!(!ends_run(kind), "{kind}");
        }
    }
}
