//! Checks of the durability contract on an agent's trace (JSON events as printed by
//! `agentry trace --jsonl`: `seq`, `type`, `run_id`, `data`) and on what a
//! [`crate::ScriptedModel`] was asked.
//!
//! - [`check_seqs`]: the persisted `seq`s are exactly `1..=n`, in order (no gap, no duplicate);
//! - [`TraceSummary`]: counts of the events the contract is about (`final`, `run_started`,
//!   `run_moved`, `usage` per step);
//! - [`TraceSummary::check_completed_once`]: one `final`, one `run_finished`, and each of the
//!   script's steps committed exactly once (one `usage` per step);
//! - [`TraceSummary::check_requests`]: no committed model answer was requested again. Every
//!   execution of the run (a `run_started` event: the first one, or one resuming it on another
//!   node or after a redelivery) may have had at most one model request in flight whose answer
//!   was never committed, so each step may be requested at most once more per extra execution,
//!   and the extra requests of the agent add up to at most the number of extra executions.

use std::collections::BTreeMap;

use serde_json::Value;

/// Returns an error naming the first gap, duplicate or disorder when the events' `seq`s are not
/// exactly `1..=n` (events with `seq` 0, ephemeral ones, are skipped).
pub fn check_seqs(events: &[Value]) -> Result<(), String> {
    let seqs: Vec<u64> = events.iter().filter_map(|event| event["seq"].as_u64()).filter(|seq| *seq != 0).collect();
    for (expected, seq) in (1_u64..).zip(&seqs) {
        if *seq != expected {
            return Err(format!("seq {seq} where {expected} was expected (seqs: {seqs:?})"));
        }
    }
    Ok(())
}

/// The events of one agent's trace the durability checks look at.
#[derive(Debug, Clone, Default)]
pub struct TraceSummary {
    /// Highest `seq`.
    pub last_seq: u64,
    /// Number of `final` events.
    pub finals: usize,
    /// Number of `run_finished` events.
    pub run_finished: usize,
    /// Number of `run_started` events (executions of runs, resumed ones included).
    pub run_started: usize,
    /// Payloads of the `run_moved` events.
    pub run_moved: Vec<Value>,
    /// Number of `usage` events (committed model answers) per `data.step`.
    pub usage_per_step: BTreeMap<u64, usize>,
    /// `node_id` of the last `run_started` event.
    pub last_node_id: Option<String>,
}

impl TraceSummary {
    /// Summarizes `events`.
    pub fn of(events: &[Value]) -> Self {
        let mut summary = Self::default();
        for event in events {
            summary.last_seq = summary.last_seq.max(event["seq"].as_u64().unwrap_or(0));
            let data = &event["data"];
            match event["type"].as_str().unwrap_or_default() {
                "final" => summary.finals += 1,
                "run_finished" => summary.run_finished += 1,
                "run_started" => {
                    summary.run_started += 1;
                    summary.last_node_id = data["node_id"].as_str().map(str::to_owned);
                }
                "run_moved" => summary.run_moved.push(data.clone()),
                "usage" => *summary.usage_per_step.entry(data["step"].as_u64().unwrap_or(u64::MAX)).or_insert(0) += 1,
                _ => {}
            }
        }
        summary
    }

    /// Checks that one run completed with `steps` model answers, each committed once: exactly
    /// one `final` and one `run_finished`, and `steps` distinct `usage` steps, one each.
    pub fn check_completed_once(&self, steps: usize) -> Result<(), String> {
        if self.finals != 1 || self.run_finished != 1 {
            return Err(format!("{} final and {} run_finished events, not 1 each", self.finals, self.run_finished));
        }
        let twice: Vec<u64> =
            self.usage_per_step.iter().filter(|(_, count)| **count > 1).map(|(step, _)| *step).collect();
        if !twice.is_empty() {
            return Err(format!("steps {twice:?} committed more than once: {:?}", self.usage_per_step));
        }
        if self.usage_per_step.len() != steps {
            return Err(format!(
                "{} steps committed, not {steps}: {:?}",
                self.usage_per_step.len(),
                self.usage_per_step
            ));
        }
        Ok(())
    }

    /// Checks the model requests of this agent, `requests[step]` (by the model's 0-based step,
    /// as [`crate::ScriptedModel::requests_per_step`] counts them for the agent's input) against
    /// its executions: every one of `steps` steps requested at least once, none more than once
    /// per execution, and at most one extra request per extra execution.
    pub fn check_requests(&self, requests: &BTreeMap<usize, usize>, steps: usize) -> Result<(), String> {
        let executions = self.run_started.max(1);
        let extra_executions = executions - 1;
        let missing: Vec<usize> = (0..steps).filter(|step| requests.get(step).copied().unwrap_or(0) == 0).collect();
        if !missing.is_empty() {
            return Err(format!("steps {missing:?} were never requested: {requests:?}"));
        }
        let beyond: Vec<usize> = requests.keys().copied().filter(|step| *step >= steps).collect();
        if !beyond.is_empty() {
            return Err(format!("steps {beyond:?} beyond the script's {steps} were requested: {requests:?}"));
        }
        if let Some((step, count)) = requests.iter().find(|(_, count)| **count > executions) {
            return Err(format!(
                "step {step} requested {count} times in {executions} executions (run_started events): {requests:?}"
            ));
        }
        let extra_requests = requests.values().sum::<usize>() - steps;
        if extra_requests > extra_executions {
            return Err(format!(
                "{extra_requests} repeated model requests but only {extra_executions} resumed executions: a \
                 committed answer was requested again ({requests:?})"
            ));
        }
        Ok(())
    }
}

/// Returns the requests of `counts` (from [`crate::ScriptedModel::requests_per_step`]) made for
/// `user_input`, by step.
pub fn requests_for(
    counts: &std::collections::HashMap<(String, usize), usize>,
    user_input: &str,
) -> BTreeMap<usize, usize> {
    counts.iter().filter(|((input, _), _)| input == user_input).map(|((_, step), count)| (*step, *count)).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(seq: u64, kind: &str, data: Value) -> Value {
        json!({ "seq": seq, "type": kind, "data": data })
    }

    fn completed_trace(started: usize) -> Vec<Value> {
        let mut events = Vec::new();
        for _ in 0..started {
            events.push(event(0, "run_started", json!({ "node_id": "n1", "epoch": 1 })));
        }
        for step in 0..2 {
            events.push(event(0, "usage", json!({ "step": step })));
        }
        events.push(event(0, "final", json!({ "content": "done" })));
        events.push(event(0, "run_finished", json!({ "steps": 2 })));
        for (seq, event) in (1..).zip(events.iter_mut()) {
            event["seq"] = json!(seq);
        }
        events
    }

    #[test]
    fn seqs_must_be_one_to_n() {
        assert_eq!(check_seqs(&completed_trace(1)), Ok(()));
        let gap = [event(1, "a", json!({})), event(3, "b", json!({}))];
        assert!(check_seqs(&gap).unwrap_err().contains("seq 3 where 2"));
        let duplicate = [event(1, "a", json!({})), event(1, "b", json!({}))];
        assert!(check_seqs(&duplicate).is_err());
    }

    #[test]
    fn a_step_committed_twice_is_reported() {
        let summary = TraceSummary::of(&completed_trace(1));
        assert_eq!(summary.check_completed_once(2), Ok(()));
        let mut twice = completed_trace(1);
        twice.push(event(7, "usage", json!({ "step": 1 })));
        assert!(TraceSummary::of(&twice).check_completed_once(2).unwrap_err().contains("[1]"));
    }

    #[test]
    fn repeated_requests_need_resumed_executions() {
        let once = BTreeMap::from([(0, 1), (1, 1)]);
        let repeated = BTreeMap::from([(0, 1), (1, 2)]);
        assert_eq!(TraceSummary::of(&completed_trace(1)).check_requests(&once, 2), Ok(()));
        assert!(TraceSummary::of(&completed_trace(1)).check_requests(&repeated, 2).is_err());
        assert_eq!(TraceSummary::of(&completed_trace(2)).check_requests(&repeated, 2), Ok(()));
        let twice_repeated = BTreeMap::from([(0, 2), (1, 2)]);
        assert!(TraceSummary::of(&completed_trace(2)).check_requests(&twice_repeated, 2).is_err());
    }
}
