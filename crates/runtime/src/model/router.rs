//! [`ModelRouter`]: the catalogue's models behind one call. For each model of a resolved chain,
//! in order: ask its circuit breaker, call it with retries (exponential backoff with jitter via
//! `backon`, waiting at least the server's `Retry-After`), and on failure fall back to the next
//! model, recording the hop. The answer comes back priced with the model's configured prices.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};

use super::breaker::Breaker;
use super::http::EndpointConfig;
use super::{AnthropicProvider, ChatRequest, ChatResponse, ModelError, ModelProvider, OpenAiProvider, TextDeltas};
use agentry_core::SpecError;
use agentry_core::budget::{DEFAULT_OUTPUT_ALLOWANCE, Spend};
use agentry_core::models::{
    ContextPolicy, ModelConfig, ModelTarget, ModelsConfig, ProviderKind, Resolution, RouteInput,
};

/// First retry delay before jitter; doubles per attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// Largest retry delay before jitter.
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// Longest `Retry-After` waited for; a longer one moves on to the next model of the chain.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The implicit endpoints of `openai:MODEL` and `anthropic:MODEL` references.
#[derive(Debug, Clone)]
pub struct DefaultEndpoints {
    /// Where `openai:` models are served (`OPENAI_BASE_URL`, `OPENAI_API_KEY`).
    pub openai: EndpointConfig,
    /// Where `anthropic:` models are served (`ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY`).
    pub anthropic: EndpointConfig,
}

/// A model of the chain that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The model's name in the chain.
    pub model: String,
    /// Its last error.
    pub error: String,
}

/// A routed answer.
#[derive(Debug, Clone)]
pub struct Routed {
    /// The answer.
    pub response: ChatResponse,
    /// The model that gave it.
    pub target: ModelTarget,
    /// Models tried before it, in order, with their errors.
    pub hops: Vec<Hop>,
    /// HTTP attempts made on the answering model (1 without retries).
    pub attempts: u32,
    /// Cost of the call in USD at the model's configured prices (0 for unpriced models).
    pub cost_usd: f64,
}

/// Every model of the chain failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", describe(.hops))]
pub struct RouteFailure {
    /// Each model tried, with its error.
    pub hops: Vec<Hop>,
}

fn describe(hops: &[Hop]) -> String {
    match hops {
        [only] => only.error.clone(),
        hops => {
            let tried: Vec<String> = hops.iter().map(|hop| format!("{}: {}", hop.model, hop.error)).collect();
            format!("every model of the chain failed: {}", tried.join("; "))
        }
    }
}

/// One servable model: its provider and the policy of its calls.
struct Endpoint {
    provider: Arc<dyn ModelProvider>,
    policy: ModelConfig,
}

/// The node's models: the catalogue, a provider per configured model, one per implicit
/// endpoint, and a circuit breaker per model name.
pub struct ModelRouter {
    catalog: ModelsConfig,
    configured: HashMap<String, Endpoint>,
    adhoc: HashMap<ProviderKind, Arc<dyn ModelProvider>>,
    breakers: Mutex<HashMap<String, Arc<Breaker>>>,
}

impl std::fmt::Debug for ModelRouter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("ModelRouter").field("models", &self.catalog.models.keys()).finish_non_exhaustive()
    }
}

impl ModelRouter {
    /// Returns a router over `catalog` (validated), building an HTTP provider per configured
    /// model and one per implicit endpoint.
    ///
    /// Errors with [`ModelError::Config`] naming the model whose endpoint cannot be built.
    pub fn new(catalog: ModelsConfig, defaults: &DefaultEndpoints) -> Result<Self, ModelError> {
        let mut configured = HashMap::new();
        for (name, model) in &catalog.models {
            let implicit = match model.provider {
                ProviderKind::Openai => &defaults.openai,
                ProviderKind::Anthropic => &defaults.anthropic,
            };
            let endpoint = EndpointConfig {
                base_url: model.base_url.clone().unwrap_or_else(|| implicit.base_url.clone()),
                api_key: if model.api_key_env.is_some() { model.api_key.clone() } else { implicit.api_key.clone() },
                headers: model.headers.clone(),
                timeout: model.timeout,
            };
            let provider = build(model.provider, &endpoint)
                .map_err(|error| ModelError::Config(format!("models.{name}: {error}")))?;
            configured.insert(name.clone(), Endpoint { provider, policy: model.clone() });
        }
        let adhoc = HashMap::from([
            (ProviderKind::Openai, build(ProviderKind::Openai, &defaults.openai)?),
            (ProviderKind::Anthropic, build(ProviderKind::Anthropic, &defaults.anthropic)?),
        ]);
        Ok(Self { catalog, configured, adhoc, breakers: Mutex::default() })
    }

    /// Returns a router whose every model — configured or `provider:model` — is served by
    /// `provider`, with the catalogue's policies (tests and benchmarks inject one this way).
    pub fn with_provider(catalog: ModelsConfig, provider: Arc<dyn ModelProvider>) -> Self {
        let configured = catalog
            .models
            .iter()
            .map(|(name, model)| (name.clone(), Endpoint { provider: provider.clone(), policy: model.clone() }))
            .collect();
        let adhoc = ProviderKind::ALL.into_iter().map(|kind| (kind, provider.clone())).collect();
        Self { catalog, configured, adhoc, breakers: Mutex::default() }
    }

    /// Returns the catalogue.
    pub fn catalog(&self) -> &ModelsConfig {
        &self.catalog
    }

    /// Resolves `reference` for a call with `input` (see [`ModelsConfig::resolve`]).
    pub fn resolve(&self, reference: &str, input: RouteInput<'_>) -> Result<Resolution, SpecError> {
        self.catalog.resolve(reference, input)
    }

    /// Returns the reservation of a call of `reference` with `input` under a budget: for the
    /// costliest model of its chain, the prompt's estimated tokens plus the model's
    /// `max-output-tokens` (default [`DEFAULT_OUTPUT_ALLOWANCE`]), priced.
    pub fn estimate(&self, reference: &str, input: RouteInput<'_>) -> Spend {
        let chain = self.resolve(reference, input).map(|resolution| resolution.chain).unwrap_or_default();
        let priced = |target: &ModelTarget| {
            let policy = self.configured.get(&target.name).map(|endpoint| &endpoint.policy);
            let output = policy.and_then(|policy| policy.max_output_tokens).map_or(DEFAULT_OUTPUT_ALLOWANCE, u64::from);
            let cost = policy.map_or(0.0, |policy| policy.cost_usd(input.prompt_tokens, output));
            Spend { tokens: input.prompt_tokens + output, cost_usd: cost }
        };
        let fallback = Spend { tokens: input.prompt_tokens + DEFAULT_OUTPUT_ALLOWANCE, cost_usd: 0.0 };
        chain.iter().map(priced).fold(fallback, |most, spend| Spend {
            tokens: most.tokens.max(spend.tokens),
            cost_usd: most.cost_usd.max(spend.cost_usd),
        })
    }

    /// Returns the smallest configured context window of the models of `resolution`, and the
    /// largest output allowance among them: a prompt must fit in the difference. `None` when
    /// no model of the chain has a window configured.
    pub fn context_limit(&self, resolution: &Resolution) -> Option<u64> {
        let policies: Vec<&ModelConfig> =
            resolution.chain.iter().filter_map(|target| self.configured.get(&target.name)).map(|e| &e.policy).collect();
        let window = policies.iter().filter_map(|policy| policy.context_window).min()?;
        let output = policies
            .iter()
            .filter_map(|policy| policy.max_output_tokens)
            .max()
            .map_or(DEFAULT_OUTPUT_ALLOWANCE, u64::from);
        Some(u64::from(window).saturating_sub(output))
    }

    /// Returns the context policy of the first configured model of `resolution` (default
    /// summarise).
    pub fn context_policy(&self, resolution: &Resolution) -> ContextPolicy {
        resolution
            .chain
            .iter()
            .find_map(|target| self.configured.get(&target.name))
            .map_or(ContextPolicy::default(), |endpoint| endpoint.policy.context_policy)
    }

    /// Calls the models of `resolution` in order until one answers; `request.model` is set per
    /// model. Streams through `deltas` when given.
    ///
    /// Errors with every model's last error when all of them failed.
    pub async fn complete(
        &self,
        resolution: &Resolution,
        request: &ChatRequest,
        deltas: Option<TextDeltas<'_>>,
    ) -> Result<Routed, RouteFailure> {
        let mut hops = Vec::new();
        for target in &resolution.chain {
            match self.call(target, request, deltas).await {
                Ok((response, attempts)) => {
                    let cost_usd = self.configured.get(&target.name).map_or(0.0, |endpoint| {
                        endpoint.policy.cost_usd(response.usage.prompt_tokens, response.usage.completion_tokens)
                    });
                    return Ok(Routed { response, target: target.clone(), hops, attempts, cost_usd });
                }
                Err(error) => {
                    tracing::warn!(model = %target.name, %error, "model failed; trying the next of the chain");
                    hops.push(Hop { model: target.name.clone(), error: error.to_string() });
                }
            }
        }
        Err(RouteFailure { hops })
    }

    /// Calls one model with its retries and breaker; returns the answer and the attempts made.
    async fn call(
        &self,
        target: &ModelTarget,
        request: &ChatRequest,
        deltas: Option<TextDeltas<'_>>,
    ) -> Result<(ChatResponse, u32), ModelError> {
        let (provider, policy) = match self.configured.get(&target.name) {
            Some(endpoint) => (endpoint.provider.clone(), endpoint.policy.clone()),
            None => (self.adhoc[&target.provider].clone(), ModelConfig::default()),
        };
        let breaker = self.breaker(&target.name, &policy);
        let request = ChatRequest { model: target.model.clone(), ..request.clone() };
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let attempt = || async {
            breaker
                .admit(Instant::now())
                .map_err(|wait| ModelError::BreakerOpen { retry_in_ms: wait.as_millis() as u64 })?;
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let result = provider.complete(&request, deltas).await;
            // Only failures that say the server is unwell count against it; a 400 or an
            // undecodable answer came from a live server.
            let unwell = result.as_ref().err().is_some_and(ModelError::is_retryable);
            breaker.record(!unwell, Instant::now());
            result
        };
        let response = attempt
            .retry(retry_policy(policy.max_attempts))
            .sleep(tokio::time::sleep)
            .when(|error| error.is_retryable() && error.retry_after().is_none_or(|wait| wait <= MAX_RETRY_AFTER))
            .adjust(|error, delay| delay.map(|delay| error.retry_after().map_or(delay, |wait| wait.max(delay))))
            .notify(|error, delay| tracing::warn!(model = %target.name, %error, ?delay, "model call failed, retrying"))
            .await?;
        Ok((response, attempts.into_inner()))
    }

    fn breaker(&self, name: &str, policy: &ModelConfig) -> Arc<Breaker> {
        let mut breakers = self.breakers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        breakers
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Breaker::new(policy.breaker_failures, policy.breaker_cooldown)))
            .clone()
    }
}

/// Returns the provider of `kind` at `endpoint`.
fn build(kind: ProviderKind, endpoint: &EndpointConfig) -> Result<Arc<dyn ModelProvider>, ModelError> {
    Ok(match kind {
        ProviderKind::Openai => Arc::new(OpenAiProvider::new(endpoint)?),
        ProviderKind::Anthropic => Arc::new(AnthropicProvider::new(endpoint)?),
    })
}

/// Returns the retry policy of one call of at most `max_attempts` attempts: exponential backoff
/// from [`BACKOFF_BASE`] doubling to [`BACKOFF_CAP`], with jitter.
fn retry_policy(max_attempts: u32) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(BACKOFF_BASE)
        .with_max_delay(BACKOFF_CAP)
        .with_max_times(max_attempts.saturating_sub(1) as usize)
        .with_jitter()
}

#[cfg(test)]
mod tests;
