//! Checks on client input. Every error names the field and the limit so a person can fix it.

use std::collections::BTreeMap;
use std::time::Duration;

use agentry_core::budget::{BudgetLimits, Spend};
use agentry_core::limits::MAX_INPUT_BYTES;
use agentry_core::models::ModelsConfig;
use agentry_core::{AgentId, AgentSpec, RunStatus};

use crate::error::{HubError, Result};

/// Most labels one agent or node may carry.
pub const MAX_LABELS: usize = 64;
/// Longest label key, in bytes.
pub const MAX_LABEL_KEY_BYTES: usize = 63;
/// Longest label value, in bytes.
pub const MAX_LABEL_VALUE_BYTES: usize = 256;
/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 256;

/// Checks a user input: not blank, at most [`MAX_INPUT_BYTES`].
pub fn input(field: &str, text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(HubError::InvalidArgument(format!("{field} must not be empty")));
    }
    if text.len() > MAX_INPUT_BYTES {
        return Err(HubError::InvalidArgument(format!(
            "{field} is {} bytes; the limit is {MAX_INPUT_BYTES} bytes (1 MiB)",
            text.len()
        )));
    }
    Ok(())
}

/// Checks labels: count, key and value sizes, key characters (`[A-Za-z0-9._/-]`).
pub fn labels(field: &str, labels: &BTreeMap<String, String>) -> Result<()> {
    if labels.len() > MAX_LABELS {
        return Err(HubError::InvalidArgument(format!(
            "{field} has {} labels; the limit is {MAX_LABELS}",
            labels.len()
        )));
    }
    for (key, value) in labels {
        let valid_key = !key.is_empty()
            && key.len() <= MAX_LABEL_KEY_BYTES
            && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'));
        if !valid_key {
            return Err(HubError::InvalidArgument(format!(
                "{field}: label key {key:?} must be 1-{MAX_LABEL_KEY_BYTES} characters of A-Z a-z 0-9 . _ / -"
            )));
        }
        if value.len() > MAX_LABEL_VALUE_BYTES {
            return Err(HubError::InvalidArgument(format!(
                "{field}: label {key:?} has a value of {} bytes; the limit is {MAX_LABEL_VALUE_BYTES}",
                value.len()
            )));
        }
    }
    Ok(())
}

/// Checks an optional idempotency key (empty means none) and returns it.
pub fn idempotency_key(key: &str) -> Result<Option<String>> {
    if key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        return Err(HubError::InvalidArgument(format!(
            "idempotency_key is {} bytes; the limit is {MAX_IDEMPOTENCY_KEY_BYTES}",
            key.len()
        )));
    }
    Ok((!key.is_empty()).then(|| key.to_owned()))
}

/// Longest operator reason (cancel, pause), in bytes.
pub const MAX_REASON_BYTES: usize = 1024;
/// Longest commit id, in bytes (a UUID is 36).
pub const MAX_COMMIT_ID_BYTES: usize = 64;

/// Checks an operator's reason, at most [`MAX_REASON_BYTES`]; blank gives `default`.
pub fn reason(text: &str, default: &str) -> Result<String> {
    if text.len() > MAX_REASON_BYTES {
        return Err(HubError::InvalidArgument(format!(
            "reason is {} bytes; the limit is {MAX_REASON_BYTES}",
            text.len()
        )));
    }
    let text = text.trim();
    Ok(if text.is_empty() { default.to_owned() } else { text.to_owned() })
}

/// Longest tool call id, in bytes.
pub const MAX_TOOL_CALL_ID_BYTES: usize = 256;
/// Longest actor name, in bytes.
pub const MAX_ACTOR_BYTES: usize = 256;

/// Checks a tool call id: not blank, at most [`MAX_TOOL_CALL_ID_BYTES`].
pub fn tool_call_id(text: &str) -> Result<&str> {
    if text.trim().is_empty() {
        return Err(HubError::InvalidArgument(
            "tool_call_id is empty; give the id of the held call (see `agentry approvals --pending`)".to_owned(),
        ));
    }
    if text.len() > MAX_TOOL_CALL_ID_BYTES {
        return Err(HubError::InvalidArgument(format!(
            "tool_call_id is {} bytes; the limit is {MAX_TOOL_CALL_ID_BYTES}",
            text.len()
        )));
    }
    Ok(text)
}

/// Checks who decides: at most [`MAX_ACTOR_BYTES`], no control characters.
pub fn actor(text: &str) -> Result<&str> {
    if text.len() > MAX_ACTOR_BYTES {
        return Err(HubError::InvalidArgument(format!(
            "actor is {} bytes; the limit is {MAX_ACTOR_BYTES}",
            text.len()
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(HubError::InvalidArgument("actor contains control characters".to_owned()));
    }
    Ok(text)
}

/// Checks an optional commit id (empty means none), at most [`MAX_COMMIT_ID_BYTES`].
pub fn commit_id(text: &str) -> Result<Option<String>> {
    if text.len() > MAX_COMMIT_ID_BYTES {
        return Err(HubError::InvalidArgument(format!(
            "commit_id is {} bytes; the limit is {MAX_COMMIT_ID_BYTES}",
            text.len()
        )));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// Parses a required id field.
pub fn id<T>(field: &str, text: &str) -> Result<T>
where
    T: std::str::FromStr<Err = agentry_core::InvalidId>,
{
    if text.is_empty() {
        return Err(HubError::InvalidArgument(format!("{field} is required")));
    }
    Ok(agentry_proto::convert::id(field, text)?)
}

/// Parses an optional id field (empty means none).
pub fn optional_id<T>(field: &str, text: &str) -> Result<Option<T>>
where
    T: std::str::FromStr<Err = agentry_core::InvalidId>,
{
    Ok(agentry_proto::convert::optional_id(field, text)?)
}

/// Checks a Spawn's budget: positive limits.
pub fn budget(max_tokens: Option<u64>, max_cost_usd: Option<f64>) -> Result<BudgetLimits> {
    let limits = BudgetLimits { max_tokens, max_cost_usd };
    limits.validate().map_err(HubError::InvalidArgument)?;
    Ok(limits)
}

/// Checks what a resume adds to a budget: finite, not negative.
pub fn budget_raise(add_tokens: u64, add_cost_usd: f64) -> Result<Spend> {
    if !(add_cost_usd.is_finite() && add_cost_usd >= 0.0) {
        return Err(HubError::InvalidArgument(format!(
            "add_cost_usd is {add_cost_usd}; it must be a positive number of USD (or 0)"
        )));
    }
    Ok(Spend { tokens: add_tokens, cost_usd: add_cost_usd })
}

/// Checks an agent spec from a client and fills its defaults: its node selector as labels,
/// then [`AgentSpec::validated`], then that its model reference resolves in `models` and that
/// its tools are among `allowed_tools` (the config's `[tools] allowed`; `None`: every builtin).
pub fn spec(spec: AgentSpec, models: &ModelsConfig, allowed_tools: Option<&[String]>) -> Result<AgentSpec> {
    labels("spec.node_selector", &spec.node_selector)?;
    let spec = spec.validated().map_err(|error| HubError::InvalidArgument(error.0))?;
    check_cluster_rules("spec", &spec, models, allowed_tools)?;
    Ok(spec)
}

/// Checks what only the hub knows of a validated spec and of each team role's spec (`field` names
/// it: `spec`, `spec.team.roles.coder`): its model is configured, its tools allowed.
fn check_cluster_rules(
    field: &str,
    spec: &AgentSpec,
    models: &ModelsConfig,
    allowed_tools: Option<&[String]>,
) -> Result<()> {
    models.check_reference(&spec.model).map_err(|error| {
        // The spawned spec's own model error is worded as before; a role's names the role.
        HubError::InvalidArgument(if field == "spec" { error.0 } else { format!("{field}: {}", error.0) })
    })?;
    if let Some(allowed) = allowed_tools
        && let Some(refused) = spec.tools.iter().find(|tool| !allowed.contains(tool))
    {
        return Err(HubError::InvalidArgument(format!(
            "{field}.tools: tool {refused:?} is not allowed on this cluster; allowed tools are {}",
            allowed.join(", ")
        )));
    }
    for (name, role) in spec.team.iter().flat_map(|team| &team.roles) {
        check_cluster_rules(&format!("{field}.team.roles.{name}"), &role.spec, models, allowed_tools)?;
    }
    Ok(())
}

/// Longest `ListAgents` search, in bytes.
pub const MAX_AGENT_SEARCH_BYTES: usize = 256;
/// Shortest cost report time bucket, in milliseconds.
pub const MIN_COST_BUCKET_MS: u64 = 1000;
/// Longest cost report time bucket, in milliseconds (36525 days: a century).
pub const MAX_COST_BUCKET_MS: u64 = 36_525 * 86_400_000;
/// Most time buckets one cost report may split its window into.
pub const MAX_COST_BUCKETS: u64 = 100_000;

/// Checks a `ListAgents` search (`query`): at most [`MAX_AGENT_SEARCH_BYTES`]; returns it
/// trimmed, `None` when blank.
pub fn agent_search(text: &str) -> Result<Option<String>> {
    if text.len() > MAX_AGENT_SEARCH_BYTES {
        return Err(HubError::InvalidArgument(format!(
            "query is {} bytes; the limit is {MAX_AGENT_SEARCH_BYTES} bytes",
            text.len()
        )));
    }
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// Checks the run statuses of a filter (`field`, wire values): each a known status, none
/// `RUN_STATUS_UNSPECIFIED`. Returns them, duplicates removed, in their first order.
pub fn run_statuses(field: &str, values: &[i32]) -> Result<Vec<RunStatus>> {
    let mut statuses = Vec::with_capacity(values.len());
    for &value in values {
        let status = agentry_proto::convert::types::run_status_from(field, value)?.ok_or_else(|| {
            HubError::InvalidArgument(format!(
                "{field}: RUN_STATUS_UNSPECIFIED is no status; name the statuses to keep (e.g. RUN_STATUS_FAILED), or none \
                 for every agent"
            ))
        })?;
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    Ok(statuses)
}

/// Reads a `ListAgents` page token (empty: the first page): the id of the last agent of the
/// previous page, as `next_page_token` gave it.
pub fn page_token(token: &str) -> Result<Option<AgentId>> {
    if token.is_empty() {
        return Ok(None);
    }
    token.parse().map(Some).map_err(|_| {
        HubError::InvalidArgument(format!(
            "page_token {:?} is not one ListAgents gave; pass the next_page_token of the previous page as it is, \
             or none for the first page",
            token.chars().take(64).collect::<String>()
        ))
    })
}

/// Checks a cost report's time bucket (`bucket_ms`; `None` or zero: no buckets) against its
/// window (`None`: all time, counted from the Unix epoch to `now_ms`): from
/// [`MIN_COST_BUCKET_MS`] to [`MAX_COST_BUCKET_MS`], splitting the window into at most
/// [`MAX_COST_BUCKETS`]. Returns the bucket in milliseconds.
pub fn cost_bucket(bucket: Option<Duration>, window: Option<Duration>, now_ms: i64) -> Result<Option<i64>> {
    let Some(bucket) = bucket.filter(|bucket| !bucket.is_zero()) else {
        return Ok(None);
    };
    let bucket_ms = u64::try_from(bucket.as_millis()).unwrap_or(u64::MAX);
    if bucket_ms < MIN_COST_BUCKET_MS {
        return Err(HubError::InvalidArgument(format!(
            "bucket_ms is {bucket_ms}; a bucket is at least {MIN_COST_BUCKET_MS} ms (1 s), or 0 for none"
        )));
    }
    if bucket_ms > MAX_COST_BUCKET_MS {
        return Err(HubError::InvalidArgument(format!(
            "bucket_ms is {bucket_ms}; a bucket is at most {MAX_COST_BUCKET_MS} ms (36525 days)"
        )));
    }
    let all_time_ms = u64::try_from(now_ms).unwrap_or(0);
    let span_ms = window.map_or(all_time_ms, |window| {
        u64::try_from(agentry_core::clock::duration_ms(window)).unwrap_or(0).min(all_time_ms)
    });
    // An unaligned window touches one bucket more than it spans.
    let buckets = span_ms / bucket_ms + 1;
    if buckets > MAX_COST_BUCKETS {
        let window = match window {
            Some(_) => format!("a window of {span_ms} ms"),
            None => "all time (since 1970; no window_ms)".to_owned(),
        };
        return Err(HubError::InvalidArgument(format!(
            "bucket_ms {bucket_ms} splits {window} into {buckets} buckets; the limit is {MAX_COST_BUCKETS}: choose a \
             larger bucket or a shorter window"
        )));
    }
    Ok(Some(bucket_ms as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_oversized_inputs_are_rejected_with_the_limit() {
        assert!(input("input", "hi").is_ok());
        let blank = input("input", "  \n").unwrap_err().to_string();
        assert_eq!(blank, "input must not be empty");
        let big = "x".repeat(MAX_INPUT_BYTES + 1);
        let oversized = input("input", &big).unwrap_err().to_string();
        assert!(oversized.contains("1048577 bytes; the limit is 1048576 bytes"), "{oversized}");
        assert!(input("input", &"x".repeat(MAX_INPUT_BYTES)).is_ok());
    }

    #[test]
    fn label_rules() {
        let mut ok = BTreeMap::new();
        ok.insert("team/a-b_c.d".to_string(), "v".to_string());
        assert!(labels("labels", &ok).is_ok());
        let mut bad_key = BTreeMap::new();
        bad_key.insert("has space".to_string(), "v".to_string());
        assert!(labels("labels", &bad_key).unwrap_err().to_string().contains("label key \"has space\""));
        let mut big_value = BTreeMap::new();
        big_value.insert("k".to_string(), "v".repeat(MAX_LABEL_VALUE_BYTES + 1));
        assert!(labels("labels", &big_value).is_err());
    }

    #[test]
    fn reasons_default_and_are_bounded() {
        assert_eq!(reason("  ", "by default").unwrap(), "by default");
        assert_eq!(reason(" flaky ", "by default").unwrap(), "flaky");
        assert!(reason(&"x".repeat(MAX_REASON_BYTES + 1), "d").unwrap_err().to_string().contains("limit is 1024"));
        assert_eq!(commit_id("").unwrap(), None);
        assert!(commit_id(&"c".repeat(65)).is_err());
    }

    #[test]
    fn searches_are_bounded_and_trimmed() {
        assert_eq!(agent_search("  ").unwrap(), None);
        assert_eq!(agent_search(" team=a ").unwrap().as_deref(), Some("team=a"));
        assert!(agent_search(&"q".repeat(MAX_AGENT_SEARCH_BYTES)).is_ok());
        let long = agent_search(&"q".repeat(MAX_AGENT_SEARCH_BYTES + 1)).unwrap_err().to_string();
        assert_eq!(long, "query is 257 bytes; the limit is 256 bytes");
    }

    #[test]
    fn statuses_must_be_named() {
        use agentry_proto::v1 as pb;
        let wire = [pb::RunStatus::Failed as i32, pb::RunStatus::Queued as i32, pb::RunStatus::Failed as i32];
        assert_eq!(run_statuses("statuses", &wire).unwrap(), [RunStatus::Failed, RunStatus::Queued]);
        assert!(run_statuses("statuses", &[]).unwrap().is_empty());
        let unspecified = run_statuses("statuses", &[0]).unwrap_err().to_string();
        assert!(unspecified.starts_with("statuses: RUN_STATUS_UNSPECIFIED"), "{unspecified}");
        assert!(run_statuses("statuses", &[99]).unwrap_err().to_string().starts_with("statuses: 99"));
    }

    #[test]
    fn page_tokens_are_agent_ids() {
        let agent = AgentId::generate();
        assert_eq!(page_token("").unwrap(), None);
        assert_eq!(page_token(&agent.to_string()).unwrap(), Some(agent));
        assert!(page_token("bogus").unwrap_err().to_string().starts_with("page_token \"bogus\""));
    }

    #[test]
    fn cost_buckets_are_bounded_in_length_and_number() {
        const NOW: i64 = 1_700_000_000_000;
        let ms = Duration::from_millis;
        assert_eq!(cost_bucket(None, None, NOW).unwrap(), None);
        assert_eq!(cost_bucket(Some(Duration::ZERO), None, NOW).unwrap(), None);
        assert_eq!(cost_bucket(Some(ms(1000)), Some(ms(60_000)), NOW).unwrap(), Some(1000));
        assert!(cost_bucket(Some(ms(999)), None, NOW).unwrap_err().to_string().starts_with("bucket_ms is 999;"));
        assert!(cost_bucket(Some(ms(MAX_COST_BUCKET_MS + 1)), None, NOW).is_err());
        // A day's buckets since 1970 fit; hours need a window.
        assert_eq!(cost_bucket(Some(ms(86_400_000)), None, NOW).unwrap(), Some(86_400_000));
        let hourly = cost_bucket(Some(ms(3_600_000)), None, NOW).unwrap_err().to_string();
        assert!(hourly.contains("choose a larger bucket or a shorter window"), "{hourly}");
        assert!(cost_bucket(Some(ms(3_600_000)), Some(ms(7 * 86_400_000)), NOW).is_ok());
        // 100 000 buckets of a second: the window's span plus the one an unaligned start adds.
        assert!(cost_bucket(Some(ms(1000)), Some(ms(99_999_000)), NOW).is_ok());
        assert!(cost_bucket(Some(ms(1000)), Some(ms(100_000_000)), NOW).is_err());
        // A window longer than all time counts as all time.
        assert!(cost_bucket(Some(ms(86_400_000)), Some(Duration::MAX), NOW).is_ok());
    }

    #[test]
    fn ids_are_required_and_parsed() {
        assert_eq!(id::<AgentId>("agent_id", "").unwrap_err().to_string(), "agent_id is required");
        assert!(id::<AgentId>("agent_id", "nope").unwrap_err().to_string().starts_with("agent_id: \"nope\""));
        let agent = AgentId::generate();
        assert_eq!(id::<AgentId>("agent_id", &agent.to_string()).unwrap(), agent);
    }
}
