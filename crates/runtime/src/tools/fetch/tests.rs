//! `fetch` against a real HTTP server on 127.0.0.1.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use futures::StreamExt;

use super::*;

/// Starts the test server and returns its address; it stops with the test's runtime.
async fn serve() -> SocketAddr {
    let router = Router::new()
        .route("/text", get(|| async { "hello" }))
        .route("/echo", post(echo))
        .route("/status", get(|| async { (StatusCode::NOT_FOUND, "missing") }))
        .route("/redirect", get(redirect))
        .route("/loop", get(|| async { (StatusCode::FOUND, [(LOCATION, "/loop")]) }))
        .route("/big", get(|| async { "a".repeat(100_000) }))
        .route("/huge", get(|| async { "b".repeat(MAX_FETCH_BODY_BYTES + 10) }))
        .route(
            "/binary",
            get(|| async { ([("content-type", "image/png")], vec![0x89, b'P', b'N', b'G', 0, 0, 0, 13]) }),
        )
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route("/hang", get(std::future::pending::<&'static str>))
        .route("/slow-body", get(slow_body));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind test server");
    let address = listener.local_addr().expect("test server address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

async fn echo(headers: HeaderMap, body: String) -> String {
    let test_header = headers.get("x-test").map(|value| value.to_str().unwrap_or_default().to_owned());
    format!("x-test={} body={body}", test_header.unwrap_or_default())
}

/// Redirects to the URL in the query string: `/redirect?http://host/path`.
async fn redirect(uri: Uri) -> impl IntoResponse {
    (StatusCode::FOUND, [(LOCATION, uri.query().unwrap_or("/").to_owned())])
}

/// Sends the headers and a first chunk, then never finishes the body.
async fn slow_body() -> Body {
    let first = futures::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"start")) });
    Body::from_stream(first.chain(futures::stream::pending()))
}

fn context(network: NetworkAccess) -> ToolContext {
    let manifest = ToolManifest { network, ..Fetch.manifest() };
    ToolContext::unconfined(std::env::temp_dir(), manifest, Duration::from_secs(5))
}

fn loopback_listed() -> NetworkAccess {
    NetworkAccess::Hosts(vec!["127.0.0.1".to_owned()])
}

async fn fetch(context: &ToolContext, arguments: Value) -> Result<String, ToolError> {
    Fetch.call(context, arguments).await
}

fn failed_with(result: Result<String, ToolError>, needle: &str) {
    match result {
        Err(ToolError::Failed(text)) => assert!(text.contains(needle), "{text:?} lacks {needle:?}"),
        other => panic!("expected a failure containing {needle:?}, got {other:?}"),
    }
}

fn invalid_with(result: Result<String, ToolError>, needle: &str) {
    match result {
        Err(ToolError::InvalidArguments(text)) => assert!(text.contains(needle), "{text:?} lacks {needle:?}"),
        other => panic!("expected invalid arguments containing {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn get_returns_status_headers_and_body() {
    let address = serve().await;
    let context = context(loopback_listed());
    let output = fetch(&context, json!({"url": format!("http://{address}/text")})).await;
    assert_eq!(
        output.as_deref(),
        Ok("HTTP/1.1 200 OK\ncontent-type: text/plain; charset=utf-8\ncontent-length: 5\n\nhello")
    );
    let output = fetch(&context, json!({"url": format!("http://{address}/status")})).await.expect("404 is output");
    assert!(output.starts_with("HTTP/1.1 404 Not Found\n") && output.ends_with("\n\nmissing"), "{output}");
    let output = fetch(&context, json!({"url": format!("http://{address}/empty")})).await.expect("204 is output");
    assert!(output.starts_with("HTTP/1.1 204 No Content") && output.ends_with("[empty body]"), "{output}");
}

#[tokio::test]
async fn post_sends_body_and_headers() {
    let address = serve().await;
    let arguments = json!({
        "url": format!("http://{address}/echo"),
        "method": "POST",
        "headers": {"X-Test": "yes"},
        "body": "ping",
    });
    let output = fetch(&context(loopback_listed()), arguments).await.expect("post succeeds");
    assert!(output.starts_with("HTTP/1.1 200 OK\n"), "{output}");
    assert!(output.ends_with("\n\nx-test=yes body=ping"), "{output}");
}

#[tokio::test]
async fn loopback_is_refused_unless_listed() {
    let address = serve().await;
    let any = context(NetworkAccess::Any);
    failed_with(fetch(&any, json!({"url": format!("http://{address}/text")})).await, "127.0.0.1 is a loopback address");
    let by_name = format!("http://localhost:{}/text", address.port());
    failed_with(fetch(&any, json!({"url": by_name})).await, "localhost (");
    failed_with(fetch(&any, json!({"url": "http://169.254.169.254/latest/meta-data/"})).await, "link-local");

    let listed = context(NetworkAccess::Hosts(vec!["localhost".to_owned()]));
    let output = fetch(&listed, json!({"url": by_name})).await.expect("a listed name may be loopback");
    assert!(output.ends_with("\n\nhello"), "{output}");
}

#[tokio::test]
async fn hosts_outside_the_allowlist_are_refused() {
    let address = serve().await;
    let context = context(NetworkAccess::Hosts(vec!["example.com".to_owned(), "*.example.org".to_owned()]));
    let refused = fetch(&context, json!({"url": format!("http://{address}/text")})).await;
    failed_with(refused, "host 127.0.0.1 is not in the tool's network allowlist");
    let refused = fetch(&context, json!({"url": format!("http://localhost:{}/text", address.port())})).await;
    failed_with(refused, "host localhost is not in the tool's network allowlist");
}

#[tokio::test]
async fn no_network_refuses_every_request() {
    let address = serve().await;
    let context = context(NetworkAccess::None);
    for url in [format!("http://{address}/text"), "https://example.com/".to_owned()] {
        failed_with(fetch(&context, json!({"url": url})).await, "allows no network access");
    }
}

#[tokio::test]
async fn redirects_are_checked_hop_by_hop() {
    let address = serve().await;
    let context = context(loopback_listed());
    let allowed = format!("http://{address}/redirect?http://{address}/text");
    let output = fetch(&context, json!({"url": allowed})).await.expect("redirect to a listed host");
    assert!(output.ends_with("\n\nhello"), "{output}");

    let metadata = format!("http://{address}/redirect?http://169.254.169.254/latest/meta-data/");
    failed_with(
        fetch(&context, json!({"url": metadata})).await,
        "redirect to http://169.254.169.254/latest/meta-data/",
    );
    let unlisted = format!("http://{address}/redirect?http://localhost:{}/text", address.port());
    failed_with(
        fetch(&context, json!({"url": unlisted})).await,
        "host localhost is not in the tool's network allowlist",
    );
    let other_scheme = format!("http://{address}/redirect?file:///etc/passwd");
    let output = fetch(&context, json!({"url": other_scheme})).await.expect("the redirect is output");
    assert!(
        output.starts_with("HTTP/1.1 302 Found\n") && output.contains("\nlocation: file:///etc/passwd\n"),
        "{output}"
    );
    let endless = format!("http://{address}/loop");
    failed_with(fetch(&context, json!({"url": endless})).await, "more than 5 redirects");
}

#[tokio::test]
async fn output_is_truncated_at_max_output_bytes() {
    let address = serve().await;
    let mut context = context(loopback_listed());
    context.manifest.max_output_bytes = 1000;
    let output = fetch(&context, json!({"url": format!("http://{address}/big")})).await.expect("fetch succeeds");
    let (kept, marker) = output.split_once("\n[truncated: ").expect("truncation marker");
    assert_eq!(kept.len(), 1000);
    assert!(
        kept.starts_with("HTTP/1.1 200 OK\ncontent-type: text/plain; charset=utf-8\ncontent-length: 100000\n\naaa")
    );
    assert!(marker.ends_with(" more bytes]"), "{marker}");
}

#[tokio::test]
async fn body_reading_stops_at_the_hard_cap() {
    let address = serve().await;
    let mut context = context(loopback_listed());
    context.manifest.max_output_bytes = 2 * MAX_FETCH_BODY_BYTES;
    let output = fetch(&context, json!({"url": format!("http://{address}/huge")})).await.expect("fetch succeeds");
    let note = format!("\n[body cut at {MAX_FETCH_BODY_BYTES} bytes: the rest was not read]");
    let text = output.strip_suffix(&note).expect("cut note");
    let (_, body) = text.split_once("\n\n").expect("headers and body");
    assert_eq!(body.len(), MAX_FETCH_BODY_BYTES);
}

#[tokio::test]
async fn binary_bodies_are_summarized() {
    let address = serve().await;
    let output = fetch(&context(loopback_listed()), json!({"url": format!("http://{address}/binary")})).await;
    assert_eq!(
        output.as_deref(),
        Ok("HTTP/1.1 200 OK\ncontent-type: image/png\ncontent-length: 8\n\n[binary body: 8 bytes, not shown]")
    );
    assert!(!is_binary(Some("application/json; charset=utf-8"), b"{\"a\": 0}"));
    assert!(!is_binary(None, "héllo".as_bytes()));
    assert!(is_binary(Some("application/octet-stream"), &[0xff, 0xfe, b'a']));
}

#[tokio::test]
async fn slow_servers_time_out() {
    let address = serve().await;
    let context = context(loopback_listed());
    for path in ["hang", "slow-body"] {
        let result = fetch(&context, json!({"url": format!("http://{address}/{path}"), "timeout_secs": 1})).await;
        assert_eq!(result, Err(ToolError::Timeout(Duration::from_secs(1))), "{path}");
    }
}

#[tokio::test]
async fn connection_and_dns_failures_are_tool_errors() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    failed_with(
        fetch(&context(loopback_listed()), json!({"url": format!("http://{closed}/")})).await,
        "fetch failed: ",
    );
    let unresolvable = fetch(&context(NetworkAccess::Any), json!({"url": "http://agentry-test.invalid/"})).await;
    failed_with(unresolvable, "could not resolve agentry-test.invalid");
}

#[tokio::test]
async fn bad_urls_and_schemes_are_invalid_arguments() {
    let context = context(NetworkAccess::Any);
    invalid_with(fetch(&context, json!({"url": "not a url"})).await, "url \"not a url\"");
    invalid_with(fetch(&context, json!({"url": "http://"})).await, "url \"http://\"");
    for url in ["ftp://example.com/file", "file:///etc/passwd"] {
        invalid_with(fetch(&context, json!({"url": url})).await, "is not http or https");
    }
}

#[tokio::test]
async fn arguments_must_match_the_schema() {
    let context = context(NetworkAccess::Any);
    let url = "https://example.com/";
    invalid_with(fetch(&context, json!({})).await, "missing field `url`");
    invalid_with(fetch(&context, json!({"url": url, "method": "PUT"})).await, "unknown variant `PUT`");
    invalid_with(fetch(&context, json!({"url": url, "timeout_secs": 0})).await, "timeout_secs must be at least 1");
    invalid_with(fetch(&context, json!({"url": url, "body": "x"})).await, "only sent with method POST");
    invalid_with(fetch(&context, json!({"url": url, "header": {}})).await, "unknown field `header`");
    invalid_with(fetch(&context, json!({"url": url, "headers": {"bad name": "x"}})).await, "invalid header name");
    invalid_with(fetch(&context, json!({"url": url, "headers": {"Host": "internal"}})).await, "set by the tool");
    invalid_with(fetch(&context, json!({"url": url, "headers": {"x": "a\nb"}})).await, "invalid value");
}

#[test]
fn spec_and_manifest() {
    let spec = Fetch.spec();
    assert_eq!(spec.name, "fetch");
    assert_eq!(spec.parameters["required"], json!(["url"]));
    assert_eq!(spec.parameters["properties"]["method"]["enum"], json!(["GET", "POST"]));
    let manifest = Fetch.manifest();
    assert!(!manifest.idempotent);
    assert_eq!(manifest.network, NetworkAccess::Any);
    assert_eq!(manifest.filesystem, FsScope::None);
    assert_eq!(manifest.wall_time, Duration::from_secs(30));
    assert_eq!(manifest.on_interrupt, InterruptPolicy::Ask);
}
