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

use crate::agent::SpecError;

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

/// Returns whether `name` may name a configured model or route: 1–64 of `A-Za-z0-9._-`.
fn is_plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Parses `provider:model`, or returns `None` when `text` has no `:`.
fn parse_adhoc(text: &str) -> Option<Result<ModelTarget, SpecError>> {
    let (provider, model) = text.split_once(':')?;
    let Some(kind) = ProviderKind::parse(provider) else {
        let known: Vec<&str> = ProviderKind::ALL.iter().map(|kind| kind.as_str()).collect();
        return Some(Err(SpecError(format!(
            "spec.model: unknown provider {provider:?} in {text:?}; known providers are {}",
            known.join(", ")
        ))));
    };
    if model.trim().is_empty() {
        return Some(Err(SpecError(format!("spec.model: {text:?} names no model"))));
    }
    Some(Ok(ModelTarget { name: text.to_owned(), provider: kind, model: model.to_owned(), configured: false }))
}

/// Checks the syntax of a model reference (without a catalogue): non-empty elements, each
/// `provider:model` with a known provider or a plain name.
pub fn check_reference_syntax(reference: &str) -> Result<(), SpecError> {
    if reference.trim().is_empty() {
        return Err(SpecError(
            "spec.model is empty; name a configured model or route, or provider:model (e.g. openai:gpt-4o-mini)"
                .to_owned(),
        ));
    }
    for element in reference.split(',') {
        match parse_adhoc(element) {
            Some(parsed) => {
                parsed?;
            }
            None if is_plain_name(element) => {}
            None => {
                return Err(SpecError(format!(
                    "spec.model: {element:?} is neither provider:model (e.g. openai:gpt-4o-mini) nor a model or \
                     route name (1-64 of A-Z a-z 0-9 . _ -)"
                )));
            }
        }
    }
    Ok(())
}

impl ModelsConfig {
    /// Checks names, prices, limits, URLs and that every reference of every route resolves.
    /// Errors name the first offending key by its dotted path.
    pub fn validate(&self) -> Result<(), InvalidModels> {
        let invalid = |key: String, reason: String| Err(InvalidModels { key, reason });
        for (name, model) in &self.models {
            let key = |field: &str| format!("models.{name}.{field}");
            if !is_plain_name(name) {
                return invalid(format!("models.{name}"), "a model name is 1-64 of A-Z a-z 0-9 . _ -".into());
            }
            for (field, price) in [("input-price", model.input_price), ("output-price", model.output_price)] {
                if !price.is_finite() || price < 0.0 {
                    return invalid(key(field), format!("{price} is not a price; give USD per 1M tokens, 0 or more"));
                }
            }
            if let Some(url) = &model.base_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return invalid(key("base-url"), format!("{url:?} is not an http:// or https:// URL"));
            }
            if model.model.as_deref().is_some_and(|model| model.trim().is_empty()) {
                return invalid(key("model"), "must not be empty (leave it out to use the entry's name)".into());
            }
            if model.timeout.is_zero() {
                return invalid(key("timeout"), "must be positive".into());
            }
            if !(1..=10).contains(&model.max_attempts) {
                return invalid(key("max-attempts"), format!("{} is not in 1-10", model.max_attempts));
            }
            if model.breaker_failures == 0 || model.breaker_cooldown.is_zero() {
                let field = if model.breaker_failures == 0 { "breaker-failures" } else { "breaker-cooldown" };
                return invalid(key(field), "must be positive".into());
            }
            if model.context_window.is_some_and(|window| window < 256) {
                return invalid(key("context-window"), "must be at least 256 tokens".into());
            }
        }
        for (name, route) in &self.routes {
            if !is_plain_name(name) {
                return invalid(format!("routes.{name}"), "a route name is 1-64 of A-Z a-z 0-9 . _ -".into());
            }
            if self.models.contains_key(name) {
                return invalid(format!("routes.{name}"), "a model of the same name exists; rename one".into());
            }
            self.check_chain(&route.model.names()).or_else(|error| invalid(format!("routes.{name}.model"), error.0))?;
            for (index, rule) in route.rules.iter().enumerate() {
                let key = format!("routes.{name}.rules[{index}]");
                match (&rule.model, &rule.tier) {
                    (Some(model), None) => {
                        self.check_chain(&model.names()).or_else(|error| invalid(format!("{key}.model"), error.0))?
                    }
                    (None, Some(tier)) if self.tier_chain(tier).is_empty() => {
                        return invalid(format!("{key}.tier"), format!("no configured model has tier {tier:?}"));
                    }
                    (None, Some(_)) => {}
                    _ => return invalid(key, "give exactly one of model and tier".into()),
                }
            }
        }
        Ok(())
    }

    /// Checks that `reference` resolves: every element is a configured model, a route (alone)
    /// or `provider:model`. The error names the unknown element and lists what is configured.
    pub fn check_reference(&self, reference: &str) -> Result<(), SpecError> {
        check_reference_syntax(reference)?;
        let elements: Vec<&str> = reference.split(',').collect();
        if elements.len() == 1 && self.routes.contains_key(elements[0]) {
            return Ok(());
        }
        self.check_chain(&elements)
    }

    /// Returns the chain for `reference` given the call's `input`.
    ///
    /// Errors as [`ModelsConfig::check_reference`].
    pub fn resolve(&self, reference: &str, input: RouteInput<'_>) -> Result<Resolution, SpecError> {
        self.check_reference(reference)?;
        if let Some(route) = self.routes.get(reference) {
            for (index, rule) in route.rules.iter().enumerate() {
                if !rule_holds(rule, input) {
                    continue;
                }
                let chain = match (&rule.model, &rule.tier) {
                    (Some(model), _) => self.targets(&model.names())?,
                    (None, Some(tier)) => self.tier_chain(tier),
                    (None, None) => continue,
                };
                let rule_name = rule.name.clone().unwrap_or_else(|| format!("rules[{index}]"));
                return Ok(Resolution { chain, route: Some(reference.to_owned()), rule: Some(rule_name) });
            }
            let chain = self.targets(&route.model.names())?;
            return Ok(Resolution { chain, route: Some(reference.to_owned()), rule: Some("default".to_owned()) });
        }
        let elements: Vec<&str> = reference.split(',').collect();
        Ok(Resolution { chain: self.targets(&elements)?, route: None, rule: None })
    }

    /// Checks a chain: configured names or `provider:model`, no routes.
    fn check_chain(&self, elements: &[&str]) -> Result<(), SpecError> {
        self.targets(elements).map(|_| ())
    }

    /// Returns the targets of a chain of configured names and `provider:model` references.
    fn targets(&self, elements: &[&str]) -> Result<Vec<ModelTarget>, SpecError> {
        if elements.is_empty() {
            return Err(SpecError("spec.model: the chain names no model".to_owned()));
        }
        elements.iter().map(|element| self.target(element)).collect()
    }

    fn target(&self, element: &str) -> Result<ModelTarget, SpecError> {
        if let Some(parsed) = parse_adhoc(element) {
            return parsed;
        }
        if let Some(model) = self.models.get(element) {
            return Ok(ModelTarget {
                name: element.to_owned(),
                provider: model.provider,
                model: model.model.clone().unwrap_or_else(|| element.to_owned()),
                configured: true,
            });
        }
        if self.routes.contains_key(element) {
            return Err(SpecError(format!(
                "spec.model: route {element:?} cannot be part of a chain; use it alone or list models"
            )));
        }
        Err(SpecError(format!(
            "spec.model: unknown model {element:?}; configured models: [{}]; routes: [{}]; or use provider:model \
             (e.g. openai:gpt-4o-mini)",
            self.models.keys().cloned().collect::<Vec<_>>().join(", "),
            self.routes.keys().cloned().collect::<Vec<_>>().join(", "),
        )))
    }

    /// Returns the configured models of `tier`, cheapest (input + output price) first.
    fn tier_chain(&self, tier: &str) -> Vec<ModelTarget> {
        let mut models: Vec<(&String, &ModelConfig)> =
            self.models.iter().filter(|(_, model)| model.tier.as_deref() == Some(tier)).collect();
        models.sort_by(|a, b| (a.1.input_price + a.1.output_price).total_cmp(&(b.1.input_price + b.1.output_price)));
        models.into_iter().filter_map(|(name, _)| self.target(name).ok()).collect()
    }

    /// Returns the configured model `name`, if any.
    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.get(name)
    }
}

/// Returns whether every condition `rule` sets holds for `input`.
fn rule_holds(rule: &RouteRule, input: RouteInput<'_>) -> bool {
    let text = input.input.to_lowercase();
    let contains =
        rule.if_contains.is_empty() || rule.if_contains.iter().any(|word| text.contains(&word.to_lowercase()));
    let long_enough = rule.min_input_tokens.is_none_or(|min| input.prompt_tokens >= min);
    let short_enough = rule.max_input_tokens.is_none_or(|max| input.prompt_tokens <= max);
    contains && long_enough && short_enough
}

#[cfg(test)]
mod tests;
