//! Static assets compiled into the binary (`include_bytes!`), served at
//! `/static/<hash>/<name>` where the hash is of the content: a new build with a
//! changed file gets a new URL, so the files are cached for a year (`immutable`), and
//! an old URL answers 404 rather than stale content. No CDN, no build step: htmx is
//! vendored in `static/vendor/` with its licence.

use crate::error::AppError;
use crate::http::AppState;
use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::LazyLock;

pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// First 12 hex digits of the SHA-256 of `bytes`.
    pub hash: String,
}

const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/app.js"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/vendor/htmx-2.0.11.min.js"),
    ),
    (
        "htmx-LICENSE.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../static/vendor/htmx-LICENSE.txt"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../static/icon.svg"),
    ),
];

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(name, content_type, bytes)| {
            use sha2::Digest;
            let hash = hex::encode(sha2::Sha256::digest(bytes))[..12].to_string();
            Asset {
                name,
                content_type,
                bytes,
                hash,
            }
        })
        .collect()
});

pub fn get_asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The versioned URL of an embedded asset. Panics on a name that is not embedded (a
/// programming error every page test would hit at once).
pub fn url(name: &str) -> String {
    let a = get_asset(name).unwrap_or_else(|| panic!("no embedded asset {name}"));
    format!("/static/{}/{}", a.hash, a.name)
}

async fn serve(Path((hash, name)): Path<(String, String)>) -> Result<Response, AppError> {
    let a = get_asset(&name)
        .filter(|a| a.hash == hash)
        .ok_or_else(|| AppError::not_found("no such static file (or an old version of it)"))?;
    let mut resp = a.bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

pub fn router() -> Router<AppState> {
    Router::new().route("/static/{hash}/{name}", get(serve))
}
