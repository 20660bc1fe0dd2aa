//! Beacon's JSON: `GET /codex/api/tickets/active`, the original Codex endpoint Beacon
//! polls, served from the shared board cache.

use super::model::{AgentFilter, BoardSettings, BoardView};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::http::extract::QueryParams;
use crate::http::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(active_tickets))
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
) -> AppResult<Json<serde_json::Value>> {
    who.require_staff()?;
    let view = match q.view.as_deref().map(str::trim) {
        None | Some("") | Some("all") => BoardView::All,
        Some(v) => BoardView::from_slug(v).ok_or_else(|| {
            AppError::invalid("view", "must be helpdesk, professional-services or all")
        })?,
    };
    let agent = AgentFilter::parse(q.agent.as_deref());
    let settings = board_settings(&state);
    let body = state
        .beacon
        .codex_envelope(&state.db, &settings, view, &agent)
        .await?;
    Ok(Json((*body).clone()))
}

/// The board settings: the original's thresholds, with the Professional Services group
/// from `[beacon] professional_services_group` in hivematrix.toml.
fn board_settings(state: &AppState) -> BoardSettings {
    BoardSettings {
        professional_services_group_id: state.settings.beacon.professional_services_group.clone(),
        ..BoardSettings::default()
    }
}
