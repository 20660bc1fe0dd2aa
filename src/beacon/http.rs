//! Beacon's JSON: the original Codex endpoint Beacon polls (`GET /codex/api/tickets/active`),
//! the original Beacon board JSON (`GET /beacon/api/tickets/{view}`, also for display
//! tokens), the settings and the display tokens. Boards come from the shared cache.

use super::feed::Snapshot;
use super::model::{AgentFilter, BoardView};
use super::{display, settings};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::http::extract::QueryParams;
use crate::http::AppState;
use crate::web::PublicCtx;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(active_tickets))
        .routes(routes!(view_tickets))
        .routes(routes!(settings::get_settings, settings::put_settings))
        .routes(routes!(display::create_token, display::list_tokens))
        .routes(routes!(display::revoke_token))
}

/// The board of a view and agent filter as it is now, with the current settings.
pub async fn board(
    state: &AppState,
    view: BoardView,
    agent: &AgentFilter,
) -> AppResult<Arc<Snapshot>> {
    let s = settings::load(&state.db, settings::config_group(state)).await?;
    state.beacon.snapshot(&state.db, &s, view, agent).await
}

/// Staff (session or API token) may read boards; so may a display token, which is good
/// for nothing else. A client user gets 403, nobody at all 401.
pub async fn may_read_board(
    state: &AppState,
    who: Option<&Principal>,
    token: Option<&str>,
) -> AppResult<()> {
    match who {
        Some(p) if p.require_staff().is_ok() => Ok(()),
        Some(p) if token.is_none() => p.require_staff(),
        _ => display::check(&state.db, token).await,
    }
}

fn json(body: Bytes) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ActiveQuery {
    /// `helpdesk`, `professional-services` or `all` (default).
    pub view: Option<String>,
    /// An agent's PSA id, or `unassigned`; absent = every agent.
    pub agent: Option<String>,
}

/// Every active ticket in the board's four sections (customer replied, pending third
/// party, update overdue by priority, first-response/due SLA), sorted by priority then
/// staleness, with the time of the last completed ticket sync. Staff only.
#[utoipa::path(get, path = "/codex/api/tickets/active", tag = "beacon", params(ActiveQuery),
    responses((status = 200, description = "`{section1..4, total_active, last_updated, last_sync_time}`"),
              (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn active_tickets(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(q): QueryParams<ActiveQuery>,
) -> AppResult<Response> {
    who.require_staff()?;
    let view = match q.view.as_deref().map(str::trim) {
        None | Some("") | Some("all") => BoardView::All,
        Some(v) => BoardView::from_slug(v).ok_or_else(|| {
            AppError::invalid("view", "must be helpdesk, professional-services or all")
        })?,
    };
    let agent = AgentFilter::parse(q.agent.as_deref());
    Ok(json(board(&state, view, &agent).await?.codex_json()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ViewQuery {
    /// An agent's PSA id, or `unassigned`; absent = every agent.
    pub agent: Option<String>,
    /// A display token (wall screens without a login).
    pub token: Option<String>,
}

/// The board of one view in the original Beacon shape (`s1_items..s4_items`,
/// `total_active_items`, `dashboard_generated_time_iso`, `view`, section names) plus
/// the header's `alert_level`. Staff, or a display token in `?token=`.
#[utoipa::path(get, path = "/beacon/api/tickets/{view}", tag = "beacon",
    params(("view" = String, Path, description = "`helpdesk` or `professional-services`"), ViewQuery),
    responses((status = 200, description = "the board"), (status = 401, body = crate::error::Problem),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn view_tickets(
    State(state): State<AppState>,
    ctx: PublicCtx,
    Path(view): Path<String>,
    QueryParams(q): QueryParams<ViewQuery>,
) -> AppResult<Response> {
    may_read_board(&state, ctx.principal.as_ref(), q.token.as_deref()).await?;
    let view = page_view(&view)?;
    let agent = AgentFilter::parse(q.agent.as_deref());
    Ok(json(board(&state, view, &agent).await?.beacon_json()))
}

/// A board view named in a URL: helpdesk or professional-services (else 404).
pub fn page_view(slug: &str) -> AppResult<BoardView> {
    BoardView::from_slug(slug)
        .filter(|v| *v != BoardView::All)
        .ok_or_else(|| {
            AppError::not_found(format!(
                "no board `{slug}`: use helpdesk or professional-services"
            ))
        })
}
