//! Whether a confined process's TCP connect to a listener on the host's loopback arrives.

mod common;

use std::time::Duration;

use agentry_sandbox::NetworkAccess;
use tempfile::TempDir;
use tokio::net::TcpListener;

use common::{confinement, confining_sandboxes, run, text};

#[tokio::test]
async fn a_connect_arrives_only_when_the_network_is_allowed() {
    for sandbox in confining_sandboxes() {
        let kind = sandbox.kind();
        let workspace = TempDir::new().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let script = format!("echo hello > /dev/tcp/127.0.0.1/{port} && echo sent");

        let denied = confinement(workspace.path(), NetworkAccess::None, Duration::from_secs(60));
        let output = run(sandbox.as_ref(), &script, &denied).await;
        assert!(!output.stdout.text().contains("sent"), "{kind}: {}", text(&output));
        // The handshake completes before connect returns, so a connection that got through
        // would be queued by the time the process ended.
        let nothing = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(nothing.is_err(), "{kind}: a connection arrived with the network denied");

        for allowed in [NetworkAccess::Any, NetworkAccess::Hosts(vec!["example.com".to_owned()])] {
            let confinement = confinement(workspace.path(), allowed.clone(), Duration::from_secs(60));
            let output = run(sandbox.as_ref(), &script, &confinement).await;
            assert!(output.stdout.text().contains("sent"), "{kind} {allowed:?}: {}", text(&output));
            let (mut stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
                .await
                .unwrap_or_else(|_| panic!("{kind} {allowed:?}: no connection"))
                .unwrap();
            let mut received = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut received).await.unwrap();
            assert_eq!(received, "hello\n", "{kind}");
        }
        assert_eq!(sandbox.describe(&denied)["network"], "none");
    }
}

#[tokio::test]
async fn an_empty_host_list_is_no_network() {
    assert!(!NetworkAccess::Hosts(Vec::new()).is_allowed());
    assert!(!NetworkAccess::None.is_allowed());
    assert!(NetworkAccess::Any.is_allowed());
}
