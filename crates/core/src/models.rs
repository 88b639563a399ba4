//! The model catalogue: configured models (`[models.NAME]`), routes with rules
//! (`[routes.NAME]`), and the resolution of an agent's model reference to a fallback chain.
//!
//! A model reference (`AgentSpec::model`) is one of
//! - `provider:model` — an ad-hoc model of the implicit endpoint of `provider` (`openai`: the
//!   node's `OPENAI_BASE_URL` / `OPENAI_API_KEY`; `anthropic`: `ANTHROPIC_BASE_URL` /
//!   `ANTHROPIC_API_KEY`), unpriced;
//! - `NAME` — a configured model;
//! - `ROUTE` — a configured route: its rules pick a chain per model call, else its default chain;
//! - `a,b,…` — a fallback chain of models (configured names or `provider:model`): each is tried
//!   in order when the one before it fails (after its retries) or its circuit breaker is open.
//!
//! Pure: the api keys named by `api-key-env` are read by whoever loads the configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Providers a model can be served by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI chat completions and compatible servers (vLLM, Ollama, llama.cpp server, LM Studio).
    #[default]
    Openai,
    /// Anthropic Messages API.
    Anthropic,
}

impl ProviderKind {
    /// Every provider, in the order error messages list them.
    pub const ALL: [Self; 2] = [Self::Openai, Self::Anthropic];

    /// Returns the provider's name as written in references and config (`openai`, `anthropic`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
        }
    }

    /// Parses a provider name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// What happens when a conversation would not fit a model's context window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ContextPolicy {
    /// The model summarises the older messages (agentry's `summary`); when that fails, they
    /// are dropped.
    #[default]
    Summarize,
    /// The older messages are dropped, with a note saying so.
    Truncate,
}

/// One configured model (`[models.NAME]`; keys kebab-case).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ModelConfig {
    /// Who serves it (default `openai`).
    pub provider: ProviderKind,
    /// API root, e.g. `https://api.openai.com/v1`; default: the provider's implicit endpoint.
    pub base_url: Option<String>,
    /// Model name sent to the provider; default: the entry's name.
    pub model: Option<String>,
    /// Environment variable holding the API key; it must be set where the model is loaded.
    pub api_key_env: Option<String>,
    /// Extra HTTP headers sent with every call.
    pub headers: BTreeMap<String, String>,
    /// USD per 1 million input (prompt) tokens (default 0).
    pub input_price: f64,
    /// USD per 1 million output (completion) tokens (default 0).
    pub output_price: f64,
    /// Context window in tokens; a conversation that would not fit is compacted first. `None`:
    /// unknown, never compacted.
    pub context_window: Option<u32>,
    /// How to fit a conversation into `context-window` (default `summarize`).
    pub context_policy: ContextPolicy,
    /// Limit of one HTTP attempt (default 120 s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts per call including the first, 1–10 (default 4); only retryable failures repeat.
    pub max_attempts: u32,
    /// Output tokens reserved for a call of this model under a budget (default 256, see
    /// `agentry_core::budget`); a reservation estimate only, not sent to the provider.
    pub max_output_tokens: Option<u32>,
    /// Cost tier for routing rules (`tier = "cheap"` in a rule picks the models of that tier).
    pub tier: Option<String>,
    /// Consecutive failed calls after which the model's circuit breaker opens (default 5).
    pub breaker_failures: u32,
    /// How long an open breaker refuses calls before letting one probe through (default 30 s).
    #[serde(with = "humantime_serde")]
    pub breaker_cooldown: Duration,
    /// The key read from `api_key_env` when the configuration was loaded; never serialized.
    #[serde(skip)]
    pub api_key: Option<String>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Openai,
            base_url: None,
            model: None,
            api_key_env: None,
            headers: BTreeMap::new(),
            input_price: 0.0,
            output_price: 0.0,
            context_window: None,
            context_policy: ContextPolicy::Summarize,
            timeout: Duration::from_secs(120),
            max_attempts: 4,
            max_output_tokens: None,
            tier: None,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
            api_key: None,
        }
    }
}

impl ModelConfig {
    /// Returns the cost in USD of a call that used `input_tokens` and `output_tokens`.
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_price + output_tokens as f64 * self.output_price) / 1_000_000.0
    }
}

/// A list of model references: one name, or an array (`model = ["primary", "fallback"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModelList {
    /// One reference.
    One(String),
    /// A fallback chain.
    Chain(Vec<String>),
}

impl ModelList {
    /// Returns the references in order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Self::One(name) => vec![name.as_str()],
            Self::Chain(names) => names.iter().map(String::as_str).collect(),
        }
    }
}

/// One routing rule of a route (`[[routes.NAME.rules]]`): when every condition it sets holds,
/// it picks `model` (a chain) or the models of `tier` (cheapest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RouteRule {
    /// Name shown in `model_start` (default `rules[INDEX]`).
    pub name: Option<String>,
    /// agentry's `if_contains`: holds when the run's input contains any of these, ignoring case.
    #[serde(alias = "if_contains")]
    pub if_contains: Vec<String>,
    /// Holds when the prompt has at least this many (estimated) tokens.
    pub min_input_tokens: Option<u64>,
    /// Holds when the prompt has at most this many (estimated) tokens.
    pub max_input_tokens: Option<u64>,
    /// The chain this rule picks.
    pub model: Option<ModelList>,
    /// Or: the configured models of this cost tier, cheapest (input + output price) first.
    pub tier: Option<String>,
}

/// A configured route (`[routes.NAME]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RouteConfig {
    /// The chain used when no rule holds.
    pub model: ModelList,
    /// Rules, tried in order; the first that holds wins.
    #[serde(default)]
    pub rules: Vec<RouteRule>,
}

/// The model section of the configuration: `[models.NAME]` and `[routes.NAME]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Configured models by name.
    pub models: BTreeMap<String, ModelConfig>,
    /// Routes by name.
    pub routes: BTreeMap<String, RouteConfig>,
}

/// A bad entry of the model section; `key` is its dotted path (`models.gpt.input-price`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct InvalidModels {
    /// Dotted path of the offending key.
    pub key: String,
    /// Why, and what would be accepted.
    pub reason: String,
}

/// What a routing decision reads.
#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'a> {
    /// The run's input (what `if_contains` rules look at).
    pub input: &'a str,
    /// Estimated tokens of the whole prompt ([`estimate_tokens`]).
    pub prompt_tokens: u64,
}

/// One model of a resolved chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelTarget {
    /// How the reference named it: the configured name, or `provider:model`.
    pub name: String,
    /// Who serves it.
    pub provider: ProviderKind,
    /// Model name sent to the provider.
    pub model: String,
    /// Whether it is a configured model (`[models.NAME]`); ad-hoc ones have no price.
    pub configured: bool,
}

/// A resolved reference: the chain to try in order and what chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Models in fallback order (at least one).
    pub chain: Vec<ModelTarget>,
    /// The route used, if any.
    pub route: Option<String>,
    /// The rule that chose the chain (`rules[1]` or its name; `default` for the route's default).
    pub rule: Option<String>,
}

/// Returns an estimate of the tokens of `text`: one token per 4 bytes, rounded up — OpenAI's rule
/// of thumb for English text ("a token is about 4 characters").
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

mod resolve;

pub use resolve::check_reference_syntax;

#[cfg(test)]
mod tests;
