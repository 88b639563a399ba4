//! The small set of error kinds shared by every crate; each crate error maps onto one.

/// Coarse error kind, mapped to a gRPC status code at the API edge only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The named entity does not exist.
    NotFound,
    /// The entity exists already.
    AlreadyExists,
    /// The request is malformed; retrying it unchanged fails again.
    InvalidArgument,
    /// The request is valid but the system is not in a state to accept it (e.g. a stale epoch).
    FailedPrecondition,
    /// A dependency is unreachable; retrying later may succeed.
    Unavailable,
    /// A deadline passed.
    Timeout,
    /// A limit or quota is exhausted.
    ResourceExhausted,
    /// A bug or an unexpected state.
    Internal,
}

impl ErrorCode {
    /// Returns whether an operation that failed with this code may succeed when retried.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Unavailable | Self::Timeout | Self::ResourceExhausted)
    }
}

/// A configuration value that cannot work, naming its key; returned by the `validate()` of the
/// hub's and the node's configurations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct InvalidConfig {
    /// The kebab-case key, e.g. `heartbeat-interval`.
    pub key: &'static str,
    /// Why, and what would be accepted.
    pub reason: String,
}

impl InvalidConfig {
    /// Returns an error about `key`.
    pub fn new(key: &'static str, reason: impl Into<String>) -> Self {
        Self { key, reason: reason.into() }
    }

    /// Checks that every duration of `durations` (`(key, value)`) is positive; the error names
    /// the first zero one.
    pub fn check_positive(durations: &[(&'static str, std::time::Duration)]) -> Result<(), Self> {
        match durations.iter().find(|(_, value)| value.is_zero()) {
            Some((key, _)) => Err(Self::new(key, "must be positive")),
            None => Ok(()),
        }
    }

    /// Checks a listen address setting: unset, `off`, or `IP:PORT` (`0.0.0.0:7701`,
    /// `[::1]:0`); the error names `key`.
    pub fn check_listen_address(key: &'static str, address: Option<&str>) -> Result<(), Self> {
        match listen_address(address) {
            Some(address) if address.parse::<std::net::SocketAddr>().is_err() => {
                Err(Self::new(key, format!("{address:?} is not an IP:PORT address (or `off`)")))
            }
            _ => Ok(()),
        }
    }
}

/// Returns the address of a listen setting, `None` when unset, empty or `off`.
pub fn listen_address(address: Option<&str>) -> Option<&str> {
    address.map(str::trim).filter(|address| !address.is_empty() && *address != "off")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_are_ip_and_port_or_off() {
        assert_eq!(listen_address(Some("off")), None);
        assert_eq!(listen_address(None), None);
        assert_eq!(listen_address(Some("127.0.0.1:0")), Some("127.0.0.1:0"));
        assert!(InvalidConfig::check_listen_address("metrics-listen", Some("[::1]:9090")).is_ok());
        let error = InvalidConfig::check_listen_address("metrics-listen", Some("localhost")).unwrap_err();
        assert_eq!(error.key, "metrics-listen");
    }
}
