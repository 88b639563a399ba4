//! Fork, diff and rerun through real `agentry` processes on PostgreSQL + JetStream (issue 14's
//! "Must show"): an agent runs three model steps; `agentry fork --at SEQ --count 3` at the seq
//! of its first tool result makes three agents that share those messages; each continues on its
//! own, the model seeing the shared prefix in each branch and never being asked again for a
//! step of it; each fork's trace starts with `forked_from`; `agentry diff` tells where two forks
//! part and shows their answers; `agentry rerun --from-step 1` makes one more such branch.
//!
//! The model is a small OpenAI-compatible server of this file: unlike the scripted one of
//! `agentry-test-util` (which answers by step alone), its answers carry the number of the
//! request, so branches that continue from the same prefix diverge.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use agentry_sdk::Client;
use agentry_test_util::{NatsServer, PgTestDatabase, ProcessCluster, ProcessClusterConfig};

const DEADLINE: Duration = Duration::from_secs(60);
const FORKS: usize = 3;

/// An OpenAI-compatible chat completions server answering by step (assistant messages after
/// the last user message): step 0 calls `echo` with `one`, step 1 calls it with `two-N`, later
/// steps answer `answer N`, N being the request's number from 1. Records every request body.
struct Model {
    url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Model {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the model server");
        let url = format!("http://{}/v1", listener.local_addr().expect("its address"));
        let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, Arc::clone(&recorded)));
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("requests lock").clone()
    }
}

/// Reads one HTTP request, answers it as a whole chat completion and closes the connection.
async fn answer(mut stream: TcpStream, requests: Arc<Mutex<Vec<Value>>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 8192];
    let (head_end, length) = loop {
        let Ok(read) = stream.read(&mut chunk).await else { return };
        if read == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while buffer.len() < head_end + length {
        let Ok(read) = stream.read(&mut chunk).await else { return };
        if read == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let body: Value = serde_json::from_slice(&buffer[head_end..head_end + length]).unwrap_or_default();
    let number = {
        let mut requests = requests.lock().expect("requests lock");
        requests.push(body.clone());
        requests.len()
    };
    let reply = completion(&body, number).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Returns the step a request asks for: its assistant messages after the last user message.
fn step(body: &Value) -> usize {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last_user = messages.iter().rposition(|message| message["role"] == "user").unwrap_or(0);
    messages[last_user..].iter().filter(|message| message["role"] == "assistant").count()
}

/// Returns the answer to request `number` (from 1).
fn completion(body: &Value, number: usize) -> Value {
    let call = |text: String| {
        json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": format!("call_{number}"),
                "type": "function",
                "function": { "name": "echo", "arguments": json!({ "text": text }).to_string() },
            }],
        })
    };
    let (message, finish) = match step(body) {
        0 => (call("one".to_owned()), "tool_calls"),
        1 => (call(format!("two-{number}")), "tool_calls"),
        _ => (json!({ "role": "assistant", "content": format!("answer {number}") }), "stop"),
    };
    json!({
        "id": format!("chatcmpl-{number}"),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": body["model"],
        "choices": [{ "index": 0, "message": message, "finish_reason": finish }],
        "usage": { "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15 },
    })
}

/// Returns the conversation a request sent, without system messages.
fn conversation(body: &Value) -> Vec<Value> {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    messages.into_iter().filter(|message| message["role"] != "system").collect()
}

/// Returns the content of the last message of `agent_id` (its final answer once completed).
async fn last_answer(client: &Client, agent_id: &str) -> String {
    let messages = client.list_messages(agent_id).await.expect("list messages");
    messages.last().map(|message| message.content.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_share_the_prefix_without_asking_the_model_again_and_diff_shows_where_they_part() {
    let model = Model::start().await;
    let database = PgTestDatabase::create().await.expect("creating a test database");
    let nats = NatsServer::start().expect("starting nats-server");
    let config = ProcessClusterConfig::new(env!("CARGO_BIN_EXE_agentry"), database.url(), nats.url(), &model.url);
    let cluster = ProcessCluster::start(config, 2).await.expect("starting the cluster");
    let client = Client::connect(cluster.hub_url()).await.expect("connecting to the hub");

    let source = cluster
        .spawn(&["--model", "openai:scripted", "--tools", "echo", "--input", "find the answer"])
        .await
        .expect("spawn");
    cluster.wait_until_completed(std::slice::from_ref(&source), DEADLINE).await.expect("the source completes");
    let original = client.list_messages(source.as_str()).await.expect("list messages");
    let roles: Vec<&str> = original.iter().map(|message| message.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant", "tool", "assistant"]);
    assert_eq!(model.requests().len(), 3);
    // Mid-conversation: after the first tool result (message 2).
    let at_seq = original[2].seq;
    assert!(at_seq > 0 && at_seq < original[3].seq, "messages record their commit's seq: {original:?}");

    let at = at_seq.to_string();
    let count = FORKS.to_string();
    let forked = cluster.json(&["fork", &source, "--at", &at, "--count", &count, "-o", "json"]).await.expect("fork");
    assert_eq!((forked["forked_from"].as_str(), forked["at_seq"].as_u64()), (Some(source.as_str()), Some(at_seq)));
    assert_eq!(forked["message_count"], 3);
    let forks: Vec<String> = forked["forks"]
        .as_array()
        .expect("forks")
        .iter()
        .map(|fork| fork["agent_id"].as_str().expect("agent id").to_owned())
        .collect();
    assert_eq!(forks.len(), FORKS);
    cluster.wait_until_completed(&forks, DEADLINE).await.expect("every fork completes");

    // Each branch asked for its own steps only: 2 each, never step 0 again.
    let requests = model.requests();
    assert_eq!(requests.len(), 3 + 2 * FORKS, "the shared prefix is not asked for again");
    let steps: Vec<usize> = requests.iter().map(step).collect();
    assert_eq!(steps.iter().filter(|&&step| step == 0).count(), 1, "step 0 is asked once: {steps:?}");
    // The model saw the shared prefix in every branch.
    let prefix = conversation(&requests[1])[..3].to_vec();
    assert_eq!(prefix[0]["content"], "find the answer");
    for request in &requests[3..] {
        assert_eq!(conversation(request)[..3], prefix[..], "a branch's request starts with the shared prefix");
    }
    let branch_starts = requests[3..].iter().filter(|request| conversation(request).len() == 3).count();
    assert_eq!(branch_starts, FORKS, "each fork asked once from the shared prefix");

    let mut answers = Vec::new();
    for fork in &forks {
        let trace = cluster.trace(fork).await.expect("trace");
        let first = &trace[0];
        assert_eq!((first["seq"].as_u64(), first["type"].as_str()), (Some(1), Some("forked_from")), "{trace:?}");
        assert_eq!(
            (first["data"]["agent_id"].as_str(), first["data"]["seq"].as_u64()),
            (Some(source.as_str()), Some(at_seq))
        );
        assert_eq!(first["data"]["message_count"], 3);
        let agent = client.get_agent(fork.as_str()).await.expect("get agent");
        assert_eq!((agent.forked_from.as_str(), agent.forked_at_seq), (source.as_str(), at_seq));
        let messages = client.list_messages(fork.as_str()).await.expect("list messages");
        assert_eq!(messages.len(), 6, "3 shared, then its own call, result and answer");
        answers.push(last_answer(&client, fork).await);
    }
    let mut distinct = answers.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), FORKS, "the branches diverged: {answers:?}");
    assert_eq!(client.list_messages(source.as_str()).await.expect("list messages"), original, "the source is intact");

    // `agentry diff`: the shared prefix, the first divergent message of each, the answers.
    let output = cluster.client(&["diff", &forks[0], &forks[1]]).await.expect("diff");
    assert!(output.status.success(), "diff: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "shared: first 3 messages", "{text}");
    assert_eq!(lines[1], "first divergent message:", "{text}");
    for (line, fork) in lines[2..4].iter().zip(&forks) {
        assert!(line.starts_with(&format!("  {fork}: #3 assistant echo(")), "{text}");
        assert!(line.contains(r#"{"text":"two-"#), "{text}");
    }
    assert_ne!(lines[2].split_once(": ").map(|(_, rest)| rest), lines[3].split_once(": ").map(|(_, rest)| rest));
    assert_eq!(lines[4], "final answers:", "{text}");
    assert!(lines[5].starts_with(forks[0].as_str()) && lines[5].ends_with(forks[1].as_str()), "{text}");
    assert!(lines[6].starts_with(&answers[0]) && lines[6].ends_with(&answers[1]), "{text}");
    let against_source = cluster.client(&["diff", &source, &forks[2]]).await.expect("diff");
    let text = String::from_utf8_lossy(&against_source.stdout).into_owned();
    assert!(text.starts_with("shared: first 3 messages\n"), "a fork shares its prefix with its source: {text}");

    // `agentry rerun RUN --from-step 1`: one more branch from the same point.
    let run_id = cluster
        .agents()
        .await
        .expect("ps")
        .iter()
        .find(|agent| agent["agent_id"] == source.as_str())
        .and_then(|agent| agent["latest_run"]["run_id"].as_str().map(str::to_owned))
        .expect("the source's run");
    let rerun = cluster.client(&["rerun", &run_id, "--from-step", "1"]).await.expect("rerun");
    assert!(rerun.status.success(), "rerun: {}", String::from_utf8_lossy(&rerun.stderr));
    let printed = String::from_utf8_lossy(&rerun.stdout).into_owned();
    let (rerun_agent, rerun_run) = printed.trim().split_once(' ').expect("AGENT RUN");
    assert!(String::from_utf8_lossy(&rerun.stderr).contains("shares its first 3 messages"));
    cluster.wait_until_completed(&[rerun_agent.to_owned()], DEADLINE).await.expect("the rerun completes");
    let rerun_trace = cluster.trace(rerun_agent).await.expect("trace");
    assert_eq!(rerun_trace[0]["type"], "forked_from");
    assert_eq!(rerun_trace[0]["data"]["run_id"], run_id.as_str(), "it continues the source's run");
    assert_eq!(rerun_trace[0]["data"]["step"], 1);
    assert!(rerun_trace.iter().all(|event| event["run_id"] == rerun_run), "one run: {rerun_trace:?}");
    assert_eq!(model.requests().len(), 3 + 2 * FORKS + 2, "the rerun asked for steps 2 and 3 only");
}
