//! docs/sdk.md's example: spawn an agent, then print its run's trace until the run ends.
//! With `make llm` and `agentry dev` running: `cargo run -p agentry-sdk --example quickstart`.

use agentry_sdk::proto::{AgentSpec, SpawnRequest, TraceRequest};
use agentry_sdk::{Client, ClientError};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let hub = std::env::var("AGENTRY_HUB").unwrap_or_else(|_| "http://127.0.0.1:7700".into());
    let client = Client::connect(hub).await?;
    let spec =
        AgentSpec { model: "openai:qwen2.5-coder-1.5b".into(), tools: vec!["bash".into()], ..Default::default() };
    let input = Some("Use bash to print the kernel name, then answer with it.".into());
    let spawned = client.spawn(SpawnRequest { spec: Some(spec), input, ..Default::default() }).await?;
    let run = TraceRequest { run_id: spawned.run_id, follow: true, ..Default::default() };
    let mut events = client.follow_trace(run); // reconnects and resumes if the hub restarts
    while let Some(event) = events.next().await {
        let event = event?;
        println!("#{} {} {}", event.seq, event.r#type, event.data);
    }
    Ok(())
}
