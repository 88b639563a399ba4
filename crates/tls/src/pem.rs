//! Reading PEM files (RFC 7468) into rustls types, with errors naming the file.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Result, TlsError};

/// Returns the certificates of the PEM file at `path` (`CERTIFICATE` blocks, in order: a leaf
/// first, then its intermediates).
///
/// Errors name the file: unreadable, a malformed block, or no certificate at all.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = std::fs::read(path).map_err(|error| TlsError::read(path, &error))?;
    certificates_from_pem(path, &bytes)
}

/// Returns the certificates of PEM `bytes` read from `path` (named in errors).
pub(crate) fn certificates_from_pem(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_slice_iter(bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|error| TlsError::invalid(path, format!("not a PEM certificate file: {error}")))?;
    if certificates.is_empty() {
        return Err(TlsError::invalid(path, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(certificates)
}

/// Returns the private key of the PEM file at `path` (the first `PRIVATE KEY`, `RSA PRIVATE
/// KEY` or `EC PRIVATE KEY` block).
///
/// Errors name the file: unreadable, malformed, or holding no private key.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let bytes = std::fs::read(path).map_err(|error| TlsError::read(path, &error))?;
    private_key_from_pem(path, &bytes)
}

/// Returns the private key of PEM `bytes` read from `path` (named in errors).
pub(crate) fn private_key_from_pem(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|error| match error {
        rustls_pki_types::pem::Error::NoItemsFound => {
            TlsError::invalid(path, "holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
        }
        other => TlsError::invalid(path, format!("not a PEM private key file: {other}")),
    })
}

/// Returns a root store of the CA certificates in the PEM file at `path`.
///
/// Errors name the file: unreadable, malformed, no certificate, or a certificate that is no
/// usable trust anchor.
pub fn read_roots(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(path)? {
        roots
            .add(certificate)
            .map_err(|error| TlsError::invalid(path, format!("a CA certificate is not usable: {error}")))?;
    }
    Ok(roots)
}

/// Returns the operating system's trusted CA certificates (read once per process).
///
/// Errors when there are none, telling to configure a CA file instead.
pub(crate) fn native_roots() -> Result<Arc<RootCertStore>> {
    static NATIVE: OnceLock<std::result::Result<Arc<RootCertStore>, String>> = OnceLock::new();
    NATIVE
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            for error in &loaded.errors {
                tracing::debug!(%error, "reading a system CA certificate");
            }
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
            if added == 0 {
                return Err("no system CA certificates found: configure the CA file of the server (tls-ca)".to_owned());
            }
            Ok(Arc::new(roots))
        })
        .clone()
        .map_err(TlsError::Config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.pem");
        let error = read_certificates(&missing).unwrap_err();
        assert_eq!(error.path(), Some(missing.as_path()));
        assert!(error.to_string().starts_with(&missing.display().to_string()), "{error}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem at all\n").expect("write");
        let error = read_certificates(&empty).unwrap_err();
        assert!(matches!(error, TlsError::Invalid { .. }), "{error:?}");
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
        let error = read_private_key(&empty).unwrap_err();
        assert!(error.to_string().contains("no PEM private key"), "{error}");

        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").expect("write");
        let error = read_certificates(&broken).unwrap_err();
        assert!(error.to_string().contains("broken.pem"), "{error}");
    }
}
