//! Approvals: a run parked by its executor (`waiting_approval` with an `approval_requested`
//! event) holds no slot and is not placed; a decision on the call it waits for queues it again
//! and is read back by `load_run`; expired requests are found; listings pair requests with
//! their decisions.

use serde_json::json;

use agentry_core::approval::{ApprovalDecision, ApprovalState};
use agentry_core::{Run, RunStatus};
use agentry_store::{CommitBatch, RunControl, Store};

use super::{Harness, assert_conflict, assert_not_found, batch, event, running_run};

/// Parks `run` (epoch 1) on call `call`, expiring at `expires_ms`.
async fn park(store: &dyn Store, run: &Run, call: &str, expires_ms: i64) -> Run {
    let requested = event(
        "approval_requested",
        json!({
            "step": 1, "tool_call_id": call, "name": "bash", "arguments": "{\"command\":\"git push\"}",
            "rule": "bash =~ /^git push/ → ask", "requested_ms": 1_000, "expires_ms": expires_ms,
        }),
    );
    let parked = CommitBatch { events: vec![requested], status: Some(RunStatus::WaitingApproval), ..batch(run, 1) };
    store.commit(parked).await.unwrap().run
}

fn decision(call: &str, approved: bool) -> RunControl {
    RunControl::Decide(ApprovalDecision {
        tool_call_id: call.to_owned(),
        approved,
        actor: "alice".to_owned(),
        reason: "checked".to_owned(),
        decided_ms: 2_000,
    })
}

pub async fn a_decision_queues_the_parked_run_and_is_loaded_back(harness: Harness) {
    let store = harness.store;
    let (_, running) = running_run(store.as_ref()).await;
    let parked = park(store.as_ref(), &running, "call-1", i64::MAX).await;
    assert_eq!(parked.status, RunStatus::WaitingApproval);
    assert!(store.node_loads().await.unwrap().is_empty(), "a parked run holds no slot");
    assert!(store.placeable_runs(10).await.unwrap().is_empty(), "a parked run is not placed");
    let pending = store.list_approvals(None, true, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].run_id, pending[0].state()), (running.id, ApprovalState::Pending));

    assert_conflict(store.control_run(running.id, decision("call-2", true)).await, "not of call call-2");
    let unknown = agentry_core::RunId::generate();
    assert_not_found(store.control_run(unknown, decision("call-1", true)).await, "run", unknown);
    let queued = store.control_run(running.id, decision("call-1", true)).await.unwrap();
    assert_eq!((queued.status, queued.node_id), (RunStatus::Queued, None));
    assert_conflict(store.control_run(running.id, decision("call-1", false)).await, "does not wait");
    assert_eq!(store.placeable_runs(10).await.unwrap()[0].run.id, running.id);

    let assigned = store.assign_run(running.id, agentry_core::NodeId::generate(), queued.epoch).await.unwrap();
    let context = store.load_run(running.id, assigned.epoch).await.unwrap();
    assert_eq!(context.approvals.len(), 1);
    assert_eq!((context.approvals[0].tool_call_id.as_str(), context.approvals[0].approved), ("call-1", true));
    let listed = store.list_approvals(Some(running.id), false, 10).await.unwrap();
    assert_eq!(listed[0].state(), ApprovalState::Approved);
    assert_eq!(listed[0].decision.as_ref().map(|decision| decision.actor.as_str()), Some("alice"));
    assert!(store.list_approvals(None, true, 10).await.unwrap().is_empty());
    let events = store.events_after(running.agent_id, None, 0, 100).await.unwrap();
    assert_eq!(events.last().unwrap().kind, "approval_decided");
    assert_eq!(events.last().unwrap().ts_ms, 2_000);
}

pub async fn expired_requests_are_found_and_decisions_need_a_parked_run(harness: Harness) {
    let store = harness.store;
    let (_, soon) = running_run(store.as_ref()).await;
    let (_, later) = running_run(store.as_ref()).await;
    assert_conflict(store.control_run(soon.id, decision("call-1", true)).await, "does not wait for an approval");
    park(store.as_ref(), &soon, "call-1", 5_000).await;
    park(store.as_ref(), &later, "call-9", 50_000).await;
    assert_eq!(store.expired_approvals(4_999).await.unwrap(), Vec::new());
    assert_eq!(store.expired_approvals(5_000).await.unwrap(), vec![(soon.id, "call-1".to_owned())]);
    assert_eq!(store.expired_approvals(60_000).await.unwrap().len(), 2);
    store.control_run(soon.id, decision("call-1", false)).await.unwrap();
    assert_eq!(store.expired_approvals(60_000).await.unwrap(), vec![(later.id, "call-9".to_owned())]);
    let newest_first: Vec<_> = store.list_approvals(None, false, 10).await.unwrap();
    assert_eq!(newest_first.len(), 2);
    assert_eq!(store.list_approvals(None, false, 1).await.unwrap().len(), 1, "the limit applies");
}
