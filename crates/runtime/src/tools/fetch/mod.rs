//! The `fetch` tool: one HTTP GET or POST under the tool's network policy (see [`policy`]).

mod policy;
#[cfg(test)]
mod tests;

use crate::model::error_chain;
use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{FsScope, InterruptPolicy, Tool, ToolContext, ToolError, ToolManifest, parse_arguments};
use crate::model::ToolSpec;
use agentry_core::limits::truncate_with_marker;
use agentry_sandbox::NetworkAccess;
use policy::{NetworkPolicy, Refused};

/// Most bytes of a response body read (1 MiB); the rest is not read, so a huge response cannot
/// exhaust the node's memory.
pub const MAX_FETCH_BODY_BYTES: usize = 1024 * 1024;

/// Bytes of the body inspected to tell text from binary when the content type does not say.
const SNIFF_BYTES: usize = 8192;

/// Headers the tool sets itself; the model may not.
const RESERVED_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

/// `fetch {url, method?, headers?, body?, timeout_secs?}`: sends one HTTP request and returns
/// the status line, the response's `content-type` and `content-length` (and `location` of a
/// redirect not followed), and the body as text.
///
/// - `url`: an `http` or `https` URL; `method`: `"GET"` (default) or `"POST"`; `headers`: extra
///   request headers, `{name: value}` (not `host`, `content-length`, `transfer-encoding`,
///   `connection`); `body`: the POST body (refused with GET); `timeout_secs`: at least 1.
/// - Limits: the time limit is the smallest of `timeout_secs`, the manifest's wall time (30 s)
///   and the run's tool timeout, for the whole exchange. At most [`MAX_FETCH_BODY_BYTES`] of
///   the body are read; the output is cut at the manifest's `max_output_bytes` with a marker.
///   Bodies that are not text (by content type, else NUL bytes or invalid UTF-8) are summarized.
/// - Network policy (the manifest's `network`, for the URL and each of at most 5 redirects):
///   `None` refuses every request, `Hosts` only allows listed hosts (exact names or addresses,
///   or `*.suffix`), `Any` (the default) allows every host. Loopback, private, link-local
///   (cloud metadata), unique-local, carrier-grade NAT, unspecified and non-unicast addresses
///   are refused unless the host is listed in `Hosts`; names are resolved by the tool and the
///   connection only goes to the checked addresses. No proxy is used.
///
/// Errors with [`ToolError::InvalidArguments`] for arguments not matching the schema, a bad
/// URL, scheme or header; [`ToolError::Timeout`] past the time limit; [`ToolError::Failed`] for
/// a refused host or address, DNS failure and connection errors. An HTTP error status is
/// output, not an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fetch;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchArguments {
    url: String,
    #[serde(default)]
    method: Method,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum Method {
    #[default]
    Get,
    Post,
}

#[async_trait]
impl Tool for Fetch {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "fetch".to_owned(),
            description: "Sends an HTTP GET or POST request and returns the status, content type, content \
                          length and body as text (binary bodies are summarized; output is truncated). \
                          Hosts may be restricted; private and local addresses are refused."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "url": {"type": "string", "description": "http or https URL."},
                    "method": {"type": "string", "enum": ["GET", "POST"], "description": "Default GET."},
                    "headers": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "Extra request headers, name to value.",
                    },
                    "body": {"type": "string", "description": "Request body (POST only)."},
                    "timeout_secs": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Time limit in seconds (capped by the tool's limit).",
                    },
                },
                "required": ["url"],
                "additionalProperties": false,
            }),
        }
    }

    /// A POST may have taken effect before an interruption, so an interrupted call is not
    /// re-run: the model is told and checks first.
    fn manifest(&self) -> ToolManifest {
        ToolManifest {
            idempotent: false,
            network: NetworkAccess::Any,
            filesystem: FsScope::None,
            wall_time: Duration::from_secs(30),
            on_interrupt: InterruptPolicy::Ask,
            ..ToolManifest::default()
        }
    }

    async fn call(&self, context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
        let arguments: FetchArguments = parse_arguments("fetch", arguments)?;
        let invalid = |reason: String| ToolError::InvalidArguments(format!("fetch: {reason}"));
        let limit = match arguments.timeout_secs {
            Some(0) => return Err(invalid("timeout_secs must be at least 1".to_owned())),
            Some(seconds) => Duration::from_secs(seconds).min(context.timeout),
            None => context.timeout,
        }
        .min(context.manifest.wall_time);
        let url = Url::parse(&arguments.url).map_err(|error| invalid(format!("url {:?}: {error}", arguments.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!("url {:?}: scheme {:?} is not http or https", arguments.url, url.scheme())));
        }
        let headers = header_map(&arguments.headers).map_err(invalid)?;
        if arguments.method == Method::Get && arguments.body.is_some() {
            return Err(invalid("a body is only sent with method POST".to_owned()));
        }

        let policy = NetworkPolicy::new(context.manifest.network.clone());
        policy.check_url(&url).map_err(|refused| ToolError::Failed(format!("fetch refused: {refused}")))?;
        let client = client(&policy)?;
        let request = match arguments.method {
            Method::Get => client.get(url),
            Method::Post => client.post(url).body(arguments.body.unwrap_or_default()),
        }
        .headers(headers);
        let exchange = async {
            let response = request.send().await.map_err(|error| request_failed(&error))?;
            read_response(response).await
        };
        let fetched = tokio::time::timeout(limit, exchange).await.map_err(|_| ToolError::Timeout(limit))??;
        Ok(fetched.render(context.manifest.max_output_bytes))
    }
}

/// Returns the model's headers as a header map.
///
/// Errors with the reason when a name or value is invalid or a header is reserved.
fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
        if RESERVED_HEADERS.contains(&header.as_str()) {
            return Err(format!("header {name:?} is set by the tool"));
        }
        let value = HeaderValue::from_str(value).map_err(|_| format!("invalid value of header {name:?}"))?;
        map.append(header, value);
    }
    Ok(map)
}

/// Returns a client for one call: resolution and redirects go through `policy`, no proxy (a
/// proxy would resolve and connect on the tool's behalf, past the policy), no `Referer`.
fn client(policy: &NetworkPolicy) -> Result<reqwest::Client, ToolError> {
    // reqwest is built without a default crypto provider; a second install is a no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(policy.clone())
        .redirect(policy.redirect_policy())
        .referer(false)
        .user_agent(concat!("agentry-fetch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| ToolError::Failed(format!("fetch: http client: {}", error_chain(&error))))
}

/// Returns the tool error of a failed exchange: the policy's reason when it refused a host,
/// address or redirect, else the error with its causes.
fn request_failed(error: &reqwest::Error) -> ToolError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return ToolError::Failed(format!("fetch refused: {refused}"));
        }
        source = cause.source();
    }
    ToolError::Failed(format!("fetch failed: {}", error_chain(error)))
}

/// A response, its body read up to [`MAX_FETCH_BODY_BYTES`].
struct Fetched {
    status_line: String,
    content_type: Option<String>,
    content_length: Option<String>,
    /// Only kept for a redirect that was not followed (e.g. to another scheme).
    location: Option<String>,
    body: Vec<u8>,
    /// Whether the body was read to its end.
    complete: bool,
}

async fn read_response(mut response: reqwest::Response) -> Result<Fetched, ToolError> {
    let header = |name: HeaderName| {
        let value = response.headers().get(name)?;
        Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let content_type = header(CONTENT_TYPE);
    let content_length = header(CONTENT_LENGTH);
    let location = if response.status().is_redirection() { header(LOCATION) } else { None };
    let status_line = format!("{:?} {}", response.version(), response.status());
    let mut body = Vec::new();
    let mut complete = true;
    while let Some(chunk) = response.chunk().await.map_err(|error| request_failed(&error))? {
        let room = MAX_FETCH_BODY_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            complete = false;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { status_line, content_type, content_length, location, body, complete })
}

impl Fetched {
    /// Returns the text given to the model, cut at `max_output_bytes`.
    fn render(&self, max_output_bytes: usize) -> String {
        let mut output = self.status_line.clone();
        let headers = [
            ("content-type", &self.content_type),
            ("content-length", &self.content_length),
            ("location", &self.location),
        ];
        for (name, value) in headers {
            if let Some(value) = value {
                output.push_str(&format!("\n{name}: {value}"));
            }
        }
        output.push_str("\n\n");
        let binary = !self.body.is_empty() && is_binary(self.content_type.as_deref(), &self.body);
        if self.body.is_empty() {
            output.push_str("[empty body]");
        } else if binary && self.complete {
            output.push_str(&format!("[binary body: {} bytes, not shown]", self.body.len()));
        } else if binary {
            output.push_str(&format!("[binary body: more than {MAX_FETCH_BODY_BYTES} bytes, not shown]"));
        } else {
            output.push_str(&String::from_utf8_lossy(&self.body));
        }
        let mut rendered = truncate_with_marker(&output, max_output_bytes);
        if !self.complete && !binary {
            rendered.push_str(&format!("\n[body cut at {MAX_FETCH_BODY_BYTES} bytes: the rest was not read]"));
        }
        rendered
    }
}

/// Returns whether a body is binary: its content type is not textual and its first
/// [`SNIFF_BYTES`] hold a NUL byte or invalid UTF-8.
fn is_binary(content_type: Option<&str>, body: &[u8]) -> bool {
    if let Some(content_type) = content_type {
        let mime = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let textual = mime.starts_with("text/")
            || mime.ends_with("+json")
            || mime.ends_with("+xml")
            || ["json", "xml", "javascript", "ecmascript", "yaml", "toml", "x-www-form-urlencoded", "csv"]
                .iter()
                .any(|kind| mime.strip_prefix("application/").is_some_and(|subtype| subtype.ends_with(kind)));
        if textual {
            return false;
        }
    }
    let sample = &body[..body.len().min(SNIFF_BYTES)];
    // An error without `error_len` is a character cut by the sample's end, not invalid UTF-8.
    sample.contains(&0) || std::str::from_utf8(sample).is_err_and(|error| error.error_len().is_some())
}
