//! The HTTP side shared by the providers: one pooled client per endpoint with its auth and
//! extra headers, error statuses mapped to [`ModelError`] with the server's `Retry-After`,
//! bodies read under [`MAX_MODEL_RESPONSE_BYTES`], and server-sent events decoded with
//! `eventsource-stream` (the SSE format of the WHATWG HTML standard, which both OpenAI and
//! Anthropic stream in).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde::Serialize;

use super::ModelError;
use agentry_core::limits::MAX_MODEL_RESPONSE_BYTES;

/// Largest HTTP error body kept in [`ModelError::Http`], in bytes (2 KiB).
const MAX_ERROR_BODY_BYTES: usize = 2048;

/// Settings of one model endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// API root, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// API key; `None` sends none (local servers).
    pub api_key: Option<String>,
    /// Extra headers sent with every call.
    pub headers: BTreeMap<String, String>,
    /// Limit of one HTTP attempt, connect to last byte (streamed answers included).
    pub timeout: Duration,
}

impl EndpointConfig {
    /// Returns an endpoint at `base_url` without key or extra headers, 120 s per attempt.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self { base_url: base_url.into(), api_key: None, headers: BTreeMap::new(), timeout: Duration::from_secs(120) }
    }
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key must never reach logs.
        formatter
            .debug_struct("EndpointConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A pooled HTTP client bound to one endpoint.
#[derive(Clone)]
pub(crate) struct HttpEndpoint {
    client: reqwest::Client,
    base_url: String,
}

impl fmt::Debug for HttpEndpoint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("HttpEndpoint").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl HttpEndpoint {
    /// Returns a client for `config` sending `auth` (e.g. `authorization: Bearer KEY`) when a key
    /// is set, and the configured headers.
    ///
    /// Errors with [`ModelError::Config`] when the base URL is not http(s) or a header is invalid.
    pub(crate) fn new(
        config: &EndpointConfig,
        auth: impl Fn(&str) -> (HeaderName, String),
        fixed: &[(&'static str, &'static str)],
    ) -> Result<Self, ModelError> {
        let base_url = config.base_url.trim_end_matches('/');
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ModelError::Config(format!("base url {base_url:?} is not http(s)")));
        }
        let mut headers = HeaderMap::new();
        let invalid = |name: &str| ModelError::Config(format!("header {name:?} is not a valid HTTP header"));
        for (name, value) in fixed {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        if let Some(key) = config.api_key.as_deref().filter(|key| !key.trim().is_empty()) {
            let (name, value) = auth(key);
            let mut value = HeaderValue::from_str(&value).map_err(|_| invalid(name.as_str()))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        for (name, value) in &config.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(name))?;
            headers.insert(header, HeaderValue::from_str(value).map_err(|_| invalid(name))?);
        }
        // reqwest is built without a default crypto provider; a second install is a no-op error.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .default_headers(headers)
            .build()
            .map_err(|error| ModelError::Config(format!("http client: {}", error_chain(&error))))?;
        Ok(Self { client, base_url: base_url.to_owned() })
    }

    /// Returns the URL of `path` (e.g. `/chat/completions`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// POSTs `body` as JSON to `path`; a non-success status is a [`ModelError::Http`] carrying
    /// the (cut) body and `Retry-After`.
    pub(crate) async fn post(&self, path: &str, body: &impl Serialize) -> Result<reqwest::Response, ModelError> {
        let url = self.url(path);
        let response = self.client.post(&url).json(body).send().await.map_err(|error| transport(&url, &error))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|value| parse_retry_after(value.to_str().ok()?));
        let body = read_limited(response, &url, MAX_ERROR_BODY_BYTES * 2).await.unwrap_or_default();
        let body = cut_to_boundary(&String::from_utf8_lossy(&body), MAX_ERROR_BODY_BYTES).to_owned();
        Err(ModelError::Http { status: status.as_u16(), body, retry_after })
    }
}

/// Reads a whole JSON answer as text, refusing more than [`MAX_MODEL_RESPONSE_BYTES`].
pub(crate) async fn read_body(response: reqwest::Response, url: &str) -> Result<String, ModelError> {
    let body = read_limited(response, url, MAX_MODEL_RESPONSE_BYTES).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

async fn read_limited(mut response: reqwest::Response, url: &str, limit: usize) -> Result<Vec<u8>, ModelError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| transport(url, &error))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large() -> ModelError {
    ModelError::Decode(format!("answer is larger than the {MAX_MODEL_RESPONSE_BYTES}-byte limit (2 MiB)"))
}

/// Returns the server-sent events of a streamed answer; the stream fails once the answer grows
/// past [`MAX_MODEL_RESPONSE_BYTES`] or the connection breaks.
pub(crate) fn events(response: reqwest::Response, url: String) -> impl Stream<Item = Result<Event, ModelError>> {
    let mut received = 0usize;
    let bytes = response.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(|error| transport(&url, &error))?;
        received += chunk.len();
        if received > MAX_MODEL_RESPONSE_BYTES { Err(too_large()) } else { Ok(chunk) }
    });
    bytes.eventsource().map(|event| {
        event.map_err(|error| match error {
            eventsource_stream::EventStreamError::Transport(error) => error,
            other => ModelError::Decode(format!("bad event stream: {other}")),
        })
    })
}

/// Parses `Retry-After`: delay seconds, or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

fn transport(url: &str, error: &reqwest::Error) -> ModelError {
    ModelError::Transport { url: url.to_owned(), reason: error_chain(error) }
}

/// Returns `error` with its sources, since reqwest's own text hides the cause.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Returns the longest prefix of `text` of at most `max_bytes` ending on a char boundary.
pub(crate) fn cut_to_boundary(text: &str, max_bytes: usize) -> &str {
    let mut cut = max_bytes.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// Returns a decode error quoting the start of the offending `text`.
pub(crate) fn decode_error(error: impl fmt::Display, text: &str) -> ModelError {
    ModelError::Decode(format!("{error} in body starting {:?}", cut_to_boundary(text, 200)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let parsed = parse_retry_after(&soon).expect("a date");
        assert!(parsed > Duration::from_secs(25) && parsed <= Duration::from_secs(30), "{parsed:?}");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO), "a past date");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn config_hides_the_key() {
        let config = EndpointConfig { api_key: Some("sk-secret".into()), ..EndpointConfig::new("http://x/v1") };
        assert!(!format!("{config:?}").contains("sk-secret"));
    }
}
