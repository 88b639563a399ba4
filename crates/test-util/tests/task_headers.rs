//! Tasks on a real JetStream carry their run's W3C trace context as the `traceparent` message
//! header (not in the body), and a node's queue lag is read from its consumer.

use std::time::Duration;

use agentry_broker::{JetStreamConfig, JetStreamQueue, Task, TaskQueue};
use agentry_core::{AgentId, NodeId, RunId, TraceParent};
use agentry_test_util::NatsServer;

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
