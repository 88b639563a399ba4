//! Issue 16 end to end on a hub with TLS, mutual TLS for nodes and token authentication
//! ([`SecureHub`]): plaintext and wrongly trusting clients fail, nodes need their own
//! certificate, roles and tenants are enforced (another tenant's agent is NOT_FOUND, exactly
//! like a missing one), tenant limits and node pools hold, every refusal is audited and nothing
//! a refused call touched changed.

use std::time::Duration;

use tonic::Code;

use agentry_proto::v1 as pb;
use agentry_test_util::secure::{SecureHub, TokenSpec};
use agentry_test_util::{Observed, Reply, ScriptedModel, eventually};

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

fn secret(name: &str) -> String {
    format!("token-{name}")
}

fn spec() -> pb::AgentSpec {
    pb::AgentSpec { model: "openai:scripted".into(), ..pb::AgentSpec::default() }
}

fn spawn_request(input: Option<&str>) -> pb::SpawnRequest {
    pb::SpawnRequest { spec: Some(spec()), input: input.map(str::to_owned), ..pb::SpawnRequest::default() }
}

/// Waits until the audit log holds a record matching `wanted`; returns it.
async fn audited(
    hub: &SecureHub,
    what: &str,
    wanted: impl Fn(&pb::AuditRecord) -> bool,
) -> anyhow::Result<pb::AuditRecord> {
    let admin = hub.client(Some(&secret("root")))?;
    eventually(what, WAIT, || {
        let mut admin = admin.clone();
        let wanted = &wanted;
        async move {
            match admin.list_audit(pb::ListAuditRequest { limit: 1000, ..Default::default() }).await {
                Ok(page) => {
                    let records = page.into_inner().records;
                    Observed::from_option(records.iter().find(|record| wanted(record)).cloned(), || {
                        format!("{} records, none matching", records.len())
                    })
                }
                Err(status) => Observed::NotYet(format!("ListAudit: {status}")),
            }
        }
    })
    .await
}

#[tokio::test]
async fn tls_refuses_plaintext_clients_and_clients_trusting_another_ca() -> anyhow::Result<()> {
    let hub = SecureHub::start(&tokens(), "", |_| {}).await?;
    let mut good = hub.client(Some(&secret("root")))?;
    let me = good.who_am_i(pb::WhoAmIRequest {}).await?.into_inner();
    assert_eq!((me.actor.as_str(), me.role.as_str(), me.method.as_str()), ("root", "admin", "token"));

    // Plaintext HTTP/2 against the TLS listener.
    let plaintext = tonic::transport::Endpoint::from_shared(hub.url.replacen("https://", "http://", 1))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await;
    let refused = match plaintext {
        Err(error) => format!("{error:?}"),
        Ok(channel) => {
            let mut client = pb::agent_hub_client::AgentHubClient::new(channel);
            let status = client.who_am_i(pb::WhoAmIRequest {}).await.expect_err("plaintext must not get an answer");
            assert_ne!(status.code(), Code::Ok);
            format!("{status:?}")
        }
    };
    assert!(!refused.is_empty());

    // A client trusting another CA.
    let other = tempfile::tempdir()?;
    let foreign = agentry_tls::dev::generate(other.path(), &[], &[], &[])?;
    let tls =
        agentry_tls::ClientTls::load(agentry_tls::ClientTlsFiles { ca: Some(foreign.ca), cert: None, key: None })?;
    let mut wrong_ca = pb::agent_hub_client::AgentHubClient::new(hub.channel(&tls)?);
    let status = wrong_ca.who_am_i(pb::WhoAmIRequest {}).await.expect_err("an unknown issuer must fail");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let chain = format!("{status:?}");
    assert!(chain.contains("UnknownIssuer") || chain.contains("certificate"), "{chain}");

    // The HTTP listener (console, gateway, metrics) is TLS too, with the same certificate.
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&hub.certs.ca)?)?;
    let https = reqwest::Client::builder().add_root_certificate(ca).build()?;
    let ready = https.get(format!("{}/readyz", hub.http_base)).send().await?;
    assert_eq!(ready.status(), 200);
    let plain_http = reqwest::get(format!("{}/readyz", hub.http_base.replacen("https://", "http://", 1))).await;
    assert!(plain_http.is_err() || !plain_http?.status().is_success());

    // Still serving the good client after the failed handshakes.
    assert_eq!(good.who_am_i(pb::WhoAmIRequest {}).await?.into_inner().actor, "root");
    hub.stop().await
}

#[tokio::test]
async fn nodes_need_a_certificate_of_their_own_name() -> anyhow::Result<()> {
    let hub = SecureHub::start(&tokens(), "", |_| {}).await?;
    let join = |name: &str| pb::JoinRequest { name: name.to_owned(), slots: 1, ..Default::default() };

    let anonymous = hub.node_client(None)?.join(join("node-a")).await.expect_err("a node without a certificate");
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    let mut node_a = hub.node_client(Some("node-a"))?;
    let mut node_b = hub.node_client(Some("node-b"))?;
    let posing = node_a.join(join("node-b")).await.expect_err("node-a joining as node-b");
    assert_eq!(posing.code(), Code::PermissionDenied, "{posing:?}");
    assert!(posing.message().contains("node-a"), "{posing:?}");

    let a = node_a.join(join("node-a")).await?.into_inner().node_id;
    let b = node_b.join(join("node-b")).await?.into_inner().node_id;
    let beat = |node_id: &str| pb::HeartbeatRequest { node_id: node_id.to_owned(), ..Default::default() };
    node_b.heartbeat(beat(&b)).await?;
    let stolen = node_b.heartbeat(beat(&a)).await.expect_err("node-b beating for node-a");
    assert_eq!(stolen.code(), Code::PermissionDenied, "{stolen:?}");
    let leave = node_b.leave(pb::LeaveRequest { node_id: a.clone() }).await.expect_err("node-b leaving for node-a");
    assert_eq!(leave.code(), Code::PermissionDenied, "{leave:?}");
    let lease = futures::stream::iter([pb::LeaseRequest { node_id: a.clone(), ..Default::default() }]);
    let held = match node_b.lease(lease).await {
        Err(status) => status,
        Ok(answers) => {
            let mut answers = answers.into_inner();
            answers.message().await.expect_err("node-b holding node-a's lease")
        }
    };
    assert_eq!(held.code(), Code::PermissionDenied, "{held:?}");
    // node-a is untouched: still a ready member.
    let nodes = hub.client(Some(&secret("root")))?.list_nodes(pb::ListNodesRequest {}).await?.into_inner().nodes;
    let node = nodes.iter().find(|node| node.node_id == a).expect("node-a listed");
    assert_eq!(node.name, "node-a");

    // A node's certificate does not open the client API, and a client token not NodeService.
    let node_tls = hub.client_tls(Some(("node", "node-a")))?;
    let mut as_client = pb::agent_hub_client::AgentHubClient::new(hub.channel(&node_tls)?);
    let denied = as_client.spawn(spawn_request(None)).await.expect_err("a node calling Spawn");
    assert!(matches!(denied.code(), Code::PermissionDenied | Code::Unauthenticated), "{denied:?}");
    let mut token_only = pb::node_service_client::NodeServiceClient::with_interceptor(
        hub.channel(&hub.client_tls(None)?)?,
        |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", "Bearer token-root".parse().expect("ascii"));
            Ok(request)
        },
    );
    let refused = token_only.join(join("node-c")).await.expect_err("an admin token is no node certificate");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    audited(&hub, "the refused join to be audited", |record| {
        record.action == "Join" && record.outcome == "PERMISSION_DENIED" && record.actor.contains("node-a")
    })
    .await?;
    audited(&hub, "the refused heartbeat to be audited", |record| {
        record.action == "Heartbeat" && record.outcome == "PERMISSION_DENIED"
    })
    .await?;
    hub.stop().await
}

#[tokio::test]
async fn a_node_with_its_certificate_runs_agents_over_mutual_tls() -> anyhow::Result<()> {
    let model = ScriptedModel::start(vec![Reply::text("done over TLS")], Duration::ZERO).await?;
    let mut hub = SecureHub::start(&tokens(), "", |_| {}).await?;
    hub.start_node("node-a", &model.base_url());
    let mut alice = hub.client(Some(&secret("alice")))?;
    let spawned = alice.spawn(spawn_request(Some("hello"))).await?.into_inner();
    let run = eventually("the run to complete on node-a", WAIT, || {
        let mut alice = alice.clone();
        let run_id = spawned.run_id.clone();
        async move {
            match alice.get_run(pb::GetRunRequest { run_id }).await {
                Ok(run) => {
                    let run = run.into_inner().run.unwrap_or_default();
                    if run.status == pb::RunStatus::Completed as i32 {
                        Observed::Ready(run)
                    } else {
                        Observed::NotYet(format!("status {}", run.status))
                    }
                }
                Err(status) => Observed::NotYet(status.to_string()),
            }
        }
    })
    .await?;
    let nodes = alice.list_nodes(pb::ListNodesRequest {}).await?.into_inner().nodes;
    let node = nodes.iter().find(|node| node.node_id == run.node_id).expect("the run's node");
    assert_eq!(node.name, "node-a");
    let agent = alice.get_agent(pb::GetAgentRequest { agent_id: spawned.agent_id.clone() }).await?.into_inner();
    assert_eq!(agent.agent.unwrap_or_default().tenant, "acme");
    hub.stop().await
}
