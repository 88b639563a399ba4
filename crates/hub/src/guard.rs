//! [`Guard`]: what guards the hub's listeners, opened before anything else starts — the
//! refusal to serve plaintext where other hosts can reach it, TLS (with mutual TLS for nodes,
//! `tls-client-ca`) and authentication (auth file, JWT issuer).

use tokio::net::TcpListener;

use crate::auth::Authenticator;
use crate::config::HubConfig;
use crate::server::ServeError;

/// The TLS settings and the authenticator of a serving hub.
pub(crate) struct Guard {
    /// The listeners' TLS; `None`: plaintext.
    pub(crate) tls: Option<agentry_tls::ServerTls>,
    /// Who callers are (disabled without an auth file or JWT issuer).
    pub(crate) auth: Authenticator,
}

impl Guard {
    /// Checks the listeners' exposure, loads the TLS files and the authenticator, and warns
    /// about what stays open.
    ///
    /// Errors: plaintext on a non-loopback listener without `insecure` (naming `listen` or
    /// `metrics-listen`), an unreadable or invalid TLS file, auth file or JWKS (naming it).
    pub(crate) async fn open(
        config: &HubConfig,
        grpc: &TcpListener,
        http: Option<&TcpListener>,
    ) -> Result<Self, ServeError> {
        if let Ok(address) = grpc.local_addr() {
            config.check_exposure("listen", address)?;
        }
        if let Some(address) = http.and_then(|listener| listener.local_addr().ok()) {
            config.check_exposure("metrics-listen", address)?;
        }
        agentry_tls::install_default_provider();
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(agentry_tls::ServerTls::load(agentry_tls::ServerTlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: config.tls_client_ca.clone(),
            })?),
            _ => None,
        };
        let auth = Authenticator::from_config(config).await?;
        if auth.enabled() && tls.is_none() {
            tracing::warn!("authentication is on without TLS: bearer tokens cross the network in clear text");
        }
        if tls.is_some() && config.tls_client_ca.is_none() {
            tracing::warn!("TLS without tls-client-ca: any client may call NodeService as a node");
        }
        Ok(Self { tls, auth })
    }
}
