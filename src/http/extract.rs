//! Request extractors whose failures are problem+json with useful details.

use crate::error::AppError;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// JSON body: 415 without a JSON content type, 413 when too large, 400 when it is not
/// JSON, 422 (with the field) when it does not match the expected shape.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(rej) => Err(json_rejection(rej).into_response()),
        }
    }
}

fn json_rejection(rej: JsonRejection) -> RejectionError {
    let status = rej.status();
    let text = rej.body_text();
    match rej {
        JsonRejection::JsonDataError(_) => RejectionError::Validation(text),
        _ => RejectionError::Status(status, text),
    }
}

enum RejectionError {
    Validation(String),
    Status(StatusCode, String),
}

impl axum::response::IntoResponse for RejectionError {
    fn into_response(self) -> axum::response::Response {
        match self {
            RejectionError::Validation(text) => {
                // serde's message names the field and the expected type.
                let detail = text
                    .split_once(": ")
                    .map(|(_, d)| d.to_string())
                    .unwrap_or(text);
                AppError::invalid("body", detail).into_response()
            }
            RejectionError::Status(status, text) => {
                let mut p = crate::error::Problem::new(status, text);
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    p.detail = "the request body is too large".into();
                }
                let mut resp = (
                    status,
                    [(axum::http::header::CONTENT_TYPE, crate::error::PROBLEM_JSON)],
                )
                    .into_response();
                resp.extensions_mut().insert(p);
                resp
            }
        }
    }
}

/// Query string: 400 with the offending parameter when it does not parse.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(QueryParams(v)),
            Err(e) => Err(query_rejection(e)),
        }
    }
}

fn query_rejection(e: QueryRejection) -> AppError {
    let text = e.body_text();
    let detail = text
        .split_once(": ")
        .map(|(_, d)| d.to_string())
        .unwrap_or(text);
    AppError::BadRequest(format!("invalid query string: {detail}"))
}

/// Like [`JsonBody`], but a request without a body (no content type, no length, as
/// `curl -X POST` sends) gives `T::default()`: for actions whose options are optional.
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers();
        let no_type = !headers.contains_key(axum::http::header::CONTENT_TYPE);
        let empty = headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.trim() == "0");
        if no_type && empty {
            return Ok(OptionalJsonBody(T::default()));
        }
        JsonBody::<T>::from_request(req, state)
            .await
            .map(|JsonBody(v)| OptionalJsonBody(v))
    }
}
