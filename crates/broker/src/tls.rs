//! [`NatsTls`]: TLS of the NATS connection. A `tls://` URL requires TLS; a `nats://` URL
//! upgrades to TLS when the server requires it (its `INFO` says so). The server's certificate is
//! verified with the configured CA, or the system's CAs when none is.

use std::path::{Path, PathBuf};

use async_nats::ConnectOptions;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::{BrokerError, Result};

/// TLS settings of a NATS connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// CA certificates (PEM) the server's certificate must chain to (the `nats-ca` key);
    /// `None`: the system's CAs.
    pub ca: Option<PathBuf>,
}

impl NatsTls {
    /// Returns settings trusting the CA certificates in `ca`.
    pub fn with_ca(ca: impl Into<PathBuf>) -> Self {
        Self { ca: Some(ca.into()) }
    }

    /// Returns `options` with these settings for a connection to `url`.
    ///
    /// Errors with [`BrokerError::Tls`] naming the CA file when it cannot be read or holds no
    /// PEM certificate: found now rather than as a failed handshake.
    pub(crate) fn apply(&self, options: ConnectOptions, url: &str) -> Result<ConnectOptions> {
        let mut options = options;
        if url.starts_with("tls://") {
            options = options.require_tls(true);
        }
        if let Some(ca) = &self.ca {
            check_ca(ca)?;
            options = options.add_root_certificates(ca.clone());
        }
        Ok(options)
    }
}

/// Checks that `path` is a readable PEM file with at least one certificate.
fn check_ca(path: &Path) -> Result<()> {
    let tls_error = |reason: String| BrokerError::Tls { path: path.to_owned(), reason };
    let bytes = std::fs::read(path).map_err(|error| tls_error(error.to_string()))?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|error| tls_error(format!("not a PEM certificate file: {error}")))?;
    if certificates.is_empty() {
        return Err(tls_error("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned()));
    }
    Ok(())
}

/// Returns a hint for a failed connection to `url`: what to check when it looks like TLS.
pub(crate) fn hint(tls: &NatsTls, error: &str) -> &'static str {
    let lower = error.to_ascii_lowercase();
    let about_tls =
        ["certificate", "tls", "handshake", "unknownissuer", "alert"].iter().any(|word| lower.contains(word));
    match (about_tls, &tls.ca) {
        (false, _) => "",
        (true, None) => " (the server's TLS certificate is not trusted by the system's CAs: set nats-ca to its CA)",
        (true, Some(_)) => {
            " (check that nats-ca holds the CA of the server's TLS certificate and that the certificate names the URL's host)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unusable_ca_file_is_named() {
        let dir = std::env::temp_dir().join(format!("agentry-broker-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let missing = dir.join("missing.pem");
        let error = NatsTls::with_ca(&missing).apply(ConnectOptions::new(), "tls://127.0.0.1:4222").unwrap_err();
        assert!(error.to_string().contains("missing.pem"), "{error}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here").expect("write");
        let error = NatsTls::with_ca(&empty).apply(ConnectOptions::new(), "nats://127.0.0.1:4222").unwrap_err();
        assert!(error.to_string().contains("empty.pem") && error.to_string().contains("no PEM certificate"), "{error}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn tls_failures_get_a_hint() {
        assert_eq!(hint(&NatsTls::default(), "connection refused"), "");
        assert!(hint(&NatsTls::default(), "invalid peer certificate: UnknownIssuer").contains("set nats-ca"));
    }
}
