//! Checking the catalogue and resolving references to chains (see the parent module).

use super::{InvalidModels, ModelConfig, ModelTarget, ModelsConfig, ProviderKind, Resolution, RouteInput, RouteRule};
use crate::agent::SpecError;

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
