//! Recognising transport failures — a failed TLS handshake, a plaintext client of a TLS hub,
//! a connection the hub closed — in the errors of a call, and saying what to check.
//!
//! tokio-rustls reports handshake failures as an `io::Error` wrapping a `rustls::Error`
//! (which `io::Error::source` skips, so the chain is searched with `get_ref`); the
//! `agentry-tls` connector reports its own setup failures as [`agentry_tls::TlsError`]. A TLS
//! hub answers a plaintext HTTP/2 client by closing the connection, or with an alert record
//! that HTTP/2 reads as a frame header announcing an oversized frame (RFC 9113 §4.2).

use std::error::Error as StdError;
use std::io::ErrorKind;

use rustls::{AlertDescription, CertificateError};

/// What a plaintext client is told when the hub answered with a TLS record.
pub(crate) const PLAINTEXT_TO_TLS: &str =
    "the hub did not answer with plaintext HTTP/2; it probably serves TLS: use an https:// URL";

/// Returns whether `status` was made on this side from a failure of the connection (it carries
/// a transport or I/O error), rather than sent by the hub.
pub(crate) fn is_transport_failure(status: &tonic::Status) -> bool {
    let Some(source) = status.source() else { return false };
    status.code() == tonic::Code::Unavailable
        || any_cause(source, |cause| {
            cause.is::<tonic::transport::Error>() || cause.is::<std::io::Error>() || answered_with_tls(cause)
        })
}

/// Returns whether `error` is a TLS record read as HTTP/2: a frame larger than allowed.
pub(crate) fn answered_with_tls(error: &(dyn StdError + 'static)) -> bool {
    any_cause(error, |cause| {
        let message = cause.to_string();
        message.contains("frame with invalid size") || message.contains("FRAME_SIZE_ERROR")
    })
}

/// Returns whether the peer closed or reset the connection.
pub(crate) fn closed_by_peer(error: &(dyn StdError + 'static)) -> bool {
    any_cause(error, |cause| match cause.downcast_ref::<std::io::Error>() {
        Some(io) => matches!(
            io.kind(),
            ErrorKind::BrokenPipe
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::UnexpectedEof
        ),
        None => cause.to_string().contains("connection closed"),
    })
}

/// Returns whether `error` or one of its causes satisfies `test`.
fn any_cause(error: &(dyn StdError + 'static), test: impl Fn(&(dyn StdError + 'static)) -> bool) -> bool {
    let mut current = Some(error);
    while let Some(cause) = current {
        if test(cause) {
            return true;
        }
        current = cause.source();
    }
    false
}

/// Returns a one-line reason when `error` (or a cause) is a TLS failure, else `None`.
pub(crate) fn reason(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(tls) = as_rustls(cause) {
            return Some(describe(tls));
        }
        if let Some(setup) = cause.downcast_ref::<agentry_tls::TlsError>() {
            return Some(setup.to_string());
        }
        current = cause.source();
    }
    None
}

/// Returns `cause` as a rustls error, looking inside an `io::Error` too.
fn as_rustls<'a>(cause: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = cause.downcast_ref::<std::io::Error>()?.get_ref()?;
    inner.downcast_ref::<rustls::Error>()
}

/// Returns what a rustls error means for a client of the hub, with rustls's own words.
fn describe(error: &rustls::Error) -> String {
    let meaning = match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the hub's certificate is not signed by a CA this client trusts (trust the CA that signed it)"
        }
        // The issuer named by the certificate is trusted, but its key did not sign it: another
        // CA of the same name did (e.g. certificates generated again).
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
            "the hub's certificate is not signed by the CA this client trusts but by another of the same name (were \
             the certificates generated again?)"
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "the hub's certificate does not name the host of the URL (connect by a name the certificate lists)",
        rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "the hub's certificate has expired"
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "the hub's certificate is not valid yet (check the clocks)",
        rustls::Error::InvalidCertificate(_) => "the hub's certificate was refused",
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure) => {
            "the hub requires a client certificate (mutual TLS)"
        }
        rustls::Error::AlertReceived(
            AlertDescription::UnknownCA | AlertDescription::BadCertificate | AlertDescription::CertificateUnknown,
        ) => "the hub refused this client's certificate (is it signed by the hub's client CA?)",
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the hub did not answer with TLS; it probably serves plaintext: use an http:// URL"
        }
        other => return other.to_string(),
    };
    format!("{meaning} ({error})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rustls_error_inside_an_io_error_is_found_and_explained() {
        let unknown_issuer = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, unknown_issuer);
        let status = tonic::Status::from_error(Box::new(io));
        let reason = reason(&status).expect("a TLS failure");
        assert!(reason.starts_with("the hub's certificate is not signed by a CA this client trusts"), "{reason}");
        assert!(reason.contains("UnknownIssuer"), "rustls's words are kept: {reason}");
        let same_name = rustls::Error::InvalidCertificate(CertificateError::BadSignature);
        let reason = reason_of(&same_name);
        assert!(reason.contains("not signed by the CA this client trusts but by another of the same name"), "{reason}");
    }

    fn reason_of(error: &rustls::Error) -> String {
        reason(error).expect("a TLS failure")
    }

    #[test]
    fn a_plaintext_answer_to_a_tls_client_says_to_use_http() {
        let garbage = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let reason = reason(&garbage).expect("a TLS failure");
        assert!(reason.contains("use an http:// URL"), "{reason}");
    }

    #[test]
    fn statuses_made_from_transport_errors_are_told_from_the_hubs() {
        let broken = std::io::Error::new(ErrorKind::BrokenPipe, "stream closed because of a broken pipe");
        let local = tonic::Status::from_error(Box::new(broken));
        assert!(is_transport_failure(&local));
        let local = tonic::Status::from_error(Box::new(std::io::Error::from(ErrorKind::BrokenPipe)));
        assert!(closed_by_peer(&local));
        assert!(!is_transport_failure(&tonic::Status::unknown("the hub's own unknown error")));
        assert!(!is_transport_failure(&tonic::Status::unavailable("the hub is shutting down")));
    }

    #[test]
    fn other_errors_are_not_tls_failures() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(reason(&refused), None);
    }
}
