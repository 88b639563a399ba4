//! Issue 16: roles and tenants on a secured hub. No token is UNAUTHENTICATED, a viewer cannot
//! Spawn, tenant B cannot read, message, cancel, fork or trace tenant A's agent (NOT_FOUND, the
//! message of a missing agent), tenant limits and node pools hold, every refusal is in the
//! audit log, and nothing a refused call aimed at changed.

use std::time::Duration;

use tonic::Code;

use agentry_proto::v1 as pb;
use agentry_test_util::secure::{AuthedClient, SecureHub, TokenSpec};
use agentry_test_util::{Observed, eventually};

const WAIT: Duration = Duration::from_secs(20);

fn tokens() -> Vec<TokenSpec> {
    vec![
        TokenSpec::new("root", "admin", None),
        TokenSpec::new("ops-acme", "operator", Some("acme")),
        TokenSpec::new("alice", "client", Some("acme")),
        TokenSpec::new("vic", "viewer", Some("acme")),
        TokenSpec::new("bob", "client", Some("globex")),
    ]
}

fn client(hub: &SecureHub, name: &str) -> AuthedClient {
    hub.client(Some(&format!("token-{name}"))).expect("a client")
}

fn spawn_request(input: Option<&str>) -> pb::SpawnRequest {
    let spec = pb::AgentSpec { model: "openai:scripted".into(), ..pb::AgentSpec::default() };
    pb::SpawnRequest { spec: Some(spec), input: input.map(str::to_owned), ..pb::SpawnRequest::default() }
}

/// Returns every audit record, as the admin sees them.
async fn audit_log(hub: &SecureHub) -> anyhow::Result<Vec<pb::AuditRecord>> {
    let request = pb::ListAuditRequest { limit: 1000, ..Default::default() };
    Ok(client(hub, "root").list_audit(request).await?.into_inner().records)
}

/// Waits until the audit log holds a record of `action` on `target` by `actor` with `outcome`.
async fn audited(hub: &SecureHub, actor: &str, action: &str, target: &str, outcome: &str) -> anyhow::Result<()> {
    let what = format!("{actor}'s {action} on {target:?} to be audited as {outcome}");
    eventually(&what, WAIT, || async {
        match audit_log(hub).await {
            Ok(records) => Observed::from_option(
                records
                    .iter()
                    .find(|record| {
                        record.actor == actor
                            && record.action == action
                            && record.outcome == outcome
                            && (target.is_empty() || record.target == target)
                    })
                    .map(|_| ()),
                || format!("{records:#?}"),
            ),
            Err(error) => Observed::NotYet(format!("{error:#}")),
        }
    })
    .await
}

#[tokio::test]
async fn tokens_roles_and_tenants_are_enforced_and_audited() -> anyhow::Result<()> {
    let hub = SecureHub::start(&tokens(), "", |_| {}).await?;

    let anonymous = hub.client(None)?.spawn(spawn_request(None)).await.expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    let forged = hub.client(Some("token-mallory"))?.list_agents(pb::ListAgentsRequest::default()).await;
    assert_eq!(forged.expect_err("an unknown token").code(), Code::Unauthenticated);
    let viewer = client(&hub, "vic").spawn(spawn_request(None)).await.expect_err("a viewer spawning");
    assert_eq!(viewer.code(), Code::PermissionDenied, "{viewer:?}");
    assert!(viewer.message().contains("viewer") && viewer.message().contains("Spawn"), "{viewer:?}");

    let mut alice = client(&hub, "alice");
    let spawned = alice.spawn(spawn_request(Some("first"))).await?.into_inner();
    let (agent_id, run_id) = (spawned.agent_id.clone(), spawned.run_id.clone());
    let mut bob = client(&hub, "bob");

    // What bob is told about alice's agent is what anyone is told about a missing one.
    let missing = uuid_like(&agent_id);
    let absent = bob.get_agent(pb::GetAgentRequest { agent_id: missing.clone() }).await.expect_err("missing");
    let hidden = bob.get_agent(pb::GetAgentRequest { agent_id: agent_id.clone() }).await.expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound, "{hidden:?}");
    assert_eq!(hidden.message().replace(&agent_id, "ID"), absent.message().replace(&missing, "ID"));

    let send = pb::SendMessageRequest { agent_id: agent_id.clone(), input: "hi".into(), ..Default::default() };
    assert_eq!(bob.send_message(send).await.expect_err("send").code(), Code::NotFound);
    let cancel = pb::CancelRunRequest { run_id: run_id.clone(), ..Default::default() };
    assert_eq!(bob.cancel_run(cancel).await.expect_err("cancel").code(), Code::NotFound);
    let pause = pb::PauseRunRequest { run_id: run_id.clone(), ..Default::default() };
    assert_eq!(bob.pause_run(pause).await.expect_err("pause").code(), Code::NotFound);
    assert_eq!(
        bob.get_run(pb::GetRunRequest { run_id: run_id.clone() }).await.expect_err("run").code(),
        Code::NotFound
    );
    let trace = pb::TraceRequest { agent_id: agent_id.clone(), ..Default::default() };
    assert_eq!(bob.trace(trace).await.expect_err("trace").code(), Code::NotFound);
    let by_run = pb::TraceRequest { run_id: run_id.clone(), ..Default::default() };
    assert_eq!(bob.trace(by_run).await.expect_err("trace by run").code(), Code::NotFound);
    let fork = pb::ForkRequest { agent_id: agent_id.clone(), ..Default::default() };
    assert_eq!(bob.fork(fork).await.expect_err("fork").code(), Code::NotFound);
    let tree = pb::GetTreeRequest { agent_id: agent_id.clone() };
    assert_eq!(bob.get_tree(tree).await.expect_err("tree").code(), Code::NotFound);
    let messages = pb::ListMessagesRequest { agent_id: agent_id.clone() };
    assert_eq!(bob.list_messages(messages).await.expect_err("messages").code(), Code::NotFound);
    let child = pb::SpawnRequest { parent_id: agent_id.clone(), ..spawn_request(None) };
    assert_eq!(bob.spawn(child).await.expect_err("a child under acme's agent").code(), Code::NotFound);
    let listed = bob.list_agents(pb::ListAgentsRequest::default()).await?.into_inner().agents;
    assert!(listed.iter().all(|agent| agent.agent_id != agent_id), "bob lists acme's agent");

    // Nothing bob aimed at changed: alice's run is still queued, her agent has one run.
    let run = alice.get_run(pb::GetRunRequest { run_id: run_id.clone() }).await?.into_inner().run.unwrap_or_default();
    assert_eq!(run.status, pb::RunStatus::Queued as i32, "{run:?}");
    let agents = alice.list_agents(pb::ListAgentsRequest::default()).await?.into_inner().agents;
    let agent = agents.iter().find(|agent| agent.agent_id == agent_id).expect("alice lists her agent");
    assert_eq!(agent.tenant, "acme");
    // The admin sees both tenants.
    let all = client(&hub, "root").list_agents(pb::ListAgentsRequest::default()).await?.into_inner().agents;
    assert!(all.iter().any(|agent| agent.agent_id == agent_id));

    // Every refusal is in the audit log, with who and what.
    audited(&hub, "anonymous", "Spawn", "", "UNAUTHENTICATED").await?;
    audited(&hub, "vic", "Spawn", "", "PERMISSION_DENIED").await?;
    audited(&hub, "bob", "CancelRun", &format!("run/{run_id}"), "NOT_FOUND").await?;
    audited(&hub, "bob", "SendMessage", &format!("agent/{agent_id}"), "NOT_FOUND").await?;
    audited(&hub, "bob", "GetAgent", "", "NOT_FOUND").await?;
    audited(&hub, "alice", "Spawn", &format!("agent/{agent_id}"), "OK").await?;
    let records = audit_log(&hub).await?;
    let bob_cancel =
        records.iter().find(|record| record.actor == "bob" && record.action == "CancelRun").expect("found");
    assert_eq!((bob_cancel.role.as_str(), bob_cancel.tenant.as_str()), ("client", "globex"));
    assert!(bob_cancel.source.starts_with("127.0.0.1:"), "{bob_cancel:?}");

    // The audit log is for operators and admins; an operator sees its tenant's records only.
    let denied = client(&hub, "vic").list_audit(pb::ListAuditRequest::default()).await.expect_err("viewer");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let request = pb::ListAuditRequest { limit: 1000, ..Default::default() };
    let operator = client(&hub, "ops-acme").list_audit(request).await?.into_inner().records;
    assert!(operator.iter().any(|record| record.actor == "alice"));
    assert!(operator.iter().all(|record| record.tenant == "acme"), "{operator:#?}");
    hub.stop().await
}

#[tokio::test]
async fn tenant_limits_node_pools_and_stream_caps_hold() -> anyhow::Result<()> {
    let extra = "[tenants.acme]\nmax-agents = 2\nnode-selector = { pool = \"acme\" }\n";
    let hub = SecureHub::start(&tokens(), extra, |config| config.max_trace_streams = 2).await?;
    let mut alice = client(&hub, "alice");

    let first = alice.spawn(spawn_request(None)).await?.into_inner();
    let agent = alice.get_agent(pb::GetAgentRequest { agent_id: first.agent_id.clone() }).await?.into_inner();
    let selector = agent.agent.unwrap_or_default().spec.unwrap_or_default().node_selector;
    assert_eq!(selector.get("pool").map(String::as_str), Some("acme"), "{selector:?}");
    let mut outside = spawn_request(None);
    if let Some(spec) = outside.spec.as_mut() {
        spec.node_selector.insert("pool".into(), "shared".into());
    }
    let refused = alice.spawn(outside).await.expect_err("a selector outside the pool");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    alice.spawn(spawn_request(None)).await?;
    let full = alice.spawn(spawn_request(None)).await.expect_err("a third agent");
    assert_eq!(full.code(), Code::ResourceExhausted, "{full:?}");
    assert!(full.message().contains("acme") && full.message().contains("2"), "{full:?}");
    // Another tenant is not limited by acme's cap.
    client(&hub, "bob").spawn(spawn_request(None)).await?;

    // Two trace streams per token; a third is refused until one closes.
    let follow = pb::TraceRequest { agent_id: first.agent_id.clone(), follow: true, ..Default::default() };
    let one = alice.trace(follow.clone()).await?;
    let _two = alice.trace(follow.clone()).await?;
    let third = alice.trace(follow.clone()).await.expect_err("a third stream");
    assert_eq!(third.code(), Code::ResourceExhausted, "{third:?}");
    assert!(third.message().contains("max-trace-streams"), "{third:?}");
    drop(one);
    eventually("a stream to free its slot", WAIT, || {
        let mut alice = alice.clone();
        let follow = follow.clone();
        async move {
            match alice.trace(follow).await {
                Ok(stream) => Observed::Ready(stream),
                Err(status) => Observed::NotYet(status.to_string()),
            }
        }
    })
    .await?;
    let records = audit_log(&hub).await?;
    assert!(records.iter().any(|record| record.action == "Trace" && record.outcome == "RESOURCE_EXHAUSTED"));
    hub.stop().await
}

/// Returns an id shaped like `agent_id` that names no agent (its last hex digit changed).
fn uuid_like(agent_id: &str) -> String {
    let mut id = agent_id.to_owned();
    let last = id.pop().unwrap_or('0');
    id.push(if last == '0' { '1' } else { '0' });
    id
}
