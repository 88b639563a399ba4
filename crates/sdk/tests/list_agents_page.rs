//! `Client::list_agents_page` against an in-process hub (SQLite, no node): pages follow
//! `next_page_token` newest first, filters apply, and a token the hub did not give is
//! `InvalidArgument`.

use std::collections::HashMap;

use agentry_sdk::proto::{AgentSpec, ListAgentsRequest, RunStatus, SpawnRequest};
use agentry_sdk::{Client, ClientError};
use agentry_test_util::{Backend, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_token_and_filters_apply() {
    let cluster = Cluster::start(Backend::Sqlite, 0, "http://127.0.0.1:9").await.unwrap();
    let mut hub = cluster.client().await.unwrap();
    let mut spawned = Vec::new();
    for index in 0..5 {
        let request = SpawnRequest {
            spec: Some(AgentSpec { model: "openai:scripted".into(), ..AgentSpec::default() }),
            // No node takes them: the odd ones stay queued, the even ones have no run.
            input: (index % 2 == 1).then(|| "hi".to_owned()),
            labels: HashMap::from([("index".to_owned(), index.to_string())]),
            ..Default::default()
        };
        spawned.push(hub.spawn(request).await.unwrap().into_inner().agent_id);
    }
    spawned.reverse();

    let client = Client::connect(cluster.hub_url.clone()).await.unwrap();
    let mut listed = Vec::new();
    let mut request = ListAgentsRequest { limit: 2, ..Default::default() };
    loop {
        let page = client.list_agents_page(request.clone()).await.unwrap();
        assert!(page.agents.len() <= 2);
        listed.extend(page.agents.into_iter().map(|agent| agent.agent_id));
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    assert_eq!(listed, spawned, "newest first, each once");

    let queued = ListAgentsRequest { statuses: vec![RunStatus::Queued as i32], ..Default::default() };
    let queued: Vec<String> =
        client.list_agents_page(queued).await.unwrap().agents.into_iter().map(|agent| agent.agent_id).collect();
    assert_eq!(queued, [spawned[1].clone(), spawned[3].clone()]);
    let labelled = ListAgentsRequest { query: "index=4".into(), ..Default::default() };
    let labelled = client.list_agents_page(labelled).await.unwrap();
    assert_eq!((labelled.agents.len(), labelled.agents[0].agent_id.as_str()), (1, spawned[0].as_str()));
    assert_eq!(client.list_agents(0).await.unwrap().len(), 5, "the first page, as before");

    let forged = ListAgentsRequest { page_token: "not-a-token".into(), ..Default::default() };
    let refused: ClientError = client.list_agents_page(forged).await.expect_err("a forged token");
    assert_eq!(refused.code(), Some(tonic::Code::InvalidArgument), "{refused}");
    assert!(refused.to_string().contains("page_token"), "{refused}");
    cluster.shutdown().await;
}
