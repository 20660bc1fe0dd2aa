//! The HTTP application: shared state, the router of every module, and the middleware
//! stack that gives each route correlation ids, auth, rate limits, metrics and
//! problem+json errors without the route doing anything.

pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod pagination;
pub mod rate_limit;

use crate::{Db, Settings};
use axum::extract::DefaultBodyLimit;
use axum::Router;
use std::sync::Arc;
use std::time::Instant;

/// Everything a handler may need; cloned per request (all fields are cheap handles).
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub rate_limiter: Arc<rate_limit::RateLimiter>,
    pub metrics: Arc<metrics::Metrics>,
    pub started_at: Instant,
    /// Sync jobs: the engine with this node's vendor clients, and the worker's bell.
    pub sync: Arc<crate::sync::SyncService>,
    /// Beacon's computed boards, shared by every open screen on this node.
    pub beacon: Arc<crate::beacon::feed::BoardCache>,
    /// Single sign-on, when `[oidc]` is configured.
    pub oidc: Option<Arc<crate::auth::oidc::OidcClient>>,
}

impl AppState {
    pub fn new(db: Db, settings: Settings) -> AppState {
        AppState {
            rate_limiter: Arc::new(rate_limit::RateLimiter::new(
                settings.rate_limit.per_minute,
                settings.rate_limit.burst,
            )),
            sync: Arc::new(crate::sync::SyncService::new(
                db.clone(),
                crate::sync::connectors_from_settings(&settings).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "sync providers are not usable");
                    crate::sync::engine::Connectors::default()
                }),
            )),
            beacon: Arc::default(),
            oidc: settings.oidc.clone().and_then(|o| {
                crate::auth::oidc::OidcClient::new(o)
                    .map_err(|e| tracing::error!(error = %e, "single sign-on is not usable"))
                    .ok()
                    .map(Arc::new)
            }),
            db,
            settings: Arc::new(settings),
            metrics: Arc::new(metrics::Metrics::default()),
            started_at: Instant::now(),
        }
    }
}

/// Builds the whole application router.
pub fn build_app(state: AppState) -> Router {
    let (api_router, openapi) = crate::openapi::routes().split_for_parts();
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api_router)
        .merge(crate::auth::routes::router())
        .merge(crate::health::router())
        .merge(crate::openapi::docs_router(openapi))
        .merge(crate::web::router())
        .fallback(middleware::not_found)
        // Layers run outermost-last: the correlation id exists before anything logs,
        // and auth runs before the rate limiter so limits are per user.
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::enforce,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::middleware::authenticate,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
        .layer(axum::middleware::from_fn(middleware::finish_problems))
        // Browsers asking for a page get finished problems as HTML error pages.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::errors::html_errors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .layer(axum::middleware::from_fn(middleware::correlation))
        .with_state(state)
}
