//! Codex, the master data: companies, contacts, assets, locations, tickets, PSA agents,
//! billing plans and features, user preferences. Other modules read it through the
//! public functions of these files, never through its tables.
//!
//! Each entity file holds its model (serialised as the API shows it), its SQL, its
//! rules and its JSON handlers, in that order.

pub mod assets;
pub mod bulk;
pub mod companies;
pub mod contacts;
pub mod locations;
pub mod pages;
pub mod patch;
pub mod plans;
pub mod preferences;
pub mod sites;
pub mod tickets;

use crate::http::AppState;
use axum::routing::put;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            companies::list_companies,
            companies::create_company
        ))
        .routes(routes!(bulk::bulk_companies))
        .routes(routes!(
            companies::get_company,
            companies::update_company,
            companies::delete_company
        ))
        .route(
            "/codex/api/companies/{account_number}",
            axum::routing::patch(companies::update_company),
        )
        .route(
            "/codex/companies/{account_number}/update",
            put(companies::update_company_legacy),
        )
        .merge(locations::routes())
        .merge(contacts::routes())
        .merge(assets::routes())
        .merge(tickets::routes())
        .merge(plans::routes())
        .merge(preferences::routes())
        .merge(sites::routes())
}

/// What an upsert from a source (PSA, RMM) did to a record, for the sync's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

/// The stable row id of an upserted record and what happened to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upserted {
    pub id: i64,
    pub change: Change,
}

/// SQL fragment restricting `column` (a company id) to a client's company; empty for
/// staff. The id is an integer from the session, never user text, so inlining is safe.
pub fn company_scope_sql(column: &str, scope: Option<i64>) -> String {
    match scope {
        Some(id) => format!("AND {column} = {id}"),
        None => String::new(),
    }
}

/// Runs `sql`, which selects `(company_id, count)` pairs, into a map (the per-row counts
/// of list pages: one grouped query per page of companies, never one per row).
pub(crate) async fn counts_by_company(
    db: &crate::db::Db,
    sql: &str,
) -> crate::error::AppResult<std::collections::HashMap<i64, i64>> {
    use sqlx::Row;
    let rows = sqlx::query(sql).fetch_all(&db.pool).await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)?)))
        .collect::<Result<_, sqlx::Error>>()?)
}

/// Integers as a SQL list (`1,2,3`); ids only (never user text), so inlining is safe.
pub(crate) fn ids_sql(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}
