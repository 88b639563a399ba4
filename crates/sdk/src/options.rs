//! [`ClientOptions`] and [`ClientBuilder`]: the credentials and TLS settings of a [`Client`], and
//! the interceptor that puts the bearer token on every call.

use std::fmt;

use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};

use agentry_tls::ClientTls;

use crate::client::{CONNECT_TIMEOUT, Client};
use crate::error::{ClientError, connection_failure_reason};

/// How a [`Client`] authenticates and secures its connection. The default is what
/// [`Client::connect`] uses: no token, and for an `https://` hub the system's trusted roots.
///
/// ```no_run
/// use agentry_sdk::{Client, ClientOptions};
/// use agentry_sdk::tls::{ClientTls, ClientTlsFiles};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = ClientTls::load(ClientTlsFiles { ca: Some("certs/ca.pem".into()), cert: None, key: None })?;
/// let options = ClientOptions { token: Some("s3cr3t".to_owned()), tls: Some(tls) };
/// let client = Client::connect_with("https://hub.example:7700", options).await?;
/// println!("{:?}", client.who_am_i().await?);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Bearer token sent as `authorization: Bearer <token>` with every call (a token of the
    /// hub's auth file, or an OIDC/JWT access token); `None`: no `authorization` header. Must
    /// be visible ASCII without spaces (RFC 6750 `b64token`).
    pub token: Option<String>,
    /// TLS settings for an `https://` hub: the CA certificates to trust (else the system's
    /// roots) and a client certificate for mutual TLS. Ignored for an `http://` hub.
    pub tls: Option<ClientTls>,
}

impl fmt::Debug for ClientOptions {
    /// Shows whether a token is set, never the token.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ClientOptions")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("tls", &self.tls.as_ref().map(|_| "ClientTls"))
            .finish()
    }
}

/// Builds a [`Client`] step by step: `Client::builder(url).token(..).tls(..).connect()`.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    options: ClientOptions,
}

impl ClientBuilder {
    /// Returns a builder for the hub at `url` with the default [`ClientOptions`].
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), options: ClientOptions::default() }
    }

    /// Sends `token` as `authorization: Bearer <token>` with every call.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.options.token = Some(token.into());
        self
    }

    /// Uses `tls` (trusted CAs, client certificate) for an `https://` hub.
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.options.tls = Some(tls);
        self
    }

    /// Connects as [`Client::connect_with`] does.
    pub async fn connect(self) -> Result<Client, ClientError> {
        Client::connect_with(self.url, self.options).await
    }
}

/// Puts `authorization: Bearer <token>` on every request of a client; clones share the value.
#[derive(Clone, Default)]
pub(crate) struct Credentials {
    authorization: Option<AsciiMetadataValue>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.authorization.as_ref().map(|_| "Bearer ***");
        formatter.debug_struct("Credentials").field("authorization", &token).finish()
    }
}

impl Credentials {
    /// Returns the credentials of `token` (`None`: none).
    ///
    /// Errors: [`ClientError::InvalidToken`] for an empty token or one with spaces, control
    /// or non-ASCII characters, which cannot travel in a header (the message never shows it).
    pub(crate) fn new(token: Option<&str>) -> Result<Self, ClientError> {
        let Some(token) = token else { return Ok(Self::default()) };
        if token.is_empty() {
            return Err(ClientError::InvalidToken { reason: "the token is empty".to_owned() });
        }
        if let Some(position) = token.chars().position(|character| !character.is_ascii_graphic()) {
            let reason = format!(
                "character {} of the token is not visible ASCII (spaces, control and non-ASCII characters cannot be \
                 sent in the authorization header)",
                position + 1
            );
            return Err(ClientError::InvalidToken { reason });
        }
        let mut value: AsciiMetadataValue = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| ClientError::InvalidToken { reason: "not a valid header value".to_owned() })?;
        // Sensitive values are never put in HTTP/2's header compression table.
        value.set_sensitive(true);
        Ok(Self { authorization: Some(value) })
    }
}

impl Interceptor for Credentials {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(authorization) = &self.authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        Ok(request)
    }
}

/// Opens the connection to the hub at `url` as `tls` says, within [`CONNECT_TIMEOUT`]:
/// plaintext for `http://`, TLS (with `agentry-tls`) for `https://`.
pub(crate) async fn open_channel(url: &str, tls: Option<&ClientTls>) -> Result<Channel, ClientError> {
    let endpoint = endpoint(url)?;
    let secure = endpoint.uri().scheme_str() == Some("https");
    let connecting =
        async { if secure { agentry_tls::connect(endpoint, tls).await } else { endpoint.connect().await } };
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(error)) => Err(ClientError::from_connect_error(url, &error)),
        Err(_) => {
            let reason = if secure { "connection or TLS handshake timed out" } else { "connection timed out" };
            Err(ClientError::Unreachable { url: url.to_owned(), reason: reason.to_owned() })
        }
    }
}

/// Returns the endpoint for `url` (`http://` or `https://`), defaulting the scheme to
/// `http://`.
pub(crate) fn endpoint(url: &str) -> Result<Endpoint, ClientError> {
    let invalid = |reason: String| ClientError::InvalidUrl { url: url.to_owned(), reason };
    let full_url = if url.contains("://") { url.to_owned() } else { format!("http://{url}") };
    match full_url.split_once("://").map(|(scheme, _)| scheme) {
        Some("http" | "https") => {}
        Some(other) => return Err(invalid(format!("unsupported scheme {other:?}; use http:// or https://"))),
        None => unreachable!("the URL has a scheme"),
    }
    let endpoint = Endpoint::from_shared(full_url).map_err(|error| invalid(connection_failure_reason(&error)))?;
    if endpoint.uri().host().is_none_or(str::is_empty) {
        return Err(invalid("no host".to_owned()));
    }
    Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).tcp_nodelay(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_host_port_means_http() {
        let plaintext = endpoint("127.0.0.1:7700").expect("valid");
        assert_eq!(plaintext.uri().to_string(), "http://127.0.0.1:7700/");
        let secure = endpoint("https://hub.example:7700").expect("https is supported");
        assert_eq!(secure.uri().scheme_str(), Some("https"));
    }

    #[test]
    fn unsupported_urls_are_invalid() {
        for url in ["ftp://hub", "http://", "https://", "http://exa mple"] {
            let error = endpoint(url).expect_err(url);
            assert!(matches!(error, ClientError::InvalidUrl { .. }), "{url}: {error}");
        }
    }

    #[test]
    fn the_token_travels_as_a_sensitive_bearer_header() {
        let mut credentials = Credentials::new(Some("abc.DEF-123_~+/=")).expect("a b64token");
        let request = credentials.call(tonic::Request::new(())).expect("never refuses");
        let value = request.metadata().get("authorization").expect("the header");
        assert_eq!(value.to_str().ok(), Some("Bearer abc.DEF-123_~+/="));
        assert!(value.is_sensitive());
        let mut none = Credentials::new(None).expect("no token");
        assert!(none.call(tonic::Request::new(())).expect("passes").metadata().get("authorization").is_none());
    }

    #[test]
    fn tokens_that_cannot_be_a_header_are_refused_without_showing_them() {
        for token in ["", "with space", "new\nline", "caf\u{e9}"] {
            let error = Credentials::new(Some(token)).expect_err(token);
            assert!(matches!(error, ClientError::InvalidToken { .. }), "{token:?}: {error}");
            if !token.is_empty() {
                assert!(!error.to_string().contains(token), "{error}");
            }
        }
    }

    #[test]
    fn debug_output_hides_the_token() {
        let options = ClientOptions { token: Some("s3cr3t".to_owned()), tls: None };
        assert!(!format!("{options:?}").contains("s3cr3t"));
        let credentials = Credentials::new(Some("s3cr3t")).expect("valid");
        assert!(!format!("{credentials:?}").contains("s3cr3t"));
    }
}
