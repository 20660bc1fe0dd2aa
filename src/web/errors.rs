//! Error pages for browsers. A request that asks for HTML (`Accept: text/html`, as a
//! browser's navigation does) and gets a finished problem+json answer gets the same
//! status as an HTML page in the layout instead, quoting the problem's detail and its
//! correlation id. Programs (and htmx, which asks for `*/*` and sends `HX-Request`)
//! keep the problem+json document.

use super::layout::Page;
use crate::auth::Principal;
use crate::codex::preferences;
use crate::error::PROBLEM_JSON;
use crate::http::AppState;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::html;

fn wants_page(headers: &HeaderMap) -> bool {
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    html && !headers.contains_key("hx-request")
}

pub async fn html_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let page = wants_page(req.headers());
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !page || !is_problem {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, 256 * 1024).await.unwrap_or_default();
    let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let text = |k: &str| problem[k].as_str().unwrap_or_default().to_string();
    let principal = parts.extensions.get::<Principal>().cloned();
    let prefs = match &principal {
        Some(p) => preferences::for_user(&state.db, p.user_id).await.ok(),
        None => None,
    };
    let title = text("title");
    let cid = text("correlation_id");
    let status = parts.status;
    let page = Page::bare(principal, prefs, &path, title.clone())
        .status(status)
        .body(html! {
            div class="card error-page" {
                p class="code" { (status.as_u16()) }
                h1 { (title) }
                p { (text("detail")) }
                @if let Some(errs) = problem["errors"].as_object() {
                    ul {
                        @for (k, v) in errs {
                            li { code { (k) } ": " (v.as_str().unwrap_or_default()) }
                        }
                    }
                }
                @if !cid.is_empty() {
                    p class="muted" { "Correlation id: " code id="correlation-id" { (cid) } }
                }
                p { a href="/" { "Back to the home page" } }
            }
        });
    let mut out = page.into_response();
    // Keep what the inner layers set (Retry-After, Set-Cookie, the correlation id).
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE
            && k != header::CONTENT_LENGTH
            && !out.headers().contains_key(k)
        {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    if status == StatusCode::UNAUTHORIZED {
        out.headers_mut().remove(header::WWW_AUTHENTICATE);
    }
    *out.extensions_mut() = parts.extensions;
    out
}
