//! [`http_get`]: a plain HTTP/1.1 GET for the tests of `/metrics`, `/healthz` and `/readyz`
//! (the harness links no HTTP client; those endpoints answer small bodies, then close).

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `GET url` (`http://host:port/path`) with `Connection: close`; returns the status
/// code and the body.
///
/// Errors when the URL is not `http://`, the connection fails, or the answer is not HTTP/1.x.
/// Chunked bodies are not decoded (axum sends these endpoints' bodies with a length).
pub async fn http_get(url: &str) -> anyhow::Result<(u16, String)> {
    let Some(rest) = url.strip_prefix("http://") else { bail!("{url} is not an http:// URL") };
    let (authority, path) =
        rest.split_once('/').map_or((rest, "/".to_owned()), |(host, path)| (host, format!("/{path}")));
    let mut stream = TcpStream::connect(authority).await.with_context(|| format!("connecting to {authority}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.context("sending the request")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.context("reading the answer")?;
    let answer = String::from_utf8(answer).context("the answer is not UTF-8")?;
    let (head, body) = answer.split_once("\r\n\r\n").with_context(|| format!("no header end in {answer:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_owned()))
}
