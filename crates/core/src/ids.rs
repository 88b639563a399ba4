//! Typed identifiers. Every id is a UUIDv7 (time-ordered), written as its hyphenated text form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Returns a new, time-ordered id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Returns the underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self).map_err(|_| InvalidId {
                    kind: $what,
                    text: text.chars().take(64).collect(),
                })
            }
        }
    };
}

define_id!(
    /// Identifies an agent (a long-lived conversation).
    AgentId,
    "agent id"
);
define_id!(
    /// Identifies a run (one unit of work on an agent).
    RunId,
    "run id"
);
define_id!(
    /// Identifies a node for one membership: a node that rejoins gets a new id.
    NodeId,
    "node id"
);

/// Returned when a text is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {kind} (expected a UUID such as 0193a4f2-6c1e-7d3a-9b8e-2f1c0d4e5a6b)")]
pub struct InvalidId {
    /// What kind of id was expected.
    pub kind: &'static str,
    /// The offending text (at most 64 characters).
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = RunId::generate();
        let parsed: RunId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
    }

    #[test]
    fn bad_id_names_the_kind() {
        let error = "nope".parse::<AgentId>().unwrap_err();
        assert_eq!(error.kind, "agent id");
        assert!(error.to_string().contains("\"nope\" is not a valid agent id"));
    }

    #[test]
    fn ids_are_time_ordered() {
        let first = AgentId::generate();
        let second = AgentId::generate();
        assert!(first < second);
    }
}
