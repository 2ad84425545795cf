//! The operator's map: the web UI built from `web/` (vite, see
//! `web/README.md`), embedded in the binary so that running the service
//! needs no Node.js. `web/dist` is committed; rebuilding it is only needed
//! when `web/src` changes.
//!
//! `index.html` is served at `/` with `Cache-Control: no-cache` and an ETag
//! (it names the current assets); the files under `/assets/` carry a hash of
//! their content in their names, so they are cached for good.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir};
use std::sync::OnceLock;

static DIST: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../web/dist");

/// What the page may load: its own assets and API, and map tiles from a
/// tile server the user configures (any origin, images only).
const CSP: &str = "default-src 'self'; img-src 'self' data: blob: https: http:; \
                   style-src 'self' 'unsafe-inline'; connect-src 'self'; worker-src 'self' blob:; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/{*path}", get(asset))
}

fn index_html() -> &'static [u8] {
    DIST.get_file("index.html")
        .map(|f| f.contents())
        .unwrap_or(b"<!doctype html><title>deconflict</title><p>The web UI was not built (web/dist is empty): run <code>npm ci &amp;&amp; npm run build</code> in web/.")
}

/// A strong ETag of index.html: FNV-1a of its bytes, computed once.
fn index_etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in index_html() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("\"{h:016x}\"")
    })
}

async fn index(headers: HeaderMap) -> Response {
    let etag = index_etag();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, HeaderValue::from_static(etag)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        index_html(),
    )
        .into_response()
}

async fn asset(Path(path): Path<String>) -> Response {
    // include_dir paths are relative and never contain "..": a request with
    // one simply finds nothing.
    match DIST.get_file(format!("assets/{path}")) {
        Some(f) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(&path)),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            f.contents(),
        )
            .into_response(),
        None => ApiError::not_found(format!("no such asset: /assets/{path}")).into_response(),
    }
}

/// The content type of a built file, by its extension.
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_only_embedded_assets() {
        let html = std::str::from_utf8(index_html()).unwrap();
        let mut named = 0;
        for part in html.split("/assets/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | ' ' | '>'))
                .collect();
            assert!(
                DIST.get_file(format!("assets/{name}")).is_some(),
                "index.html names /assets/{name}, which is not embedded"
            );
            named += 1;
        }
        assert!(
            named >= 2,
            "index.html should load a script and a stylesheet"
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type("index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index-abc.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("countries-50m-x.json"), "application/json");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn etag_is_quoted_and_stable() {
        assert!(index_etag().starts_with('"') && index_etag().ends_with('"'));
        assert_eq!(index_etag(), index_etag());
    }
}
