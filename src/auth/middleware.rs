//! The request guard: who is calling, and may a cookie-authenticated write proceed.

use super::{sessions, tokens, AuthMethod, Principal};
use crate::error::AppError;
use crate::http::AppState;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

/// Paths anyone may reach: probes, the login page and static assets; and Beacon's wall
/// displays and board JSON, whose handlers demand a display token (`?token=`) instead.
pub fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/health" | "/livez" | "/login" | "/favicon.ico" | "/login/oidc" | "/login/oidc/callback"
    ) || path.starts_with("/static/")
        || path == "/beacon/display"
        || path.starts_with("/beacon/display/")
        || path.starts_with("/beacon/api/tickets/")
}

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    // Webhooks come from the PSA, which has no login: they carry their own shared
    // secret, checked by the route (its `Authorization: Bearer` is that secret, not an
    // API token, so it must not be resolved here). The rate limiter still applies.
    if crate::sync::webhook::is_webhook_path(&path) {
        return next.run(req).await;
    }
    // Copy what we need out of the request: a `&Request` may not be held across awaits.
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let session_cookie = cookie(&req, sessions::COOKIE);
    let principal = match resolve(&state, authorization, session_cookie).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match principal {
        Some(mut p) => {
            p.correlation_id = req
                .extensions()
                .get::<crate::http::middleware::CorrelationId>()
                .map(|c| c.0.clone());
            if let Err(e) = check_csrf(&p, &mut req).await {
                return e.into_response();
            }
            req.extensions_mut().insert(p.clone());
            let mut resp = next.run(req).await;
            // Lets the request log name the user.
            resp.extensions_mut().insert(p);
            return resp;
        }
        None if is_public(&path) => {}
        None => {
            // People get the login page; programs get a 401 they can act on.
            if req.method() == Method::GET && wants_html(&req) {
                let next = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                return Redirect::to(&format!("/login?next={}", urlencode(next))).into_response();
            }
            return AppError::Unauthorized(
                "authentication required: log in or send `Authorization: Bearer <token>`".into(),
            )
            .into_response();
        }
    }
    next.run(req).await
}

async fn resolve(
    state: &AppState,
    authorization: Option<String>,
    session_cookie: Option<String>,
) -> Result<Option<Principal>, AppError> {
    if let Some(value) = authorization {
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                AppError::Unauthorized("Authorization must be `Bearer <token>`".into())
            })?;
        return match tokens::resolve(&state.db, token).await? {
            Some(p) => Ok(Some(p)),
            None => Err(AppError::Unauthorized(
                "the API token is invalid, expired or revoked".into(),
            )),
        };
    }
    match session_cookie {
        Some(c) => sessions::resolve(&state.db, &c).await,
        None => Ok(None),
    }
}

/// Cookie-authenticated writes must echo the session's CSRF token, in the
/// `X-CSRF-Token` header (htmx, fetch) or a `csrf_token` form field (plain forms).
async fn check_csrf(p: &Principal, req: &mut Request) -> Result<(), AppError> {
    let AuthMethod::Session { csrf_token, .. } = &p.method else {
        return Ok(());
    };
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(h) = req.headers().get("x-csrf-token").cloned() {
        return if constant_eq(h.as_bytes(), csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(csrf_error())
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(csrf_error());
    }
    // Forms are small; read the body, look for the field, put the body back.
    let body = std::mem::replace(req.body_mut(), Body::empty());
    let bytes = to_bytes(body, 1024 * 1024)
        .await
        .map_err(|_| AppError::BadRequest("form body too large or unreadable".into()))?;
    let ok = form_urlencoded_get(&bytes, "csrf_token")
        .is_some_and(|v| constant_eq(v.as_bytes(), csrf_token.as_bytes()));
    *req.body_mut() = Body::from(bytes);
    if ok {
        Ok(())
    } else {
        Err(csrf_error())
    }
}

fn csrf_error() -> AppError {
    AppError::Forbidden(
        "missing or wrong CSRF token: send the session's token in X-CSRF-Token or a csrf_token field"
            .into(),
    )
}

/// Equality that takes the same time wherever the inputs differ (lengths still show).
pub(crate) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn wants_html(req: &Request) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn form_urlencoded_get(body: &[u8], key: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    s.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| urldecode(v))
    })
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn urldecode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(v)) => {
                out.push(v);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_coding_round_trips() {
        assert_eq!(urldecode("a%20b+c%2F%zz%4"), "a b c/%zz%4");
        assert_eq!(urlencode("/codex?x=1&y"), "/codex%3Fx%3D1%26y");
        assert_eq!(
            form_urlencoded_get(b"a=1&csrf_token=ab%2Bc", "csrf_token").as_deref(),
            Some("ab+c")
        );
    }
}
