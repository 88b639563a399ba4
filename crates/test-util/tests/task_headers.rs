//! Tasks on a real JetStream carry their run's W3C trace context as the `traceparent` message
//! header (not in the body), and a node's queue lag is read from its consumer.

use std::time::Duration;

use agentry_broker::{JetStreamConfig, JetStreamQueue, Task, TaskQueue};
use agentry_core::{AgentId, NodeId, RunId, TraceParent};
use agentry_test_util::{NatsServer, Observed, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_keeps_its_trace_context_through_jetstream() {
    let nats = NatsServer::start().expect("nats");
    let queue = JetStreamQueue::connect(JetStreamConfig::new(nats.url())).await.expect("queue");
    let node = NodeId::generate();
    assert_eq!(queue.backlog(node).await.expect("backlog"), 0, "a node that never subscribed has no lag");

    let run_id = RunId::generate();
    let traced =
        Task { run_id, agent_id: AgentId::generate(), epoch: 1, trace_parent: Some(TraceParent::of_run(run_id)) };
    let untraced = Task { run_id: RunId::generate(), epoch: 1, trace_parent: None, ..traced.clone() };
    queue.publish(node, &traced).await.expect("publish");
    queue.publish(node, &untraced).await.expect("publish");
    let mut subscription = queue.subscribe(node).await.expect("subscribe");
    let first = subscription.next(Duration::from_secs(10)).await.expect("pull").expect("a task");
    assert_eq!(first.task, traced, "the trace context came back from the header");
    let second = subscription.next(Duration::from_secs(10)).await.expect("pull").expect("a task");
    assert_eq!(second.task, untraced);
    first.ack().await.expect("ack");
    second.ack().await.expect("ack");
    assert_eq!(queue.backlog(node).await.expect("backlog"), 0, "nothing left to take");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outstanding_tasks_are_those_not_acked_queued_handled_or_waiting_for_redelivery() {
    let nats = NatsServer::start().expect("nats");
    let queue = JetStreamQueue::connect(JetStreamConfig::new(nats.url())).await.expect("queue");
    let node = NodeId::generate();
    assert_eq!(queue.outstanding(node).await.expect("outstanding"), 0, "a node that never subscribed has none");
    let task = |epoch| Task { run_id: RunId::generate(), agent_id: AgentId::generate(), epoch, trace_parent: None };
    queue.publish(node, &task(1)).await.expect("publish");
    queue.publish(node, &task(1)).await.expect("publish");
    let mut subscription = queue.subscribe(node).await.expect("subscribe");
    let handled = subscription.next(Duration::from_secs(10)).await.expect("pull").expect("a task");
    let handed_back = subscription.next(Duration::from_secs(10)).await.expect("pull").expect("a task");
    // One is being handled, the other was handed back for a redelivery in 10 minutes: nothing
    // is queued, both are outstanding (the reaper must not think the second one lost).
    handed_back.nak(Duration::from_secs(600)).await.expect("nak");
    assert_eq!(queue.backlog(node).await.expect("backlog"), 0);
    assert_eq!(queue.outstanding(node).await.expect("outstanding"), 2);
    handled.ack().await.expect("ack");
    // An ack is not confirmed to the client: the server counts it soon after.
    eventually("the acked task to stop being outstanding", Duration::from_secs(10), || async {
        match queue.outstanding(node).await {
            Ok(1) => Observed::Ready(()),
            Ok(count) => Observed::NotYet(format!("{count} outstanding")),
            Err(error) => Observed::Failed(error.into()),
        }
    })
    .await
    .expect("outstanding after the ack");
}
