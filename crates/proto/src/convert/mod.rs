//! The one wire boundary: every conversion between `agentry.v1` messages and the domain types of
//! `agentry-core`, used by the hub, the node, the SDK and the CLI alike.
//!
//! Domain → wire conversions are infallible `From` impls. Wire → domain conversions are
//! `TryFrom` impls (or `*_from` functions) that check what a peer could get wrong and fail with
//! a [`WireError`] naming the field, which the hub answers as `INVALID_ARGUMENT`.
//!
//! Layout: [`types`] (runs, agents, messages, events, nodes), [`approvals`], [`node_api`] (the `NodeService`
//! payloads: commits, loaded runs, leases), [`status`] (gRPC status codes ⇄
//! [`agentry_core::ErrorCode`]).

pub mod approvals;
pub mod node_api;
pub mod status;
pub mod team;
pub mod types;

use std::str::FromStr;

use pbjson_types::Timestamp;

use agentry_core::InvalidId;

/// A wire message a domain type could not be made of; names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct WireError {
    /// Path of the field, e.g. `messages.role` or `spec`.
    pub field: String,
    /// What is wrong with it, for a person.
    pub reason: String,
}

impl WireError {
    /// Returns an error about `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }

    /// Returns a "`field` is required" error.
    pub fn missing(field: &str) -> Self {
        Self::new(field, "is required")
    }
}

/// Returns the protobuf timestamp of `ms` milliseconds since the Unix epoch.
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

/// Returns the protobuf timestamp of `time` (nanosecond precision; before the epoch too).
pub fn system_timestamp(time: std::time::SystemTime) -> Timestamp {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => Timestamp { seconds: after.as_secs() as i64, nanos: after.subsec_nanos() as i32 },
        Err(before) => {
            let before = before.duration();
            let (seconds, nanos) = (before.as_secs() as i64, before.subsec_nanos() as i32);
            if nanos == 0 {
                Timestamp { seconds: -seconds, nanos: 0 }
            } else {
                Timestamp { seconds: -seconds - 1, nanos: 1_000_000_000 - nanos }
            }
        }
    }
}

/// Returns milliseconds since the Unix epoch of an optional timestamp (0 when absent),
/// saturating at `i64::MIN`/`i64::MAX`: a peer may send any `seconds` (a run's times from the
/// hub, an imported event's time from a client), and a time ±292 million years away must not
/// overflow.
pub fn timestamp_ms(timestamp: Option<&Timestamp>) -> i64 {
    timestamp.map_or(0, |timestamp| {
        timestamp.seconds.saturating_mul(1000).saturating_add(i64::from(timestamp.nanos) / 1_000_000)
    })
}

/// Parses a required id field.
///
/// Errors name the field and say why the text is no id (empty, not a UUID).
pub fn id<T: FromStr<Err = InvalidId>>(field: &str, text: &str) -> Result<T, WireError> {
    text.parse().map_err(|error: InvalidId| WireError::new(field, error.to_string()))
}

/// Parses an optional id field: the empty string is `None`.
pub fn optional_id<T: FromStr<Err = InvalidId>>(field: &str, text: &str) -> Result<Option<T>, WireError> {
    match text {
        "" => Ok(None),
        text => id(field, text).map(Some),
    }
}

/// Returns the wire form of an optional text: `None` is the empty string.
pub(crate) fn text_or_empty(text: Option<&String>) -> String {
    text.cloned().unwrap_or_default()
}

/// Returns `None` for the empty string, else the text.
pub(crate) fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_in_milliseconds() {
        for ms in [0, 1, 999, 1_700_000_000_123, -1, -1001] {
            assert_eq!(timestamp_ms(Some(&timestamp(ms))), ms, "{ms}");
        }
        assert_eq!(timestamp_ms(None), 0);
        let far = |seconds| Timestamp { seconds, nanos: 999_999_999 };
        assert_eq!(timestamp_ms(Some(&far(i64::MAX))), i64::MAX, "saturates instead of overflowing");
        assert_eq!(timestamp_ms(Some(&far(i64::MIN))), i64::MIN + 999);
    }

    #[test]
    fn system_times_convert_with_nanoseconds_before_and_after_the_epoch() {
        use std::time::{Duration, UNIX_EPOCH};
        let after = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(system_timestamp(after), Timestamp { seconds: 1_700_000_000, nanos: 123_456_789 });
        let before = UNIX_EPOCH - Duration::new(1, 250_000_000);
        assert_eq!(system_timestamp(before), Timestamp { seconds: -2, nanos: 750_000_000 });
        assert_eq!(system_timestamp(UNIX_EPOCH - Duration::from_secs(3)), Timestamp { seconds: -3, nanos: 0 });
    }

    #[test]
    fn messages_have_the_canonical_proto3_json_mapping() {
        use crate::v1 as pb;
        let event = pb::TraceEvent {
            seq: 7,
            ts: Some(timestamp(1_700_000_000_123)),
            r#type: "tool_end".to_owned(),
            agent_id: "a".to_owned(),
            ..Default::default()
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["seq"], "7", "64-bit integers are strings");
        assert_eq!(json["agentId"], "a", "names are lowerCamelCase");
        assert!(json["ts"].as_str().unwrap().starts_with("2023-11-14T22:13:20.123"), "{json}");
        assert!(json.get("runId").is_none(), "default values are left out");
        let status =
            serde_json::to_value(pb::Run { status: pb::RunStatus::Running.into(), ..Default::default() }).unwrap();
        assert_eq!(status["status"], "RUN_STATUS_RUNNING", "enums by name");
        let parsed: pb::ListAgentsRequest =
            serde_json::from_str(r#"{"limit": 5, "statuses": ["RUN_STATUS_FAILED"], "pageToken": "x"}"#).unwrap();
        assert_eq!((parsed.limit, parsed.statuses, parsed.page_token.as_str()), (5, vec![4], "x"));
        assert!(serde_json::from_str::<pb::ListAgentsRequest>(r#"{"limt": 5}"#).is_err(), "unknown fields are refused");
    }

    #[test]
    fn bad_ids_name_their_field() {
        let error = id::<agentry_core::RunId>("run_id", "nope").unwrap_err();
        assert_eq!(error.field, "run_id");
        assert_eq!(optional_id::<agentry_core::RunId>("run_id", ""), Ok(None));
    }
}
