//! Cross-cutting middleware: correlation ids, request logs, and turning every error
//! response into a finished RFC 7807 document.

use crate::error::{problem_response, AppError, Problem};
use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// The request's correlation id, available to handlers as an extension.
#[derive(Clone, Debug)]
pub struct CorrelationId(pub String);

pub const HEADER: &str = "x-correlation-id";

/// Honours a sane inbound `X-Correlation-ID` or makes one, logs the request inside a
/// span carrying it, and echoes it on the response.
pub async fn correlation(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| crate::auth::random_hex(16));
    req.extensions_mut().insert(CorrelationId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", correlation_id = %id, %method, %path);
    let start = Instant::now();
    let mut resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let user = resp
        .extensions()
        .get::<crate::auth::Principal>()
        .map(|p| p.email.clone());
    span.in_scope(|| {
        tracing::info!(
            status = resp.status().as_u16(),
            ms = start.elapsed().as_secs_f64() * 1000.0,
            user = user.as_deref().unwrap_or("-"),
            "request"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}

/// Every error leaves as problem+json with `instance` and the correlation id: our own
/// `AppError`s (which carry a `Problem` extension) and the plain-text or empty errors
/// of axum and tower (405, 413, 415, extractor rejections).
pub async fn finish_problems(req: Request, next: Next) -> Response {
    let instance = req.uri().path().to_string();
    let cid = req.extensions().get::<CorrelationId>().map(|c| c.0.clone());
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let mut problem = match parts.extensions.get::<Problem>() {
        Some(p) => p.clone(),
        None => {
            // Framework errors come as empty or plain-text bodies; pages (HTML) and
            // finished problems pass through untouched.
            let plain = parts
                .headers
                .get(header::CONTENT_TYPE)
                .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
            if !plain {
                return Response::from_parts(parts, body);
            }
            let bytes = to_bytes(body, 64 * 1024).await.unwrap_or_default();
            Problem::new(status, default_detail(status, &bytes))
        }
    };
    problem.instance = Some(instance);
    problem.correlation_id = cid;
    let mut out = problem_response(problem, None);
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    *out.extensions_mut() = parts.extensions;
    out
}

fn default_detail(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body).trim().to_string();
    match status {
        // Server-side text may carry internals; never pass it on.
        s if s.is_server_error() => "an unexpected error occurred".into(),
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed on this resource".into(),
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".into(),
        _ if !text.is_empty() => text.chars().take(500).collect(),
        s => s.canonical_reason().unwrap_or("error").to_string(),
    }
}

pub async fn not_found() -> AppError {
    AppError::not_found("no such resource")
}

pub fn panic_response(_err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}
