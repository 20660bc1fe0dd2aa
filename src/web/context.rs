//! What every page handler needs about its request, in one extractor: the principal,
//! the session's CSRF token, the user's preferences, the flash to show, the path (for
//! the current sidebar link) and the correlation id.

use super::flash::{self, Flash};
use crate::auth::{AuthMethod, Principal};
use crate::codex::preferences::{self, Preferences};
use crate::error::AppError;
use crate::http::middleware::CorrelationId;
use crate::http::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

/// The context of a signed-in page request. Extract it as `ctx: PageCtx`.
#[derive(Clone, Debug)]
pub struct PageCtx {
    pub principal: Principal,
    /// The session's CSRF token (empty for bearer-token requests, which need none).
    pub csrf_token: String,
    pub prefs: Preferences,
    pub flash: Option<Flash>,
    /// The request path (no query), e.g. `/codex/companies`.
    pub path: String,
    /// The path with its query, e.g. `/codex/companies?sort=name&offset=50`.
    pub path_and_query: String,
    pub correlation_id: Option<String>,
}

/// The context of a page anyone may open (login, public displays): no principal.
#[derive(Clone, Debug)]
pub struct PublicCtx {
    pub principal: Option<Principal>,
    pub flash: Option<Flash>,
    pub path: String,
    pub correlation_id: Option<String>,
}

fn flash_of(parts: &Parts) -> Option<Flash> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == flash::COOKIE)
        .and_then(|(_, v)| Flash::decode(v))
}

fn correlation_of(parts: &Parts) -> Option<String> {
    parts.extensions.get::<CorrelationId>().map(|c| c.0.clone())
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let csrf_token = match &principal.method {
            AuthMethod::Session { csrf_token, .. } => csrf_token.clone(),
            AuthMethod::ApiToken { .. } => String::new(),
        };
        let prefs = preferences::for_user(&state.db, principal.user_id).await?;
        Ok(PageCtx {
            principal,
            csrf_token,
            prefs,
            flash: flash_of(parts),
            path: parts.uri.path().to_string(),
            path_and_query: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| parts.uri.path().to_string()),
            correlation_id: correlation_of(parts),
        })
    }
}

impl FromRequestParts<AppState> for PublicCtx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, AppError> {
        Ok(PublicCtx {
            principal: parts.extensions.get::<Principal>().cloned(),
            flash: flash_of(parts),
            path: parts.uri.path().to_string(),
            correlation_id: correlation_of(parts),
        })
    }
}
