//! The router against scripted servers speaking the real wire formats: retries honouring
//! `Retry-After`, the breaker, fallback along a chain, routing rules, prices.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::model::ToolChoice;
use crate::model::testing::{self, Canned};
use agentry_core::Message;
use agentry_core::models::{ModelList, RouteConfig, RouteRule};

const PATH: &str = "/v1/chat/completions";

fn answer(text: &str, model: &str) -> Canned {
    testing::json(
        200,
        &json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
        }),
    )
}

fn unavailable() -> Canned {
    (503, vec![], "overloaded".to_owned())
}

fn model(base_url: &str, name: &str) -> ModelConfig {
    ModelConfig { base_url: Some(base_url.to_owned()), model: Some(name.to_owned()), ..ModelConfig::default() }
}

fn defaults() -> DefaultEndpoints {
    DefaultEndpoints {
        openai: EndpointConfig::new("http://127.0.0.1:9/v1"),
        anthropic: EndpointConfig::new("http://127.0.0.1:9/v1"),
    }
}

fn chat() -> ChatRequest {
    ChatRequest {
        model: String::new(),
        messages: vec![Message::user("hi")],
        tools: Vec::new(),
        tool_choice: ToolChoice::Auto,
        temperature: None,
    }
}

/// Returns a router over `models`, and the resolution of `reference` for `input`.
fn router(models: Vec<(&str, ModelConfig)>, routes: Vec<(&str, RouteConfig)>) -> ModelRouter {
    let catalog = ModelsConfig {
        models: models.into_iter().map(|(name, model)| (name.to_owned(), model)).collect(),
        routes: routes.into_iter().map(|(name, route)| (name.to_owned(), route)).collect(),
    };
    catalog.validate().expect("a valid catalogue");
    ModelRouter::new(catalog, &defaults()).expect("a router")
}

fn resolve(router: &ModelRouter, reference: &str, input: &str) -> Resolution {
    router.resolve(reference, RouteInput { input, prompt_tokens: 10 }).expect("a resolution")
}

#[tokio::test]
async fn a_429_with_retry_after_1_is_retried_after_at_least_a_second() {
    let answers = vec![(429, vec![("retry-after", "1")], "rate limited".to_owned()), answer("ok", "gpt")];
    let (script, base_url) = testing::serve(PATH, answers).await;
    let router = router(vec![("gpt", model(&base_url, "gpt-4o"))], vec![]);

    let routed = router.complete(&resolve(&router, "gpt", "x"), &chat(), None).await.unwrap();

    assert_eq!(routed.response.message.content, "ok");
    assert_eq!((routed.attempts, routed.hops.len()), (2, 0));
    let requests = script.requests();
    let waited = requests[1].at - requests[0].at;
    assert!(waited >= Duration::from_secs(1), "the retry came after {waited:?}, before Retry-After");
}

#[tokio::test]
async fn a_model_that_keeps_failing_opens_its_breaker_and_the_chain_falls_back() {
    let (primary, primary_url) = testing::serve(PATH, vec![unavailable(); 8]).await;
    let (secondary, secondary_url) = testing::serve(PATH, vec![answer("from b", "b"), answer("again b", "b")]).await;
    let flaky = ModelConfig { max_attempts: 2, breaker_failures: 2, ..model(&primary_url, "a-model") };
    let router = router(vec![("a", flaky), ("b", model(&secondary_url, "b-model"))], vec![]);
    let resolution = resolve(&router, "a,b", "x");

    let first = router.complete(&resolution, &chat(), None).await.unwrap();
    assert_eq!((first.target.name.as_str(), first.response.message.content.as_str()), ("b", "from b"));
    assert_eq!(first.hops.len(), 1);
    assert_eq!(first.hops[0].model, "a");
    assert!(first.hops[0].error.contains("HTTP 503"), "{:?}", first.hops);
    assert_eq!(primary.requests().len(), 2, "two attempts, then the breaker opened");

    let second = router.complete(&resolution, &chat(), None).await.unwrap();
    assert_eq!(second.response.message.content, "again b");
    assert!(second.hops[0].error.contains("circuit breaker open"), "{:?}", second.hops);
    assert_eq!(primary.requests().len(), 2, "the open breaker kept the call off the failing model");
    assert_eq!(secondary.requests()[0].body["model"], "b-model");
}

#[tokio::test]
async fn a_final_error_falls_back_at_once_and_an_exhausted_chain_names_every_error() {
    let (primary, primary_url) = testing::serve(PATH, vec![(401, vec![], "bad key".to_owned())]).await;
    let (_secondary, secondary_url) = testing::serve(PATH, vec![(200, vec![], "<html>".to_owned())]).await;
    let router = router(vec![("a", model(&primary_url, "a")), ("b", model(&secondary_url, "b"))], vec![]);

    let failure = router.complete(&resolve(&router, "a,b", "x"), &chat(), None).await.unwrap_err();

    assert_eq!(primary.requests().len(), 1, "401 is not retried");
    let text = failure.to_string();
    assert!(
        text.starts_with("every model of the chain failed: a: model server answered HTTP 401: bad key; b: "),
        "{text}"
    );
    assert!(text.contains("could not be decoded"), "{text}");
}

#[tokio::test]
async fn routing_rules_send_the_call_to_the_model_they_pick() {
    let (general, general_url) = testing::serve(PATH, vec![answer("general", "g")]).await;
    let (coder, coder_url) = testing::serve(PATH, vec![answer("coder", "c")]).await;
    let rule = RouteRule {
        if_contains: vec!["refactor".into()],
        model: Some(ModelList::One("coder".into())),
        ..RouteRule::default()
    };
    let route = RouteConfig { model: ModelList::One("general".into()), rules: vec![rule] };
    let router = router(
        vec![("general", model(&general_url, "general-1")), ("coder", model(&coder_url, "coder-1"))],
        vec![("auto", route)],
    );

    let picked = resolve(&router, "auto", "please REFACTOR this");
    assert_eq!(picked.rule.as_deref(), Some("rules[0]"));
    let routed = router.complete(&picked, &chat(), None).await.unwrap();
    assert_eq!(routed.response.message.content, "coder");
    assert_eq!(coder.requests()[0].body["model"], "coder-1");

    let default = resolve(&router, "auto", "say hello");
    assert_eq!(default.rule.as_deref(), Some("default"));
    assert_eq!(router.complete(&default, &chat(), None).await.unwrap().response.message.content, "general");
    assert_eq!(general.requests().len(), 1);
}

#[tokio::test]
async fn a_priced_model_prices_its_calls_and_its_key_and_headers_are_sent() {
    let (script, base_url) = testing::serve(PATH, vec![answer("ok", "gpt")]).await;
    let priced = ModelConfig {
        input_price: 2.5,
        output_price: 10.0,
        api_key_env: Some("KEY".into()),
        api_key: Some("sk-configured".into()),
        headers: BTreeMap::from([("x-org".to_owned(), "o1".to_owned())]),
        ..model(&base_url, "gpt-4o")
    };
    let router = router(vec![("gpt", priced)], vec![]);

    let routed = router.complete(&resolve(&router, "gpt", "x"), &chat(), None).await.unwrap();

    // 1000 input tokens at $2.5/M + 500 output tokens at $10/M.
    assert!((routed.cost_usd - 0.0075).abs() < 1e-12, "{}", routed.cost_usd);
    let request = &script.requests()[0];
    assert_eq!(request.headers["authorization"], "Bearer sk-configured");
    assert_eq!(request.headers["x-org"], "o1");
}

#[tokio::test]
async fn an_injected_provider_serves_every_model() {
    let (script, base_url) = testing::serve(PATH, vec![answer("ok", "m")]).await;
    let provider: Arc<dyn ModelProvider> = Arc::new(OpenAiProvider::new(&EndpointConfig::new(base_url)).unwrap());
    let router = ModelRouter::with_provider(ModelsConfig::default(), provider);
    let resolution = resolve(&router, "anthropic:claude-x", "x");
    let routed = router.complete(&resolution, &chat(), None).await.unwrap();
    assert_eq!((routed.cost_usd, routed.target.provider), (0.0, ProviderKind::Anthropic));
    assert_eq!(script.requests()[0].body["model"], "claude-x");
}
