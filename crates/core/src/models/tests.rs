use super::*;

fn catalogue() -> ModelsConfig {
    let toml_like = |provider, price: f64, tier: &str| ModelConfig {
        provider,
        input_price: price,
        output_price: price * 4.0,
        tier: Some(tier.to_owned()),
        ..ModelConfig::default()
    };
    let mut models = BTreeMap::new();
    models.insert(
        "gpt".to_owned(),
        ModelConfig { model: Some("gpt-4o".into()), ..toml_like(ProviderKind::Openai, 2.5, "smart") },
    );
    models.insert("claude".to_owned(), toml_like(ProviderKind::Anthropic, 3.0, "smart"));
    models.insert("mini".to_owned(), toml_like(ProviderKind::Openai, 0.15, "cheap"));
    models.insert("local".to_owned(), toml_like(ProviderKind::Openai, 0.0, "cheap"));
    let rules = vec![
        RouteRule {
            name: Some("design".into()),
            if_contains: vec!["Architecture".into()],
            model: Some(ModelList::One("claude".into())),
            ..RouteRule::default()
        },
        RouteRule {
            min_input_tokens: Some(1000),
            model: Some(ModelList::Chain(vec!["gpt".into(), "claude".into()])),
            ..RouteRule::default()
        },
        RouteRule { max_input_tokens: Some(10), tier: Some("cheap".into()), ..RouteRule::default() },
    ];
    let mut routes = BTreeMap::new();
    routes.insert(
        "auto".to_owned(),
        RouteConfig { model: ModelList::Chain(vec!["mini".into(), "openai:gpt-4o-mini".into()]), rules },
    );
    ModelsConfig { models, routes }
}

fn names(resolution: &Resolution) -> Vec<&str> {
    resolution.chain.iter().map(|target| target.name.as_str()).collect()
}

#[test]
fn the_example_catalogue_is_valid() {
    assert_eq!(catalogue().validate(), Ok(()));
}

#[test]
fn rules_pick_by_words_then_length_then_tier_else_the_default() {
    let catalogue = catalogue();
    let resolve = |input: &str, tokens| catalogue.resolve("auto", RouteInput { input, prompt_tokens: tokens }).unwrap();

    let design = resolve("Review the ARCHITECTURE of this", 5000);
    assert_eq!((names(&design), design.rule.as_deref()), (vec!["claude"], Some("design")));
    let long = resolve("summarise", 1000);
    assert_eq!((names(&long), long.rule.as_deref()), (vec!["gpt", "claude"], Some("rules[1]")));
    let short = resolve("hi", 3);
    assert_eq!((names(&short), short.rule.as_deref()), (vec!["local", "mini"], Some("rules[2]")), "cheapest first");
    let default = resolve("summarise", 500);
    assert_eq!((names(&default), default.rule.as_deref()), (vec!["mini", "openai:gpt-4o-mini"], Some("default")));
    assert_eq!(default.route.as_deref(), Some("auto"));
    assert_eq!(
        default.chain[1],
        ModelTarget {
            name: "openai:gpt-4o-mini".into(),
            provider: ProviderKind::Openai,
            model: "gpt-4o-mini".into(),
            configured: false
        }
    );
}

#[test]
fn a_chain_and_a_configured_name_resolve_to_provider_models() {
    let catalogue = catalogue();
    let input = RouteInput { input: "x", prompt_tokens: 1 };
    let resolution = catalogue.resolve("gpt,anthropic:claude-haiku", input).unwrap();
    assert_eq!(resolution.chain[0].model, "gpt-4o", "the entry's model key is what the provider gets");
    assert_eq!(resolution.chain[1].provider, ProviderKind::Anthropic);
    assert_eq!((resolution.route, resolution.rule), (None, None));
    assert_eq!(catalogue.resolve("claude", input).unwrap().chain[0].model, "claude", "default: the entry's name");
}

#[test]
fn an_unknown_model_is_named_with_what_is_configured() {
    let error = catalogue().check_reference("gpt,gtp").unwrap_err();
    assert!(error.0.contains("unknown model \"gtp\""), "{error}");
    assert!(error.0.contains("configured models: [claude, gpt, local, mini]"), "{error}");
    assert!(error.0.contains("routes: [auto]"), "{error}");
    let error = catalogue().check_reference("auto,gpt").unwrap_err();
    assert!(error.0.contains("route \"auto\" cannot be part of a chain"), "{error}");
    let error = ModelsConfig::default().check_reference("acme:x").unwrap_err();
    assert!(error.0.contains("unknown provider \"acme\""), "{error}");
    assert!(check_reference_syntax("a b").unwrap_err().0.contains("neither provider:model"));
    assert!(check_reference_syntax("").is_err());
    assert_eq!(ModelsConfig::default().check_reference("openai:m,anthropic:n"), Ok(()));
}

#[test]
fn bad_entries_are_named_by_their_path() {
    let mut negative = catalogue();
    negative.models.get_mut("gpt").unwrap().output_price = -1.0;
    assert_eq!(negative.validate().unwrap_err().key, "models.gpt.output-price");

    let mut dangling = catalogue();
    dangling.routes.get_mut("auto").unwrap().model = ModelList::One("nope".into());
    let error = dangling.validate().unwrap_err();
    assert_eq!(error.key, "routes.auto.model");
    assert!(error.reason.contains("unknown model \"nope\""), "{error}");

    let mut both = catalogue();
    both.routes.get_mut("auto").unwrap().rules[0].tier = Some("cheap".into());
    assert_eq!(both.validate().unwrap_err().key, "routes.auto.rules[0]");

    let mut no_tier = catalogue();
    no_tier.routes.get_mut("auto").unwrap().rules[2].tier = Some("gold".into());
    assert_eq!(no_tier.validate().unwrap_err().key, "routes.auto.rules[2].tier");

    let mut url = catalogue();
    url.models.get_mut("mini").unwrap().base_url = Some("localhost:8080".into());
    assert_eq!(url.validate().unwrap_err().key, "models.mini.base-url");
}

#[test]
fn cost_is_priced_per_million_tokens() {
    let model = ModelConfig { input_price: 2.5, output_price: 10.0, ..ModelConfig::default() };
    assert!((model.cost_usd(1_000_000, 0) - 2.5).abs() < 1e-12);
    assert!((model.cost_usd(2000, 500) - 0.01).abs() < 1e-12);
    assert_eq!(estimate_tokens("abcde"), 2);
}
