//! The client side: [`ClientTls`] (whom to trust, who to be) and tonic channels that speak TLS
//! to `https://` endpoints ([`channel`], [`connect`]).
//!
//! The TLS itself is tonic's rustls connector, given our own server-certificate verifier
//! (`Endpoint::tls_config_with_verifier`): with the workspace's tonic feature `tls-ring`, tonic
//! refuses an `https://` URI whose connector is not its own, and its connector already does
//! what we need — SNI from the URI's host (an IP address too, IPv6 brackets removed), ALPN
//! `h2` required, a handshake timeout.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Identity};

use crate::error::{Result, TlsError};
use crate::incoming::HANDSHAKE_TIMEOUT;
use crate::pem::{certificates_from_pem, native_roots, private_key_from_pem, read_roots};

/// Where a client's trusted CAs and (for mutual TLS) its certificate and key are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// CA certificates (PEM) the server's certificate must chain to; `None`: the operating
    /// system's trusted CAs.
    pub ca: Option<PathBuf>,
    /// The client's certificate chain (PEM, leaf first), presented to servers that ask; with
    /// `key`.
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of `cert`.
    pub key: Option<PathBuf>,
}

/// A client's TLS settings, read from [`ClientTlsFiles`]: the server verifier and, for mutual
/// TLS, the client's certificate. Cheap to clone.
#[derive(Clone)]
pub struct ClientTls {
    verifier: Arc<dyn ServerCertVerifier>,
    config: Arc<ClientConfig>,
    /// The PEM text of the client certificate and key, for tonic's connector.
    identity: Option<Arc<(Vec<u8>, Vec<u8>)>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").field("client_certificate", &self.identity.is_some()).finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Reads `files`. `ca` unset: the server is verified with the system's CAs.
    ///
    /// Errors name the file at fault (unreadable, not PEM, a key that does not fit the
    /// certificate), a certificate without its key or the reverse, or no CA at all.
    pub fn load(files: ClientTlsFiles) -> Result<Self> {
        let roots = match &files.ca {
            Some(ca) => Arc::new(read_roots(ca)?),
            None => native_roots()?,
        };
        let verifier = server_verifier(roots, files.ca.as_deref())?;
        let builder = ClientConfig::builder_with_provider(crate::provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Config(format!("protocol versions: {error}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone());
        let (config, identity) = match (&files.cert, &files.key) {
            (None, None) => (builder.with_no_client_auth(), None),
            (Some(cert), None) => {
                return Err(TlsError::invalid(cert, "a client certificate needs its key: set the key file too"));
            }
            (None, Some(key)) => {
                return Err(TlsError::invalid(key, "a client key needs its certificate: set the certificate file too"));
            }
            (Some(cert), Some(key)) => {
                let cert_pem = std::fs::read(cert).map_err(|error| TlsError::read(cert, &error))?;
                let key_pem = std::fs::read(key).map_err(|error| TlsError::read(key, &error))?;
                let chain = certificates_from_pem(cert, &cert_pem)?;
                let private_key = private_key_from_pem(key, &key_pem)?;
                let config = builder.with_client_auth_cert(chain, private_key).map_err(|error| {
                    TlsError::invalid(key, format!("does not fit the certificate {}: {error}", cert.display()))
                })?;
                (config, Some(Arc::new((cert_pem, key_pem))))
            }
        };
        Ok(Self { verifier, config: Arc::new(config), identity })
    }

    /// Returns a rustls client configuration with these settings and no ALPN protocols (for
    /// clients other than tonic's: tokio-rustls, reqwest's `use_preconfigured_tls`, NATS).
    pub fn client_config(&self) -> ClientConfig {
        (*self.config).clone()
    }

    /// Returns whether a client certificate is presented (mutual TLS).
    pub fn has_client_certificate(&self) -> bool {
        self.identity.is_some()
    }
}

/// Returns a channel to `endpoint` that connects on first use: `https://` endpoints over TLS
/// with `tls` (`None`: the system's CAs, no client certificate); `http://` in plaintext, `tls`
/// ignored. The endpoint's other settings (timeouts, keepalive) apply. Must be called within a
/// tokio runtime.
///
/// Errors when the endpoint's URI has no host to verify the certificate against.
pub fn channel(endpoint: Endpoint, tls: Option<&ClientTls>) -> Result<Channel> {
    let uri = endpoint.uri().to_string();
    let endpoint = with_tls(endpoint, tls).map_err(|error| TlsError::Config(format!("{uri}: {error}")))?;
    Ok(endpoint.connect_lazy())
}

/// Connects to `endpoint` now and returns the channel; as [`channel`] otherwise.
///
/// Errors when the connection or the TLS handshake fails (the server's certificate is not
/// trusted, no `h2`, …) or the URI has no host.
pub async fn connect(endpoint: Endpoint, tls: Option<&ClientTls>) -> Result<Channel, tonic::transport::Error> {
    with_tls(endpoint, tls)?.connect().await
}

/// Returns `endpoint` with TLS configured when its scheme is `https`.
fn with_tls(endpoint: Endpoint, tls: Option<&ClientTls>) -> Result<Endpoint, tonic::transport::Error> {
    if endpoint.uri().scheme_str() != Some("https") {
        return Ok(endpoint);
    }
    let verifier = match tls {
        Some(tls) => tls.verifier.clone(),
        None => system_verifier(),
    };
    let mut config = ClientTlsConfig::new().timeout(HANDSHAKE_TIMEOUT);
    if let Some(identity) = tls.and_then(|tls| tls.identity.as_ref()) {
        config = config.identity(Identity::from_pem(&identity.0, &identity.1));
    }
    endpoint.tls_config_with_verifier(config, verifier)
}

/// Returns a WebPKI verifier of server certificates chaining to `roots` (read from `ca`).
fn server_verifier(roots: Arc<RootCertStore>, ca: Option<&std::path::Path>) -> Result<Arc<dyn ServerCertVerifier>> {
    let verifier =
        WebPkiServerVerifier::builder_with_provider(roots, crate::provider()).build().map_err(|error| match ca {
            Some(ca) => TlsError::invalid(ca, format!("not a usable CA: {error}")),
            None => TlsError::Config(format!("the system's CA certificates: {error}")),
        })?;
    Ok(verifier)
}

/// Returns the verifier of the system's CAs, or one that refuses every server and says why.
fn system_verifier() -> Arc<dyn ServerCertVerifier> {
    match native_roots().and_then(|roots| server_verifier(roots, None)) {
        Ok(verifier) => verifier,
        Err(error) => Arc::new(Refuse(error.to_string())),
    }
}

/// A verifier that refuses every server: the handshake fails with the reason no CA is known.
#[derive(Debug)]
struct Refuse(String);

impl ServerCertVerifier for Refuse {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::General(self.0.clone()))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(self.0.clone()))
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(self.0.clone()))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        crate::provider().signature_verification_algorithms.supported_schemes()
    }
}
