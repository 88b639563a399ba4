//! NATS over TLS: a server that requires TLS serves a client trusting its CA (tasks flow), and
//! refuses, with a clear error, one that does not.

use std::time::Duration;

use agentry_broker::{Broker, BrokerError, NatsTls, Task};
use agentry_core::{AgentId, NodeId, RunId};
use agentry_test_util::NatsServer;
use agentry_tls::dev;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_server_serves_a_client_trusting_its_ca_and_no_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dev::generate(dir.path(), &[], &[], &[]).expect("dev certificates");
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = dev::generate(other_dir.path(), &[], &[], &[]).expect("another CA");
    let nats = NatsServer::start_tls(&certs.hub_cert, &certs.hub_key).expect("nats with TLS");

    let broker = Broker::connect_nats_with(&nats.tls_url(), &NatsTls::with_ca(&certs.ca)).await.expect("connected");
    let node = NodeId::generate();
    let task = Task { run_id: RunId::generate(), agent_id: AgentId::generate(), epoch: 1, trace_parent: None };
    broker.tasks.publish(node, &task).await.expect("publish over TLS");
    let mut subscription = broker.tasks.subscribe(node).await.expect("subscribe");
    let delivery = subscription.next(Duration::from_secs(10)).await.expect("pull").expect("the task");
    assert_eq!(delivery.task, task);
    delivery.ack().await.expect("ack");

    // A nats:// URL upgrades when the server requires TLS.
    Broker::connect_nats_with(&nats.url(), &NatsTls::with_ca(&certs.ca)).await.expect("upgraded to TLS");

    let Err(error) = Broker::connect_nats(&nats.tls_url()).await else {
        panic!("the system's CAs do not know the dev CA")
    };
    let message = error.to_string();
    assert!(matches!(error, BrokerError::Unavailable(_)), "{error:?}");
    assert!(message.contains(&nats.tls_url()) && message.contains("nats-ca"), "names the URL and the fix: {message}");

    let Err(error) = Broker::connect_nats_with(&nats.tls_url(), &NatsTls::with_ca(&other.ca)).await else {
        panic!("another CA is not trusted")
    };
    assert!(error.to_string().to_lowercase().contains("certificate"), "{error}");
}

#[tokio::test]
async fn an_unusable_ca_file_fails_before_connecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nats-ca.pem");
    // Nothing listens there: the error can only come from the CA check.
    let Err(error) = Broker::connect_nats_with("tls://127.0.0.1:1", &NatsTls::with_ca(&missing)).await else {
        panic!("a missing CA file is refused")
    };
    assert!(matches!(&error, BrokerError::Tls { path, .. } if *path == missing), "{error:?}");
}
