//! Locations: a company's additional sites (branch offices, warehouses) with their
//! address and phone. No sync writes them — technicians enter them by hand — so a
//! DELETE really removes the row (nothing is keyed on location ids), with the record
//! kept in the audit log. `/codex/api/companies/bulk` reads them for many companies
//! at once through `list_for_companies`.

use super::companies::{self, uri_str};
use super::patch::{self, apply_required, apply_text};
use crate::audit::{self, Action, Change};
use crate::auth::Principal;
use crate::db::{like_pattern, Db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::pagination::{Order, Page};
use crate::http::AppState;
use crate::validate;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A location as every API shows it (the original's `{id, name, address,
/// phone_number}` plus the owning company and timestamps).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Location {
    pub id: i64,
    pub company_id: i64,
    pub company_account_number: String,
    pub name: String,
    pub address: Option<String>,
    pub phone_number: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const SELECT: &str = "SELECT l.*, c.account_number AS company_account_number \
    FROM locations l JOIN companies c ON c.id = l.company_id";

fn from_row(r: &AnyRow) -> Result<Location, sqlx::Error> {
    Ok(Location {
        id: r.try_get("id")?,
        company_id: r.try_get("company_id")?,
        company_account_number: r.try_get("company_account_number")?,
        name: r.try_get("name")?,
        address: r.try_get("address")?,
        phone_number: r.try_get("phone_number")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

// ---------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------

/// Company ids per query in `list_for_companies`: far below SQLite's and PostgreSQL's
/// bound-parameter limits, so any number of companies costs ⌈n / 500⌉ queries.
const IDS_PER_QUERY: usize = 500;

/// The locations of all the given companies, ordered by company, then name. One query
/// per 500 companies (one for any realistic estate), for the bulk endpoint.
pub async fn list_for_companies(db: &Db, company_ids: &[i64]) -> AppResult<Vec<Location>> {
    let mut out = Vec::new();
    for chunk in company_ids.chunks(IDS_PER_QUERY) {
        let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "{SELECT} WHERE l.company_id IN ({}) ORDER BY l.company_id, l.name, l.id",
            params.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&db.pool).await?;
        for r in &rows {
            out.push(from_row(r)?);
        }
    }
    Ok(out)
}

/// Query for a company's location list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocationQuery {
    /// Matches name, address and phone number (case-insensitive).
    pub search: Option<String>,
    /// name (default), created_at, updated_at, id
    pub sort: Option<String>,
    pub order: Option<Order>,
    /// 1..=1000, default 500.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

const SORTS: &[&str] = &["name", "created_at", "updated_at", "id"];

/// One page of a company's locations and the number matching the filter.
pub async fn for_company(
    db: &Db,
    company_id: i64,
    q: &LocationQuery,
    page: Page,
) -> AppResult<(Vec<Location>, i64)> {
    let sort = q.sort.as_deref().unwrap_or("name");
    if !SORTS.contains(&sort) {
        return Err(AppError::invalid(
            "sort",
            format!("must be one of: {}", SORTS.join(", ")),
        ));
    }
    let ilike = db.ilike();
    let filter = format!(
        "WHERE l.company_id = $1 AND ($2 IS NULL OR l.name {ilike} $2 ESCAPE '\\' \
         OR l.address {ilike} $2 ESCAPE '\\' OR l.phone_number {ilike} $2 ESCAPE '\\')"
    );
    let search = q
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(like_pattern);
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM locations l {filter}"))
        .bind(company_id)
        .bind(&search)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let order = q.order.unwrap_or_default().sql();
    let sql =
        format!("{SELECT} {filter} ORDER BY l.{sort} {order}, l.id {order} LIMIT $3 OFFSET $4");
    let rows = sqlx::query(&sql)
        .bind(company_id)
        .bind(&search)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&db.pool)
        .await?;
    Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
}

async fn load(conn: &mut AnyConnection, company_id: i64, id: i64) -> AppResult<Option<Location>> {
    let row = sqlx::query(&format!("{SELECT} WHERE l.id = $1 AND l.company_id = $2"))
        .bind(id)
        .bind(company_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| from_row(&r)).transpose()?)
}

/// A location of the given company, or 404 (also when it belongs to another company).
pub async fn get(db: &Db, company_id: i64, id: i64) -> AppResult<Location> {
    let mut conn = db.pool.acquire().await?;
    load(&mut conn, company_id, id)
        .await?
        .ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> AppError {
    AppError::not_found(format!("location {id} not found for this company"))
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

/// Fields a client may send to create or update a location. Absent fields stay as
/// they are; `null` or `""` clears an optional field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    /// 1-150 characters; required when creating.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// At most 255 characters.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    /// Digits, spaces, + ( ) - . x; at most 50 characters.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<Option<String>>,
}

/// Applies `input` to `l`, collecting every field error before failing.
fn apply(l: &mut Location, input: &LocationInput, creating: bool) -> AppResult<()> {
    let mut e = FieldErrors::new();
    if creating && input.name.is_none() {
        e.insert("name".into(), "is required".into());
    }
    apply_required(
        &mut e,
        "name",
        &mut l.name,
        &input.name,
        patch::required(150),
    );
    apply_text(
        &mut e,
        "address",
        &mut l.address,
        &input.address,
        patch::text(255),
    );
    apply_text(
        &mut e,
        "phone_number",
        &mut l.phone_number,
        &input.phone_number,
        validate::phone,
    );
    if e.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(e))
    }
}

fn to_json(l: &Location) -> AppResult<Value> {
    Ok(serde_json::to_value(l).map_err(anyhow::Error::from)?)
}

async fn record(
    conn: &mut AnyConnection,
    who: &Principal,
    action: Action,
    id: i64,
    before: Option<&Location>,
    after: Option<&Location>,
) -> AppResult<()> {
    let change = Change {
        module: "codex",
        action,
        entity: "location",
        entity_id: id.to_string(),
        before: before.map(to_json).transpose()?,
        after: after.map(to_json).transpose()?,
    };
    audit::record(conn, Some(who), change).await
}

/// Adds a location to a company (the caller has checked the role and the company).
pub async fn create(
    db: &Db,
    who: &Principal,
    company_id: i64,
    input: &LocationInput,
) -> AppResult<Location> {
    let now = crate::time::now_db();
    let mut l = Location {
        id: 0,
        company_id,
        company_account_number: String::new(),
        name: String::new(),
        address: None,
        phone_number: None,
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    apply(&mut l, input, true)?;
    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO locations (company_id, name, address, phone_number, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(company_id)
    .bind(&l.name)
    .bind(&l.address)
    .bind(&l.phone_number)
    .bind(&now)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    let after = load(&mut tx, company_id, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("location {id} vanished")))?;
    record(&mut tx, who, Action::Create, id, None, Some(&after)).await?;
    tx.commit().await?;
    Ok(after)
}

/// Changes the given fields of a company's location; 404 if it is not that company's.
pub async fn update(
    db: &Db,
    who: &Principal,
    company_id: i64,
    id: i64,
    input: &LocationInput,
) -> AppResult<Location> {
    let mut tx = db.pool.begin().await?;
    let before = load(&mut tx, company_id, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let mut l = before.clone();
    apply(&mut l, input, false)?;
    sqlx::query(
        "UPDATE locations SET name = $1, address = $2, phone_number = $3, updated_at = $4 \
         WHERE id = $5",
    )
    .bind(&l.name)
    .bind(&l.address)
    .bind(&l.phone_number)
    .bind(crate::time::now_db())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let after = load(&mut tx, company_id, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    record(
        &mut tx,
        who,
        Action::Update,
        id,
        Some(&before),
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Removes a company's location for good (the audit log keeps the last version).
pub async fn remove(db: &Db, who: &Principal, company_id: i64, id: i64) -> AppResult<()> {
    let mut tx = db.pool.begin().await?;
    let before = load(&mut tx, company_id, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    sqlx::query("DELETE FROM locations WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    record(&mut tx, who, Action::Delete, id, Some(&before), None).await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// The role check comes first so a client learns nothing about other companies from
/// a write attempt; then the company must be visible to the caller.
async fn writable_company(db: &Db, who: &Principal, account_number: &str) -> AppResult<i64> {
    who.require_master_write()?;
    Ok(companies::visible(db, who, account_number).await?.id)
}

/// A company's locations (clients: their own company only).
#[utoipa::path(get, path = "/codex/api/companies/{account_number}/locations", tag = "codex",
    params(("account_number" = String, Path), LocationQuery),
    responses((status = 200, body = [Location], headers(("X-Total-Count" = i64, description = "matching locations"))),
              (status = 404, body = crate::error::Problem)))]
pub async fn list_locations(
    State(state): State<AppState>,
    who: Principal,
    Path(account_number): Path<String>,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<LocationQuery>,
) -> AppResult<(HeaderMap, Json<Vec<Location>>)> {
    let company = companies::visible(&state.db, &who, &account_number).await?;
    let page = Page::new(q.limit, q.offset, 500, 1000)?;
    let (list, total) = for_company(&state.db, company.id, &q, page).await?;
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

/// Adds a location to a company (technician or admin).
#[utoipa::path(post, path = "/codex/api/companies/{account_number}/locations", tag = "codex",
    params(("account_number" = String, Path)), request_body = LocationInput,
    responses((status = 201, body = Location), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_location(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    Path(account_number): Path<String>,
    JsonBody(input): JsonBody<LocationInput>,
) -> AppResult<(StatusCode, Json<Location>)> {
    let company_id = writable_company(&state.db, &who, &account_number).await?;
    let l = create(&state.db, &who, company_id, &input).await?;
    Ok((StatusCode::CREATED, Json(l)))
}

/// One location of a company.
#[utoipa::path(get, path = "/codex/api/companies/{account_number}/locations/{id}", tag = "codex",
    params(("account_number" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Location), (status = 404, body = crate::error::Problem)))]
pub async fn get_location(
    State(state): State<AppState>,
    who: Principal,
    Path((account_number, id)): Path<(String, i64)>,
) -> AppResult<Json<Location>> {
    let company = companies::visible(&state.db, &who, &account_number).await?;
    Ok(Json(get(&state.db, company.id, id).await?))
}

/// Updates the given fields of a location (PUT and PATCH both patch).
#[utoipa::path(put, path = "/codex/api/companies/{account_number}/locations/{id}", tag = "codex",
    params(("account_number" = String, Path), ("id" = i64, Path)), request_body = LocationInput,
    responses((status = 200, body = Location), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_location(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    Path((account_number, id)): Path<(String, i64)>,
    JsonBody(input): JsonBody<LocationInput>,
) -> AppResult<Json<Location>> {
    let company_id = writable_company(&state.db, &who, &account_number).await?;
    Ok(Json(update(&state.db, &who, company_id, id, &input).await?))
}

/// Updates the given fields of a location (same as PUT).
#[utoipa::path(patch, path = "/codex/api/companies/{account_number}/locations/{id}", tag = "codex",
    params(("account_number" = String, Path), ("id" = i64, Path)), request_body = LocationInput,
    responses((status = 200, body = Location), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn patch_location(
    state: State<AppState>,
    who: crate::auth::MasterWriter,
    path: Path<(String, i64)>,
    body: JsonBody<LocationInput>,
) -> AppResult<Json<Location>> {
    update_location(state, who, path, body).await
}

/// Deletes a location (a real delete: locations are entered by hand, nothing refers
/// to them; the audit log keeps the removed record).
#[utoipa::path(delete, path = "/codex/api/companies/{account_number}/locations/{id}", tag = "codex",
    params(("account_number" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn delete_location(
    State(state): State<AppState>,
    who: Principal,
    Path((account_number, id)): Path<(String, i64)>,
) -> AppResult<StatusCode> {
    let company_id = writable_company(&state.db, &who, &account_number).await?;
    remove(&state.db, &who, company_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The original's `GET /companies/<acct>/locations`: `{success, locations}`.
pub async fn list_locations_legacy(
    state: State<AppState>,
    who: Principal,
    path: Path<String>,
    uri: OriginalUri,
    q: QueryParams<LocationQuery>,
) -> AppResult<(HeaderMap, Json<Value>)> {
    let (headers, Json(list)) = list_locations(state, who, path, uri, q).await?;
    Ok((headers, Json(json!({"success": true, "locations": list}))))
}

/// The original's `POST /companies/<acct>/locations`: 200 `{success, location}`.
pub async fn create_location_legacy(
    state: State<AppState>,
    who: crate::auth::MasterWriter,
    path: Path<String>,
    body: JsonBody<LocationInput>,
) -> AppResult<Json<Value>> {
    let (_, Json(l)) = create_location(state, who, path, body).await?;
    Ok(Json(json!({"success": true, "location": l})))
}

/// The original's `DELETE /companies/<acct>/locations/<id>`: `{success: true}`.
pub async fn delete_location_legacy(
    state: State<AppState>,
    who: Principal,
    path: Path<(String, i64)>,
) -> AppResult<Json<Value>> {
    delete_location(state, who, path).await?;
    Ok(Json(json!({"success": true})))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_locations, create_location))
        .routes(routes!(
            get_location,
            update_location,
            patch_location,
            delete_location
        ))
        .route(
            "/codex/companies/{account_number}/locations",
            routing::get(list_locations_legacy).post(create_location_legacy),
        )
        .route(
            "/codex/companies/{account_number}/locations/{id}",
            routing::delete(delete_location_legacy),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> Location {
        Location {
            id: 1,
            company_id: 1,
            company_account_number: "100001".into(),
            name: "HQ".into(),
            address: Some("1 Main St".into()),
            phone_number: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn input(v: Value) -> LocationInput {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn create_requires_a_name_and_reports_every_bad_field() {
        let mut l = blank();
        let err = apply(
            &mut l,
            &input(json!({"address": "x".repeat(256), "phone_number": "call me"})),
            true,
        )
        .unwrap_err();
        let AppError::Validation(e) = err else {
            panic!("expected validation error")
        };
        assert_eq!(
            e.keys().collect::<Vec<_>>(),
            ["address", "name", "phone_number"]
        );
    }

    #[test]
    fn patch_keeps_absent_fields_and_clears_empty_ones() {
        let mut l = blank();
        apply(
            &mut l,
            &input(json!({"address": "", "phone_number": " +1 555 0100 "})),
            false,
        )
        .unwrap();
        assert_eq!(l.name, "HQ");
        assert_eq!(l.address, None);
        assert_eq!(l.phone_number.as_deref(), Some("+1 555 0100"));
        assert!(apply(&mut l, &input(json!({"name": null})), false).is_err());
    }
}
