//! The web console: a single-page app of plain HTML, CSS and ES modules in `web/`, compiled
//! into the binary with rust-embed, so the hub serves it without files on disk and without
//! Node.js. There is no build step: the files in the repository are exactly what is served.
//!
//! [`router`] answers `GET /` with `web/index.html` and `GET /assets/{path}` with
//! `web/{path}`. The console's data comes from the hub's gateway (the `AgentHub` methods as
//! JSON, the trace as server-sent events), merged into the same router by the hub.

#![warn(missing_docs)]

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;

/// The files of `web/`.
#[derive(Embed)]
#[folder = "web/"]
struct Assets;

/// `Cache-Control` of the page: always revalidated, so a new hub's console is picked up.
const NO_CACHE: &str = "no-cache";

/// Returns the router of the console: `GET /` (the page) and `GET /assets/{*path}` (its
/// scripts and styles, with their MIME type and a strong `ETag`). Unknown assets are 404.
pub fn router() -> Router {
    Router::new().route("/", get(index)).route("/assets/{*path}", get(asset))
}

/// Returns the names of the embedded files (paths relative to `web/`), e.g. for a check that
/// every asset the page references exists.
pub fn asset_names() -> impl Iterator<Item = String> {
    Assets::iter().map(|name| name.into_owned())
}

async fn index() -> Response {
    serve("index.html", None)
}

async fn asset(Path(path): Path<String>, headers: axum::http::HeaderMap) -> Response {
    serve(&path, headers.get(header::IF_NONE_MATCH))
}

/// Answers with the embedded file `path`, or 304 when `if_none_match` names its hash.
fn serve(path: &str, if_none_match: Option<&HeaderValue>) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, format!("no console asset {path:?}")).into_response();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()));
    if if_none_match.is_some_and(|value| value.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mime = file.metadata.mimetype().to_owned();
    (
        [(header::CONTENT_TYPE, mime), (header::ETAG, etag), (header::CACHE_CONTROL, NO_CACHE.to_owned())],
        file.data.into_owned(),
    )
        .into_response()
}

/// Returns `bytes` as lowercase hex digits.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str, etag: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        router().oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
    }

    #[tokio::test]
    async fn the_page_is_served_at_the_root_as_html() {
        let response = get("/", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html");
    }

    #[tokio::test]
    async fn assets_have_their_mime_type_and_an_etag_that_revalidates() {
        let name = asset_names().find(|name| name.ends_with(".js")).expect("the console has scripts");
        let response = get(&format!("/assets/{name}"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/javascript");
        let etag = response.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(get(&format!("/assets/{name}"), Some(&etag)).await.status(), StatusCode::NOT_MODIFIED);
    }

    #[tokio::test]
    async fn an_unknown_asset_is_not_found() {
        assert_eq!(get("/assets/nope.js", None).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get("/assets/../Cargo.toml", None).await.status(), StatusCode::NOT_FOUND);
    }
}
