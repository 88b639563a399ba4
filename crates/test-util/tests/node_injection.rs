//! A node takes its model provider and its tools by injection (`Node::with_model`,
//! `Node::with_tools`): an embedder's in-process model and tool run a real agent through the
//! hub, with every step committed as usual.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use agentry_core::{Message, ToolCall};
use agentry_proto::v1 as pb;
use agentry_runtime::model::{ChatRequest, ChatResponse, ModelError, ModelProvider, TextDeltas, ToolSpec, Usage};
use agentry_runtime::tools::{Tool, ToolCatalog, ToolContext, ToolError, ToolRegistry};
use agentry_test_util::{Backend, Cluster};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Asks for `echo` once, then answers with what the tool returned.
struct InProcessModel {
    calls: AtomicUsize,
}

#[async_trait]
impl ModelProvider for InProcessModel {
    async fn complete(&self, request: &ChatRequest, _: Option<TextDeltas<'_>>) -> Result<ChatResponse, ModelError> {
        let message = match self.calls.fetch_add(1, Ordering::SeqCst) {
            0 => {
                let call = ToolCall {
                    id: "call-1".into(),
                    name: "echo".into(),
                    arguments: json!({ "text": "hi" }).to_string(),
                };
                Message::assistant("", vec![call])
            }
            _ => {
                let tool_result = request.messages.last().map(|message| message.content.clone()).unwrap_or_default();
                Message::assistant(format!("the tool said {tool_result}"), Vec::new())
            }
        };
        Ok(ChatResponse {
            message,
            usage: Usage { prompt_tokens: 3, completion_tokens: 2 },
            finish_reason: None,
            model: None,
        })
    }
}

/// An `echo` that shouts and records its calls.
#[derive(Default)]
struct Shout {
    calls: Mutex<Vec<String>>,
}

#[async_trait]
impl Tool for Shout {
    fn spec(&self) -> ToolSpec {
        ToolSpec { name: "echo".into(), description: "shouts".into(), parameters: json!({ "type": "object" }) }
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        self.calls.lock().expect("calls").push(context.idempotency_key.clone());
        Ok(arguments["text"].as_str().unwrap_or_default().to_uppercase())
    }
}

/// Offers [`Shout`] as every agent's `echo`.
struct ShoutCatalog(Arc<Shout>);

impl ToolCatalog for ShoutCatalog {
    fn tools(&self, names: &[String]) -> Result<ToolRegistry, String> {
        let mut registry = ToolRegistry::default();
        if names.iter().any(|name| name == "echo") {
            registry.insert(self.0.clone());
        }
        Ok(registry)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_model_and_tool_run_an_agent_through_the_hub() {
    // No model server: the node must never make an HTTP model call.
    let mut cluster = Cluster::start(Backend::Sqlite, 0, "http://127.0.0.1:1/v1").await.expect("starting the hub");
    let shout = Arc::new(Shout::default());
    let model = Arc::new(InProcessModel { calls: AtomicUsize::new(0) });
    let (tools, injected_model) = (ShoutCatalog(shout.clone()), model.clone());
    cluster
        .add_custom_node(move |node| node.with_model(injected_model).with_tools(Arc::new(tools)))
        .await
        .expect("starting the node");
    cluster.wait_for_ready_nodes(1).await.expect("the node joined");

    let spec = pb::AgentSpec { model: "openai:in-process".into(), tools: vec!["echo".into()], ..Default::default() };
    let spawned = cluster.spawn(spec, Some("say hi".into())).await.expect("spawn");
    let request = pb::TraceRequest { run_id: spawned.run_id.clone(), follow: true, ..Default::default() };
    let events = cluster.trace(request, TIMEOUT).await.expect("the run's trace");

    let final_answer = events.iter().find(|event| event.r#type == "final").expect("a final event");
    assert!(final_answer.data.contains("the tool said HI"), "{}", final_answer.data);
    assert_eq!(events.last().map(|event| event.r#type.as_str()), Some("run_finished"));
    assert_eq!(model.calls.load(Ordering::SeqCst), 2, "the injected model answered both steps");
    let keys = shout.calls.lock().expect("calls").clone();
    assert_eq!(keys.len(), 1, "the injected tool ran once: {keys:?}");
    assert!(keys[0].starts_with(&spawned.run_id) && keys[0].ends_with("/call-1"), "keyed by run/step/call: {keys:?}");
    cluster.shutdown().await;
}
