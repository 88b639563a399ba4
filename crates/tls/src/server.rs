//! [`ServerTls`]: the current rustls server configuration of a listener, built from PEM files
//! and swapped as a whole when they change.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;

use crate::error::{Result, TlsError};
use crate::pem::{read_certificates, read_private_key, read_roots};
use crate::reload::{Fingerprint, fingerprints};

/// ALPN protocol id of HTTP/2, offered by gRPC listeners (RFC 7301, RFC 9113 §3.2).
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1, offered by HTTP listeners.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Where a listener's certificate, key and (for mutual TLS) client CA are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// The server's certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// The private key (PEM, PKCS#8, PKCS#1 or SEC1) of the chain's leaf.
    pub key: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to. Set: clients may present
    /// a certificate, and a presented one must verify; unset: none is asked for.
    pub client_ca: Option<PathBuf>,
}

/// The configurations built from one reading of the files.
#[derive(Debug)]
pub(crate) struct Configs {
    /// For gRPC listeners: ALPN `h2`.
    pub(crate) grpc: Arc<ServerConfig>,
    /// For HTTP/1.1 listeners: ALPN `http/1.1`.
    pub(crate) http: Arc<ServerConfig>,
}

/// The TLS configuration of a server: the current rustls configuration, built from
/// [`ServerTlsFiles`], swapped by [`ServerTls::reload`] and [`ServerTls::spawn_reloader`].
/// Cheap to clone; clones share the current configuration. New handshakes use the configuration
/// current when they start; open connections keep theirs.
#[derive(Clone)]
pub struct ServerTls {
    pub(crate) files: Arc<ServerTlsFiles>,
    current: Arc<RwLock<Arc<Configs>>>,
    /// The files' fingerprints when the configuration in use was read, or when a change that
    /// made no valid configuration was seen (so that it is not tried again until the next).
    pub(crate) seen: Arc<Mutex<Vec<Fingerprint>>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("files", &self.files).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads `files` and returns the configuration they make.
    ///
    /// Errors name the file at fault: unreadable, not PEM, no certificate or key, a key that
    /// does not match the certificate, an unusable client CA.
    pub fn load(files: ServerTlsFiles) -> Result<Self> {
        // Taken before reading: a change while reading shows as a change at the next look.
        let seen = fingerprints(&files);
        let configs = build(&files)?;
        Ok(Self {
            files: Arc::new(files),
            current: Arc::new(RwLock::new(Arc::new(configs))),
            seen: Arc::new(Mutex::new(seen)),
        })
    }

    /// Returns the files this configuration is read from.
    pub fn files(&self) -> &ServerTlsFiles {
        &self.files
    }

    /// Reads the files again now and, when they make a valid configuration, uses it for new
    /// handshakes (tests, SIGHUP).
    ///
    /// Errors as [`ServerTls::load`]; the configuration in use is then kept.
    pub fn reload(&self) -> Result<()> {
        let seen = fingerprints(&self.files);
        let configs = build(&self.files)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(configs);
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = seen;
        tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
        Ok(())
    }

    /// Returns the configuration for gRPC (ALPN `h2`) in use now.
    pub fn grpc_config(&self) -> Arc<ServerConfig> {
        self.configs().grpc.clone()
    }

    /// Returns the configuration for HTTP/1.1 (ALPN `http/1.1`) in use now.
    pub fn http_config(&self) -> Arc<ServerConfig> {
        self.configs().http.clone()
    }

    fn configs(&self) -> Arc<Configs> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Builds both configurations from `files`.
fn build(files: &ServerTlsFiles) -> Result<Configs> {
    let chain = read_certificates(&files.cert)?;
    let key = read_private_key(&files.key)?;
    let builder = ServerConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(format!("protocol versions: {error}")))?;
    let builder = match &files.client_ca {
        Some(client_ca) => {
            let roots = Arc::new(read_roots(client_ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, crate::provider())
                .allow_unauthenticated()
                .build()
                .map_err(|error| TlsError::invalid(client_ca, format!("not a usable client CA: {error}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut grpc = builder.with_single_cert(chain, key).map_err(|error| {
        TlsError::invalid(&files.key, format!("does not fit the certificate {}: {error}", files.cert.display()))
    })?;
    let mut http = grpc.clone();
    grpc.alpn_protocols = vec![ALPN_H2.to_vec()];
    http.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Configs { grpc: Arc::new(grpc), http: Arc::new(http) })
}
