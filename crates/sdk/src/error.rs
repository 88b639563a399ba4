//! [`ClientError`]: what a call to the hub can fail with.

use std::error::Error as StdError;
use std::time::Duration;

use tonic::{Code, ConnectError, Status};

/// Why a call to the hub failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The hub could not be reached: nothing listens there, the connection timed out or broke.
    #[error("hub unreachable at {url}: {reason}")]
    Unreachable {
        /// Hub URL as given to [`crate::Client::connect`].
        url: String,
        /// What went wrong, one line (e.g. `connection refused`).
        reason: String,
    },
    /// The TLS handshake with the hub failed: its certificate is not signed by a trusted CA,
    /// does not name the host, has expired; the hub refused the client certificate; or one
    /// side does not speak TLS (a plaintext `http://` client and a TLS hub, or the reverse).
    /// Retrying does not help: the configuration must change.
    #[error("TLS with the hub at {url} failed: {reason}")]
    Tls {
        /// Hub URL as given to [`crate::Client::connect`].
        url: String,
        /// What went wrong and what to check, one line.
        reason: String,
    },
    /// The hub did not accept the caller's credentials (`UNAUTHENTICATED`): no token, an
    /// unknown, revoked or expired one. The message is the hub's.
    #[error("unauthenticated: {} (hub {url})", .status.message())]
    Unauthenticated {
        /// Hub URL.
        url: String,
        /// The hub's answer.
        status: tonic::Status,
    },
    /// The caller's role may not make this call (`PERMISSION_DENIED`), e.g. a viewer calling
    /// `Spawn`. The message is the hub's.
    #[error("permission denied: {}", .status.message())]
    PermissionDenied {
        /// Hub URL.
        url: String,
        /// The hub's answer.
        status: tonic::Status,
    },
    /// A limit was hit (`RESOURCE_EXHAUSTED`): the token's rate limit or open trace streams,
    /// the tenant's agents or active runs, a message size. The hub's message names the limit.
    #[error("resource exhausted: {}", .status.message())]
    ResourceExhausted {
        /// Hub URL.
        url: String,
        /// The hub's answer.
        status: tonic::Status,
    },
    /// The hub answered with another error status.
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(tonic::Status),
    /// The hub URL cannot be used.
    #[error("invalid hub URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The bearer token cannot be sent (empty, or not visible ASCII).
    #[error("invalid token: {reason}")]
    InvalidToken {
        /// Why; never the token itself.
        reason: String,
    },
    /// A followed trace broke and could not be reopened before the give-up window passed
    /// (see [`crate::FollowOptions`]).
    #[error("trace interrupted after seq {last_seq}; gave up reconnecting after {}s", .gave_up_after.as_secs_f32())]
    TraceInterrupted {
        /// The last `seq` received: resume with `after_seq` = this.
        last_seq: u64,
        /// The give-up window that passed without progress.
        gave_up_after: Duration,
        /// The last failure.
        #[source]
        source: Box<ClientError>,
    },
}

impl ClientError {
    /// Returns the error for an answer that lacks a required field (a hub bug).
    pub(crate) fn missing(rpc: &str, field: &str) -> Self {
        Self::Status(tonic::Status::internal(format!("{rpc} answered without {field}")))
    }

    /// Returns the gRPC code: that of the status, `Unavailable` for [`ClientError::Unreachable`]
    /// and [`ClientError::Tls`], that of the last failure for [`ClientError::TraceInterrupted`],
    /// `None` for [`ClientError::InvalidUrl`] and [`ClientError::InvalidToken`].
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Unreachable { .. } | Self::Tls { .. } => Some(Code::Unavailable),
            Self::Unauthenticated { .. } => Some(Code::Unauthenticated),
            Self::PermissionDenied { .. } => Some(Code::PermissionDenied),
            Self::ResourceExhausted { .. } => Some(Code::ResourceExhausted),
            Self::Status(status) => Some(status.code()),
            Self::InvalidUrl { .. } | Self::InvalidToken { .. } => None,
            Self::TraceInterrupted { source, .. } => source.code(),
        }
    }

    /// Returns the hub's status for errors the hub answered with, else `None`.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::Status(status)
            | Self::Unauthenticated { status, .. }
            | Self::PermissionDenied { status, .. }
            | Self::ResourceExhausted { status, .. } => Some(status),
            Self::TraceInterrupted { source, .. } => source.status(),
            Self::Unreachable { .. } | Self::Tls { .. } | Self::InvalidUrl { .. } | Self::InvalidToken { .. } => None,
        }
    }

    /// Returns whether the hub could not be reached: [`ClientError::Unreachable`], or a
    /// [`ClientError::TraceInterrupted`] whose last failure was. A failed TLS handshake is not
    /// (the hub answered; the configuration is wrong).
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::TraceInterrupted { source, .. } => source.is_unreachable(),
            _ => false,
        }
    }

    /// Returns whether retrying later may succeed: the hub was unreachable or unavailable (not
    /// a failed TLS handshake, which needs a configuration change).
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, Self::Tls { .. }) && self.code() == Some(Code::Unavailable)
    }

    /// Converts a status of a call to the hub at `url`: a status made on this side from a
    /// connection failure becomes [`ClientError::Unreachable`] (or [`ClientError::Tls`] for a
    /// TLS failure or a plaintext/TLS mismatch); `UNAUTHENTICATED`, `PERMISSION_DENIED` and
    /// `RESOURCE_EXHAUSTED` become their own variants.
    pub fn from_status(url: &str, status: Status) -> Self {
        if crate::tls_failure::is_transport_failure(&status) {
            return Self::from_connect_error(url, &status);
        }
        let url = url.to_owned();
        match status.code() {
            Code::Unauthenticated => Self::Unauthenticated { url, status },
            Code::PermissionDenied => Self::PermissionDenied { url, status },
            Code::ResourceExhausted => Self::ResourceExhausted { url, status },
            _ => Self::Status(status),
        }
    }

    /// Returns the error of a failed connection to the hub at `url`: [`ClientError::Tls`] when
    /// the TLS handshake failed or a TLS hub answered a plaintext client, else
    /// [`ClientError::Unreachable`] with the innermost reason (and, for an `http://` hub that
    /// closed the connection, the advice to try `https://`).
    pub(crate) fn from_connect_error(url: &str, error: &(dyn StdError + 'static)) -> Self {
        use crate::tls_failure;
        if let Some(reason) = tls_failure::reason(error) {
            return Self::Tls { url: url.to_owned(), reason };
        }
        let plaintext = !url.starts_with("https://");
        if plaintext && tls_failure::answered_with_tls(error) {
            return Self::Tls { url: url.to_owned(), reason: tls_failure::PLAINTEXT_TO_TLS.to_owned() };
        }
        let mut reason = connection_failure_reason(error);
        if plaintext && tls_failure::closed_by_peer(error) {
            reason.push_str("; if the hub serves TLS, use an https:// URL");
        }
        Self::Unreachable { url: url.to_owned(), reason }
    }
}

/// Returns the lowercase name of a gRPC code, e.g. `not found`, `invalid argument`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid argument",
        Code::DeadlineExceeded => "deadline exceeded",
        Code::NotFound => "not found",
        Code::AlreadyExists => "already exists",
        Code::PermissionDenied => "permission denied",
        Code::ResourceExhausted => "resource exhausted",
        Code::FailedPrecondition => "failed precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out of range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// Returns a one-line reason for a failed connection: the innermost I/O error in `error`'s
/// source chain (`connection refused`, `connection timed out`, ...), else the innermost message.
pub(crate) fn connection_failure_reason(error: &(dyn StdError + 'static)) -> String {
    let mut innermost = error.to_string();
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    let mut timed_out = false;
    while let Some(cause) = current {
        if let Some(io_error) = cause.downcast_ref::<std::io::Error>() {
            return describe_io_error(io_error);
        }
        let message = cause.to_string();
        timed_out |= message.contains("timed out");
        // A ConnectError only repeats its source's message.
        if cause.downcast_ref::<ConnectError>().is_none() && !message.is_empty() {
            innermost = message;
        }
        current = cause.source();
    }
    if timed_out { "connection timed out".to_owned() } else { one_line(&innermost) }
}

/// Returns an I/O error as a lowercase phrase without the `(os error N)` suffix.
fn describe_io_error(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        ErrorKind::ConnectionReset => "connection reset".to_owned(),
        ErrorKind::ConnectionAborted => "connection aborted".to_owned(),
        ErrorKind::TimedOut => "connection timed out".to_owned(),
        ErrorKind::HostUnreachable => "host unreachable".to_owned(),
        ErrorKind::NetworkUnreachable => "network unreachable".to_owned(),
        ErrorKind::AddrNotAvailable => "address not available".to_owned(),
        _ => {
            let text = error.to_string();
            let without_code = match text.find(" (os error ") {
                Some(index) => &text[..index],
                None => &text,
            };
            one_line(&lowercase_first(without_code))
        }
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_display_uses_the_human_code_name() {
        let error = ClientError::Status(Status::not_found("agent 42 not found"));
        assert_eq!(error.to_string(), "not found: agent 42 not found");
        let error = ClientError::Status(Status::invalid_argument("input: must not be blank"));
        assert_eq!(error.to_string(), "invalid argument: input: must not be blank");
    }

    #[test]
    fn server_sent_unavailable_stays_a_status() {
        let error = ClientError::from_status("http://hub", Status::unavailable("store down"));
        assert!(matches!(error, ClientError::Status(_)));
        assert!(error.is_unavailable());
    }

    #[test]
    fn local_connection_failure_becomes_unreachable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let status = Status::from_error(Box::new(ConnectError(Box::new(refused))));
        let error = ClientError::from_status("http://127.0.0.1:1", status);
        assert_eq!(error.to_string(), "hub unreachable at http://127.0.0.1:1: connection refused");
    }

    #[test]
    fn an_interrupted_trace_keeps_the_last_failure() {
        let unreachable =
            ClientError::Unreachable { url: "http://hub".to_owned(), reason: "connection refused".to_owned() };
        let interrupted = ClientError::TraceInterrupted {
            last_seq: 12,
            gave_up_after: Duration::from_secs(60),
            source: Box::new(unreachable),
        };
        assert_eq!(interrupted.to_string(), "trace interrupted after seq 12; gave up reconnecting after 60s");
        assert!(interrupted.is_unreachable() && interrupted.is_unavailable());
        let source = interrupted.source().expect("the last failure");
        assert_eq!(source.to_string(), "hub unreachable at http://hub: connection refused");
    }

    #[test]
    fn other_io_errors_lose_the_os_code() {
        let error = std::io::Error::other("Name or service not known (os error -2)");
        assert_eq!(describe_io_error(&error), "name or service not known");
    }
}
