//! Parsing of `key=value` labels (`--labels a=1,b=2`, `--label a=1`, `labels = "a=1"` in config).
//!
//! Keys follow the hub's rule (A-Z a-z 0-9 . _ / -), checked here so a typo is reported with
//! the offending pair before anything is contacted. Values may be empty.

use std::collections::BTreeMap;

/// Labels by key, sorted.
pub type Labels = BTreeMap<String, String>;

/// Parses a comma-separated list of `key=value` pairs; the empty string is no labels. Errors
/// name the offending pair.
pub fn parse_labels(text: &str) -> Result<Labels, String> {
    let mut labels = Labels::new();
    if text.trim().is_empty() {
        return Ok(labels);
    }
    for pair in text.split(',') {
        let (key, value) = parse_label(pair)?;
        if labels.contains_key(&key) {
            return Err(format!("label {:?} repeats the key {key:?}", pair.trim()));
        }
        labels.insert(key, value);
    }
    Ok(labels)
}

/// Parses one `key=value` pair (surrounding whitespace ignored). Errors name the pair.
pub fn parse_label(pair: &str) -> Result<(String, String), String> {
    let trimmed = pair.trim();
    let Some((key, value)) = trimmed.split_once('=') else {
        return Err(if trimmed.is_empty() {
            "empty label; expected key=value".to_owned()
        } else {
            format!("label {trimmed:?} is not key=value")
        });
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("label {trimmed:?} has an empty key"));
    }
    if let Some(bad) = key.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))) {
        return Err(format!("label {trimmed:?}: key contains {bad:?}; keys are made of A-Z a-z 0-9 . _ / -"));
    }
    Ok((key.to_owned(), value.trim().to_owned()))
}

/// Collects repeated `--label key=value` pairs; a repeated key is an error naming it.
pub fn collect_labels(pairs: &[(String, String)]) -> Result<Labels, String> {
    let mut labels = Labels::new();
    for (key, value) in pairs {
        if labels.insert(key.clone(), value.clone()).is_some() {
            return Err(format!("label key {key:?} is given twice"));
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs() {
        let labels = parse_labels("gpu=a100, zone = eu-1 ,empty=").expect("valid");
        let expected: Labels =
            [("gpu", "a100"), ("zone", "eu-1"), ("empty", "")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        assert_eq!(labels, expected);
    }

    #[test]
    fn empty_text_is_no_labels() {
        assert!(parse_labels("").expect("valid").is_empty());
        assert!(parse_labels("  ").expect("valid").is_empty());
    }

    #[test]
    fn errors_name_the_offending_pair() {
        let error = parse_labels("gpu=a100,zone").expect_err("no '='");
        assert_eq!(error, r#"label "zone" is not key=value"#);
        let error = parse_labels("gpu=a100,=x").expect_err("empty key");
        assert!(error.contains(r#""=x""#), "{error}");
        let error = parse_labels("my key=x").expect_err("space in key");
        assert!(error.contains(r#""my key=x""#), "{error}");
        let error = parse_labels("a=1,a=2").expect_err("repeated key");
        assert!(error.contains(r#""a=2""#), "{error}");
        let error = parse_labels("a=1,,b=2").expect_err("empty pair");
        assert!(error.contains("empty label"), "{error}");
    }

    #[test]
    fn values_may_contain_equals_signs() {
        assert_eq!(parse_label("expr=a=b"), Ok(("expr".to_owned(), "a=b".to_owned())));
    }

    #[test]
    fn repeated_flags_must_not_repeat_keys() {
        let pairs = vec![("a".to_owned(), "1".to_owned()), ("a".to_owned(), "2".to_owned())];
        assert!(collect_labels(&pairs).expect_err("repeated").contains(r#""a""#));
    }
}
