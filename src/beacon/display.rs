//! Display tokens: read-only credentials for wall screens. A token opens the board's
//! TV pages (`/beacon/display/{view}?token=…`), their htmx fragment and the board JSON,
//! and nothing else: it lives in Beacon's own table, never becomes a `Principal`, and
//! is only accepted by those handlers (as a bearer token anywhere else it is unknown,
//! so 401). `hmd_` + 40 hex characters, stored as SHA-256 like API tokens (160 bits of
//! entropy make a fast hash enough); the plaintext is shown once, at creation.

use crate::auth::{random_hex, sha256_hex, AdminOnly};
use crate::error::{AppError, AppResult};
use crate::http::extract::JsonBody;
use crate::http::AppState;
use crate::Db;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::Row;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DisplayToken {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub created_by: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedDisplayToken {
    /// The token itself: shown this once, never stored.
    pub token: String,
    #[serde(flatten)]
    pub display_token: DisplayToken,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDisplayToken {
    /// Where the screen hangs ("Helpdesk TV").
    pub name: String,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<DisplayToken, sqlx::Error> {
    Ok(DisplayToken {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        revoked_at: r.try_get("revoked_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

pub async fn create(db: &Db, name: &str, by: &str) -> AppResult<(DisplayToken, String)> {
    let name =
        crate::validate::required_text(name, 100).map_err(|m| AppError::invalid("name", m))?;
    let plain = format!("hmd_{}", random_hex(20));
    let id: i64 = sqlx::query(
        "INSERT INTO beacon_display_tokens (name, token_hash, prefix, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&name)
    .bind(sha256_hex(&plain))
    .bind(&plain[..10])
    .bind(crate::time::now_db())
    .bind(by)
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?;
    let token = list(db)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| anyhow::anyhow!("display token vanished after insert"))?;
    Ok((token, plain))
}

pub async fn list(db: &Db) -> AppResult<Vec<DisplayToken>> {
    let rows = sqlx::query(
        "SELECT id, name, prefix, created_at, created_by, revoked_at, last_used_at \
         FROM beacon_display_tokens ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

pub async fn revoke(db: &Db, id: i64) -> AppResult<()> {
    let done = sqlx::query(
        "UPDATE beacon_display_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
    )
    .bind(crate::time::now_db())
    .bind(id)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found(format!(
            "no active display token with id {id}"
        )));
    }
    Ok(())
}

/// Checks a display token: `Ok` for a live one, else 401. Use is recorded at most once
/// a minute (a write per poll would serialise readers on SQLite).
pub async fn check(db: &Db, plain: Option<&str>) -> AppResult<()> {
    let refused = || {
        AppError::Unauthorized(
            "this display needs a valid display token (`?token=…`); it is missing, wrong or revoked"
                .into(),
        )
    };
    let plain = plain.map(str::trim).filter(|p| !p.is_empty());
    let Some(plain) = plain else {
        return Err(refused());
    };
    let row = sqlx::query(
        "SELECT id, last_used_at FROM beacon_display_tokens \
         WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(sha256_hex(plain))
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else {
        return Err(refused());
    };
    let last: Option<String> = r.try_get("last_used_at")?;
    let stale = last
        .as_deref()
        .and_then(crate::time::from_db)
        .is_none_or(|t| chrono::Utc::now() - t > chrono::Duration::seconds(60));
    if stale {
        let id: i64 = r.try_get("id")?;
        sqlx::query("UPDATE beacon_display_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(crate::time::now_db())
            .bind(id)
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

/// Creates a display token; the answer holds the token, shown only this once. Admin.
#[utoipa::path(post, path = "/beacon/api/display-tokens", tag = "beacon", request_body = NewDisplayToken,
    responses((status = 201, body = CreatedDisplayToken), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn create_token(
    State(state): State<AppState>,
    AdminOnly(who): AdminOnly,
    JsonBody(input): JsonBody<NewDisplayToken>,
) -> AppResult<(StatusCode, Json<CreatedDisplayToken>)> {
    let (display_token, token) = create(&state.db, &input.name, &who.email).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedDisplayToken {
            token,
            display_token,
        }),
    ))
}

/// Every display token (revoked ones too), without the tokens themselves. Admin.
#[utoipa::path(get, path = "/beacon/api/display-tokens", tag = "beacon",
    responses((status = 200, body = [DisplayToken]), (status = 403, body = crate::error::Problem)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    AdminOnly(_who): AdminOnly,
) -> AppResult<Json<Vec<DisplayToken>>> {
    Ok(Json(list(&state.db).await?))
}

/// Revokes a display token: its screens get 401 from their next poll. Admin.
#[utoipa::path(delete, path = "/beacon/api/display-tokens/{id}", tag = "beacon", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    AdminOnly(_who): AdminOnly,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    revoke(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
