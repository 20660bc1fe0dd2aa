//! One error type for every handler, rendered as RFC 7807 `application/problem+json`.
//!
//! Handlers return `AppError`; `http::problem` middleware finishes the document
//! (adds `instance` and the correlation id) and also turns any other error response
//! (axum's 405, body-limit 413, extractor rejections) into the same shape.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;

/// Field → message, for 422 responses.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized(String),
    #[error("forbidden")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn not_found(what: impl Into<String>) -> Self {
        AppError::NotFound(what.into())
    }

    /// One-field validation error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut m = FieldErrors::new();
        m.insert(field.to_string(), message.into());
        AppError::Validation(m)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            // Unique violations: SQLite 2067/1555, PostgreSQL 23505.
            let code = db.code().unwrap_or_default();
            if matches!(code.as_ref(), "2067" | "1555" | "23505") {
                return AppError::Conflict(
                    "a record with the same unique key already exists".into(),
                );
            }
            // Foreign-key violations: SQLite 787, PostgreSQL 23503.
            if matches!(code.as_ref(), "787" | "23503") {
                return AppError::Conflict(
                    "the record is referenced by other records or references a missing one".into(),
                );
            }
        }
        AppError::Internal(e.into())
    }
}

/// The problem document as sent (RFC 7807 plus `errors` and `correlation_id`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<FieldErrors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        let title = status.canonical_reason().unwrap_or("Error").to_string();
        let slug = title.to_lowercase().replace([' ', '\''], "-");
        Problem {
            kind: format!("/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            errors: None,
            correlation_id: None,
        }
    }
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            AppError::Internal(e) => {
                // The cause chain goes to the log, never to the client.
                tracing::error!(error = ?e, "internal error");
                "an unexpected error occurred; quote the correlation id when reporting it".into()
            }
            AppError::Unauthorized(m) | AppError::Forbidden(m) => m.clone(),
            AppError::Validation(_) => "the request has invalid fields; see `errors`".into(),
            AppError::TooManyRequests { retry_after_secs } => {
                format!("rate limit exceeded; retry in {retry_after_secs} s")
            }
            other => other.to_string(),
        };
        let retry_after = match &self {
            AppError::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let mut problem = Problem::new(status, detail);
        if let AppError::Validation(errs) = self {
            problem.errors = Some(errs);
        }
        let mut resp = (status, [(header::CONTENT_TYPE, PROBLEM_JSON)]).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp.extensions_mut().insert(problem);
        resp
    }
}

/// Builds a finished problem response directly (used by middleware).
pub fn problem_response(
    mut problem: Problem,
    extra: Option<(header::HeaderName, HeaderValue)>,
) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if problem.title.is_empty() {
        problem.title = status.canonical_reason().unwrap_or("Error").into();
    }
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut resp = (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response();
    if let Some((k, v)) = extra {
        resp.headers_mut().insert(k, v);
    }
    resp
}
